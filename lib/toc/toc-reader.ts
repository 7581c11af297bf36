import type { ByteSource } from '../source/byte-source.js';
import { openDecompressed } from '../source/codec.js';
import type { LayerReader, LayerReaderContext, TableBuildOptions } from '../layer/layer-reader.js';
import { openTarPass } from '../layer/tar-pass-reader.js';
import type { LayerTable, TableEntry } from '../table/layer-table.js';
import { walkTar } from '../tar/walk-tar.js';
import { UNCOMPRESSED_SIZE_ANNOTATION } from './estargz-footer.js';
import { annotatedTocFormat } from './read-toc.js';
import { TocLayer } from './toc-layer.js';
import { isTocMetadataName } from './toc-metadata.js';
import type { TocFormat } from './toc-model.js';
import { verifyTocAgainstTar } from './verify-toc.js';

/**
 * The LayerReader for layers that carry a table of contents (zstd:chunked, eStargz), recognised by
 * their footer whatever the media type says (or, footer gone, by the descriptor's annotations; and
 * only by those where the stored bytes are not seekable: a registry blob, a layer in a gzipped archive). Opening
 * costs one read of the footer and one of the TOC (and tar-split); the table comes from them, and an
 * entry's bytes are read by decoding its own frames or members only. A TOC that cannot be used is a
 * warning (ETOC): the layer is then read by the tar pass, which hides the format's metadata members.
 * Layers without a TOC are left to the tar pass (undefined).
 */
export async function openTocReader(stored: ByteSource, context: LayerReaderContext): Promise<LayerReader | undefined> {
  // Probing the footer of bytes that are not a positional read away (a registry blob: one more request
  // per layer; a layer inside a compressed outer archive: decoding up to its end) is left to layers
  // whose descriptor announces a TOC.
  if (!stored.seekable && annotatedTocFormat(context.annotations) === undefined) return undefined;
  const opening = await TocLayer.open(stored, stored.size ?? context.storedSize, context.annotations, { maxTocSize: context.limits.maxTocSize });
  if (opening.format === undefined) return undefined;
  const hidden = { kind: `without ${opening.format} metadata`, hides: isTocMetadataName };
  if (opening.layer === undefined) {
    const reader = await openTarPass(stored, context, hidden);
    if (opening.problem !== undefined) {
      context.warn({
        code: 'ETOC',
        message: `layer ${context.layer.index}: ${opening.problem.message}; reading the layer as a plain ${reader.compression} stream`,
        layer: context.layer,
      });
    }
    return reader;
  }
  const { source: tar } = await openDecompressed(stored, { maxRatio: context.limits.maxRatio, cacheBytes: context.cacheBytes });
  const stated = Number(context.annotations[UNCOMPRESSED_SIZE_ANNOTATION]);
  return new TocReader(stored, tar, opening.layer, opening.layer.tarSize ?? (Number.isSafeInteger(stated) && stated > 0 ? stated : undefined));
}

export class TocReader implements LayerReader {
  readonly compression: TocFormat;
  /**
   * Without a tar-split the table's offsets address the TOC's data space; with one they are the tar's,
   * but the format's metadata members are still left out, which a plain pass of the same tar (an
   * ordinary layer with this diff_id) keeps: either way, a key of its own.
   */
  readonly tableKind: string;
  /** The TOC matched a digest the descriptor states, and every run is checked against its own. */
  readonly checksItself: boolean;

  constructor(
    private readonly stored: ByteSource,
    /** The whole decompressed tar stream: only `verify` reads it. */
    readonly tar: ByteSource,
    private readonly toc: TocLayer,
    readonly uncompressedSize: number | undefined,
  ) {
    this.compression = toc.format;
    // The TOC's digest is part of the key: a table cached from one TOC never serves another one.
    this.tableKind = `${toc.format} ${toc.tarSize === undefined ? 'toc' : 'tar-split'} ${toc.toc.checkedDigest ?? 'unchecked'}`;
    this.checksItself = toc.toc.checkedDigest !== undefined && toc.toc.entries.every((entry) => entry.chunks.every((chunk) => chunk.digest !== undefined));
  }

  buildTable({ limits, warn, layer }: TableBuildOptions): Promise<LayerTable> {
    return this.toc.table({ maxEntries: limits.maxEntries, onWarning: warn, layer });
  }

  readData(entry: TableEntry, offset: number, length: number): Promise<Buffer> {
    // Never past the entry's data: the data space holds other files' bytes (or zeros) after it.
    const available = Math.max(0, Math.min(length, entry.size - offset));
    return this.toc.content.read(entry.dataOffset + offset, available);
  }

  verify(): Promise<void> {
    return verifyTocAgainstTar(this.toc, walkTar(this.tar), this.tar);
  }

  async close(): Promise<void> {
    await this.toc.content.close();
    if (this.tar !== this.stored) await this.tar.close();
  }
}
