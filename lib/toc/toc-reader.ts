import type { ByteSource } from '../source/byte-source.js';
import { openDecompressed } from '../source/codec.js';
import type { LayerReader, LayerReaderContext, TableBuildOptions } from '../layer/layer-reader.js';
import { openTarPass } from '../layer/tar-pass-reader.js';
import type { LayerTable, TableEntry } from '../table/layer-table.js';
import { walkTar } from '../tar/walk-tar.js';
import { UNCOMPRESSED_SIZE_ANNOTATION } from './estargz-footer.js';
import { annotatedTocFormat, locateToc, type ReadTocOptions } from './read-toc.js';
import { TocContentSource } from './toc-content-source.js';
import { tocError } from './toc-errors.js';
import { annotatedTocDigest, loadSummary, storeSummary, summarize, type TocSummary } from './toc-summary.js';
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
  const blobSize = stored.size ?? context.storedSize;
  const options = { maxTocSize: context.limits.maxTocSize };
  // A warm open: the footer (one read) says where the TOC is; the cache has what reads need from it.
  const digest = annotatedTocDigest(context.annotations);
  let unreadable = false;
  const location = await locateToc(stored, blobSize, context.annotations).catch(() => {
    unreadable = true;
    return undefined;
  });
  // No footer and nothing announced: a plain layer (TocLayer.open would read the footer again to say so).
  if (location === undefined && !unreadable && annotatedTocFormat(context.annotations) === undefined) return undefined;
  const cached = location === undefined ? undefined : await loadSummary(context.sidecar, digest !== undefined ? { digest } : location);
  if (cached !== undefined) {
    return TocReader.fromSummary(stored, await decodedTar(stored, context), cached, () => reopen(stored, blobSize, context.annotations, options), context);
  }
  const opening = await TocLayer.open(stored, blobSize, context.annotations, options);
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
  const summary = summarize(opening.layer);
  await storeSummary(context.sidecar, summary);
  const { source: tar } = await openDecompressed(stored, { maxRatio: context.limits.maxRatio, cacheBytes: context.cacheBytes });
  return new TocReader(stored, tar, summary, opening.layer.content, opening.layer, () => Promise.resolve(opening.layer as TocLayer), context);
}

async function decodedTar(stored: ByteSource, context: LayerReaderContext): Promise<ByteSource> {
  return (await openDecompressed(stored, { maxRatio: context.limits.maxRatio, cacheBytes: context.cacheBytes })).source;
}

/** The TOC read again, for a reader opened from its cached summary that needs the members after all. */
export async function reopen(blob: ByteSource, blobSize: number, annotations: Readonly<Record<string, string>>, options: ReadTocOptions): Promise<TocLayer> {
  const opening = await TocLayer.open(blob, blobSize, annotations, options);
  if (opening.layer !== undefined) return opening.layer;
  throw opening.problem ?? tocError('the layer no longer has the table of contents its cached summary describes');
}

/** The uncompressed size a reader states: the tar-split's, else the eStargz annotation's. */
function statedSize(summary: TocSummary, context: LayerReaderContext): number | undefined {
  const stated = Number(context.annotations[UNCOMPRESSED_SIZE_ANNOTATION]);
  return summary.tarSize ?? (Number.isSafeInteger(stated) && stated > 0 ? stated : undefined);
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
  readonly uncompressedSize: number | undefined;
  private full: Promise<TocLayer> | undefined;

  constructor(
    private readonly stored: ByteSource,
    /** The whole decompressed tar stream: only `verify` reads it. */
    readonly tar: ByteSource,
    summary: TocSummary,
    private readonly content: TocContentSource,
    /** The TOC as read at this open; undefined when the reader was opened from its cached summary. */
    private opened: TocLayer | undefined,
    /** Reads the TOC (again) when the members are needed: building the table, `verify`. */
    private readonly readFull: () => Promise<TocLayer>,
    context: LayerReaderContext,
  ) {
    this.compression = summary.format;
    // The TOC's digest is part of the key: a table cached from one TOC never serves another one.
    this.tableKind = `${summary.format} ${summary.tarSplit ? 'tar-split' : 'toc'} ${summary.checkedDigest ?? 'unchecked'}`;
    this.checksItself = summary.checksItself;
    this.uncompressedSize = statedSize(summary, context);
  }

  /** A reader from a summary kept in the index cache: the TOC is read only if the members are needed. */
  static fromSummary(stored: ByteSource, tar: ByteSource, summary: TocSummary, readFull: () => Promise<TocLayer>, context: LayerReaderContext): TocReader {
    return new TocReader(stored, tar, summary, new TocContentSource(stored, summary.format, summary.layout), undefined, readFull, context);
  }

  private toc(): Promise<TocLayer> {
    this.full ??= this.opened !== undefined ? Promise.resolve(this.opened) : this.readFull().then((toc) => (this.opened = toc));
    return this.full;
  }

  async buildTable({ limits, warn, layer }: TableBuildOptions): Promise<LayerTable> {
    return (await this.toc()).table({ maxEntries: limits.maxEntries, onWarning: warn, layer });
  }

  readData(entry: TableEntry, offset: number, length: number): Promise<Buffer> {
    // Never past the entry's data: the data space holds other files' bytes (or zeros) after it.
    const available = Math.max(0, Math.min(length, entry.size - offset));
    return this.content.read(entry.dataOffset + offset, available);
  }

  async verify(): Promise<void> {
    await verifyTocAgainstTar(await this.toc(), walkTar(this.tar), this.tar);
  }

  async close(): Promise<void> {
    await this.content.close();
    if (this.opened !== undefined && this.opened.content !== this.content) await this.opened.content.close();
    if (this.tar !== this.stored) await this.tar.close();
  }
}
