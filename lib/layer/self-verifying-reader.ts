import type { ByteSource } from '../source/byte-source.js';
import type { SelfVerifyingBlob } from '../image/loaded-image.js';
import type { LayerTable, TableEntry } from '../table/layer-table.js';
import type { Compression, TocFormat } from './layer-info.js';
import type { LayerReader, LayerReaderContext, TableBuildOptions } from './layer-reader.js';
import { openLayerReader } from './open-layer-reader.js';
import { openLazyTocReader } from '../toc/lazy-toc-reader.js';

/** Sidecar suffix of a self-verifying blob's span digests. */
const SPANS = 'spans';
/** Sidecar suffix of a verified blob's first bytes (HttpBlobSource.knowHead): kept by Layer for any blob. */
export const HEAD = 'head';

/**
 * The reader of a layer whose stored bytes check themselves (a registry blob, HttpBlobSource): the
 * usual reader, with three differences. It is opened on the first question, not when the image is
 * opened: recognising the compression reads bytes, and a question answered by the top layer must fetch
 * nothing from the others (until then the media type says what to expect). The span digests kept in
 * the cache are handed to the blob before its first byte is fetched. And a table is only handed back
 * once the blob has been read to its end and matched its digest, so that what is cached under that
 * digest is verified; the span digests are then kept beside it.
 */
export class SelfVerifyingReader implements LayerReader {
  private inner: LayerReader | undefined;
  private opening: Promise<LayerReader> | undefined;

  constructor(
    private readonly stored: ByteSource,
    private readonly blob: SelfVerifyingBlob,
    private readonly context: LayerReaderContext,
    private readonly expected: Compression,
  ) {}

  get compression(): Compression | TocFormat {
    return this.inner?.compression ?? this.expected;
  }

  get tableKind(): string | undefined {
    return this.inner?.tableKind;
  }

  get uncompressedSize(): number | undefined {
    return this.inner?.uncompressedSize;
  }

  get tar(): ByteSource {
    return this.opened().tar;
  }

  async prepare(): Promise<void> {
    this.opening ??= (async () => {
      const { sidecar } = this.context;
      if (sidecar !== undefined) {
        this.blob.deferSpanImport(() => sidecar.load(SPANS));
        // Sniffing the compression then needs no request.
        const head = await sidecar.load(HEAD);
        if (head !== undefined) this.blob.knowHead(head);
      }
      // A TOC layer whose TOC the manifest vouches for is pulled lazily, chunk by chunk.
      this.inner = (await openLazyTocReader(this.blob.uncheckedRanges(), this.stored, this.blob, this.context)) ?? (await openLayerReader(this.stored, this.context));
      return this.inner;
    })();
    await this.opening;
  }

  async buildTable(options: TableBuildOptions): Promise<LayerTable> {
    await this.prepare();
    const table = await this.opened().buildTable(options);
    // A reader that checks itself (a TOC whose digest the manifest states) needs only what it reads.
    if (this.opened().checksItself !== true) await this.blob.finishVerification();
    return table;
  }

  readData(entry: TableEntry, offset: number, length: number): Promise<Buffer> {
    return this.opened().readData(entry, offset, length);
  }

  async persist(): Promise<void> {
    await this.opened().persist?.();
    const spans = this.blob.exportSpans();
    if (spans !== undefined) await this.context.sidecar?.store(SPANS, spans);
  }

  async verify(): Promise<void> {
    await this.prepare();
    await this.opened().verify?.();
  }

  async close(): Promise<void> {
    await this.inner?.close();
  }

  private opened(): LayerReader {
    if (this.inner === undefined) throw new Error('a registry layer was read before it was prepared');
    return this.inner;
  }
}

/** The compression a layer's media type announces (until its bytes are sniffed). */
export function announcedCompression(mediaType: string | undefined): Compression {
  return /zstd/.test(mediaType ?? '') ? 'zstd' : /gzip/.test(mediaType ?? '') ? 'gzip' : 'none';
}
