import type { ByteSource, FileRegion } from '../source/byte-source.js';
import { openDecompressed, type Compression } from '../source/codec.js';
import { DecompressedSource } from '../source/decompressed-source.js';
import { SparseView } from '../source/sparse-view.js';
import type { TarEntry } from '../tar/tar-entry.js';
import { walkTarBatches } from '../tar/walk-tar.js';
import { LayerTable, type TableEntry } from '../table/layer-table.js';
import { KeptMembers } from './kept-members.js';
import type { LayerReader, LayerReaderContext, LayerSidecar, TableBuildOptions } from './layer-reader.js';

/** Sidecar suffix of a compressed layer's checkpoints. */
export const CHECKPOINTS = 'ckpt';
/** How many members pass between two progress reports while a layer is walked. */
const PROGRESS_EVERY = 512;

/**
 * The reader every layer has: its tar stream (decompressed in place when gzip or zstd) walked header
 * by header into a table; an entry's bytes read at their offset in that stream. For a compressed layer
 * the walk records checkpoints, kept beside the cached table, so that a later read starts near its
 * offset instead of decoding the layer from its start.
 */
export async function openTarPass(stored: ByteSource, context: LayerReaderContext, hidden?: HiddenMembers): Promise<LayerReader> {
  const digests = context.passDigests;
  const options = { maxRatio: context.limits.maxRatio, cacheBytes: context.cacheBytes };
  const { source: tar, compression } = await openDecompressed(stored, options, digests === undefined ? undefined : (inflater) => digests.wrap(inflater));
  return new TarPassReader(stored, tar, compression, context.sidecar, hidden, digests !== undefined, context.cacheBytes);
}

/** Members a plain pass leaves out (a table-of-contents format's own metadata), and the table kind that says so. */
export interface HiddenMembers {
  readonly kind: string;
  hides(name: string): boolean;
}

class TarPassReader implements LayerReader {
  /** The decompressed view, when the layer is compressed: its checkpoints are worth keeping. */
  private readonly decoded: DecompressedSource | undefined;
  /** Data of the files questions asked for, kept as the pass went by them (a decoded layer only). */
  private readonly keeping: KeptMembers | undefined;
  readonly tableKind: string | undefined;

  constructor(
    private readonly stored: ByteSource,
    readonly tar: ByteSource,
    readonly compression: Compression,
    private readonly sidecar: LayerSidecar | undefined,
    private readonly hidden: HiddenMembers | undefined,
    /** The pass computes the layer's digests (pass-digests.ts): it decodes the stream to its very end. */
    private readonly toTheEnd: boolean,
    /** The layer's share of decoded bytes kept in memory, which also bounds the member data it keeps. */
    cacheBytes: number,
  ) {
    this.tableKind = hidden?.kind;
    this.decoded = tar instanceof DecompressedSource ? tar : undefined;
    this.keeping = this.decoded === undefined || cacheBytes === 0 ? undefined : new KeptMembers(cacheBytes);
    // Imported when the layer is first read: an open that reads nothing pays nothing. Read where it
    // lies: its table, then the window a read starts from. An unusable file is removed with a warning,
    // and decoding starts from the stream's start.
    if (this.decoded !== undefined && sidecar !== undefined) {
      this.decoded.deferCheckpointImport(
        async () => (sidecar.open === undefined ? sidecar.load(CHECKPOINTS) : sidecar.open(CHECKPOINTS)),
        (error) => sidecar.drop(CHECKPOINTS, error.reason),
      );
    }
  }

  async buildTable(options: TableBuildOptions): Promise<LayerTable> {
    const table = await this.walk(options);
    // The walk stops at the end-of-archive blocks; the padding after them is part of the diff_id.
    if (this.toTheEnd && this.decoded !== undefined) for await (const _ of this.tar.createReadStream(table.tarEnd)) void _;
    return table;
  }

  private walk({ limits, warn, layer, onWalked, onMember }: TableBuildOptions): Promise<LayerTable> {
    // Checkpoints recorded during this first pass are kept with the table (see `persist`); stored bytes
    // that are not a positional read away (a registry blob) record them even without a cache, so that a
    // read after the pass fetches and decodes from near its offset, not from the start.
    if (this.decoded !== undefined && (this.sidecar !== undefined || !this.stored.seekable)) this.decoded.checkpointPolicy = 'eager';
    const walk = { maxPaxSize: limits.maxPaxSize, maxNameLength: limits.maxNameLength };
    const index = { onDataOffset: onWalked === undefined ? undefined : this.progress(onWalked), maxEntries: limits.maxEntries, onWarning: warn, layer };
    // A walk is announced before its first member: a listener may prepare for a long one (the CLI
    // tunes V8 for a walk of a large layer then: lib/cli/main.ts).
    onWalked?.(0);
    // Nothing to do per member object: the table is built straight from the tar (plain-member lane).
    if (this.hidden === undefined && this.keeping === undefined && onMember === undefined) return LayerTable.buildFromTar(this.tar, { ...walk, ...index });
    const walked = walkTarBatches(this.tar, walk);
    const shown = this.hidden === undefined ? walked : withoutHidden(walked, this.hidden);
    const kept = this.keeping === undefined ? shown : keepingWanted(shown, this.keeping, this.tar);
    const members = onMember === undefined ? kept : tapped(kept, (member) => onMember(member, this.tar));
    return LayerTable.buildFromBatches(members, index);
  }

  keepData(path: string): void {
    this.keeping?.want(path);
  }

  readData(entry: TableEntry, offset: number, length: number): Promise<Buffer> {
    const kept = this.keeping?.read(entry, offset, length);
    if (kept !== undefined) return Promise.resolve(kept);
    // A sparse entry stores only its data regions: the holes between them read as zeros.
    if (entry.sparse !== undefined) return new SparseView(this.tar, entry.dataOffset, entry.size, entry.sparse.regions).read(offset, length);
    return this.tar.read(entry.dataOffset + offset, length);
  }

  fileRegion(entry: TableEntry): FileRegion | undefined {
    // A sparse entry's regions are not its bytes; a decoded layer's bytes are not in any file.
    if (entry.sparse !== undefined || this.tar !== this.stored) return undefined;
    return this.tar.fileRegion?.(entry.dataOffset, entry.size);
  }

  async persist(): Promise<void> {
    if (this.decoded === undefined || this.sidecar === undefined || this.decoded.stats.checkpointsRecorded === 0) return;
    await this.sidecar.store(CHECKPOINTS, this.decoded.exportCheckpoints());
  }

  dropDecoded(): void {
    this.decoded?.dropSpans();
    this.keeping?.clear();
  }

  decodedOffset(entry: TableEntry): number | undefined {
    return this.decoded === undefined || entry.sparse !== undefined ? undefined : entry.dataOffset;
  }

  onReadSpan(listener: (start: number, span: Buffer) => void): void {
    if (this.decoded !== undefined) this.decoded.onReadSpan = listener;
  }

  recordCheckpointsEvery(spacing: number): void {
    if (this.decoded === undefined) return;
    this.decoded.checkpointPolicy = 'eager';
    this.decoded.checkpointSpacing = spacing;
  }

  async close(): Promise<void> {
    if (this.tar !== this.stored) await this.tar.close();
  }

  /**
   * Tells `onWalked` now and then how many of the layer's stored bytes have been walked: the compressed
   * bytes read so far, or the offset reached in an uncompressed tar. Called by the build for each
   * member, in step (no generator of its own: a million members would each cost one more promise).
   */
  private progress(onWalked: (storedBytes: number) => void): (dataOffset: number) => void {
    let count = 0;
    const size = this.stored.size ?? Infinity;
    return (dataOffset) => {
      if (++count % PROGRESS_EVERY !== 0) return;
      const read = this.decoded !== undefined ? this.decoded.stats.rawBytesRead : dataOffset;
      onWalked(Math.min(read, size));
    };
  }
}

/** Each member to `tap` (awaited, in order) before the walk goes on past its data. */
async function* tapped(batches: AsyncIterable<TarEntry[]>, tap: (member: TarEntry) => Promise<void>): AsyncGenerator<TarEntry[]> {
  for await (const batch of batches) {
    for (const member of batch) await tap(member);
    yield batch;
  }
}

/**
 * The batches, with the data of each wanted member read and kept before the walk goes on: a batch
 * ends where the walk waits for bytes, so that data is still in the spans just decoded.
 */
async function* keepingWanted(batches: AsyncIterable<TarEntry[]>, keeping: KeptMembers, tar: ByteSource): AsyncGenerator<TarEntry[]> {
  for await (const batch of batches) {
    if (keeping.watching) for (const member of batch) if (keeping.wants(member)) keeping.keep(member, await tar.read(member.dataOffset, member.size));
    yield batch;
  }
}

async function* withoutHidden(batches: AsyncIterable<TarEntry[]>, hidden: HiddenMembers): AsyncGenerator<TarEntry[]> {
  for await (const batch of batches) yield batch.filter((member) => !hidden.hides(member.name));
}
