import type { ByteSource, FileRegion } from '../source/byte-source.js';
import type { LayerRef } from '../errors.js';
import type { ResolvedLimits } from '../limits.js';
import type { LayerTable, TableEntry } from '../table/layer-table.js';
import type { TarEntry } from '../tar/tar-entry.js';
import type { WarningSink } from '../warnings.js';
import type { Compression, TocFormat } from './layer-info.js';
import type { PassDigests } from './pass-digests.js';

/**
 * How one layer is indexed and its entries read: the pluggable half of a Layer (as Yarn's ZipFS has
 * `ZipImpl`). The tar pass (tar-pass-reader.ts) walks the whole tar stream once; a reader for layers
 * that carry a table of contents (zstd:chunked, eStargz) can build the same table from the TOC and read
 * a file by decoding only its own frames. `Layer` owns everything that does not depend on the way:
 * cache, verification of digests, error locations, counts.
 */
export interface LayerReader {
  /** Shown as `LayerInfo.compression`. */
  readonly compression: Compression | TocFormat;
  /**
   * Set when the reader's table is not the one a plain tar pass builds (its offsets address a table of
   * contents' data space, or it hides a format's metadata members): it is cached under its own key.
   */
  readonly tableKind?: string | undefined;
  /** Length of the uncompressed tar stream when the reader knows it without decoding the layer. */
  readonly uncompressedSize?: number | undefined;
  /**
   * True when the table and every read are checked against digests the (verified) manifest states (a
   * table of contents' digest, then each run's own): a registry blob need not be read whole first.
   */
  readonly checksItself?: boolean | undefined;
  /**
   * The layer's whole uncompressed tar stream, as a runtime that pulls the layer extracts it: what the
   * diff_id names and `verify` hashes. Reading it may decode the whole layer: a reader that can avoid
   * that reads entries through `readData` instead.
   */
  readonly tar: ByteSource;
  /**
   * Called before the first question reaches the layer (before the table is loaded or built), for a
   * reader that opens lazily (a registry layer: see self-verifying-reader.ts).
   */
  prepare?(): Promise<void>;
  /** The layer's table, by reading the layer (called on a cache miss only). */
  buildTable(options: TableBuildOptions): Promise<LayerTable>;
  /**
   * Up to `length` bytes of an entry's data from `offset` (relative to the start of its data); fewer
   * only when the layer ends first. `entry` is one of the table's entries (from the cache or built).
   */
  readData(entry: TableEntry, offset: number, length: number): Promise<Buffer>;
  /**
   * Optional: a question is about to read the file stored as `path` (normalised); a pass that decodes
   * the layer keeps its data as it goes by, so that the read decodes nothing a second time.
   */
  keepData?(path: string): void;
  /**
   * Optional: where an entry's data lies in a file on disk, when `readData` would read it from there as
   * it is, in one piece, with no check of its own (an uncompressed layer's regular member); else undefined.
   */
  fileRegion?(entry: TableEntry): FileRegion | undefined;
  /**
   * Stores, beside the cached table, what building it learned that later reads can use (a compressed
   * layer's checkpoints, say). Called after `buildTable` once the layer passed `verify` when asked.
   */
  persist?(): Promise<void>;
  /** Checks that go beyond the digests (a table of contents against the tar stream, say): EDIGEST. */
  verify?(): Promise<void>;
  /** Lets go of decoded data kept to speed up later reads (they then decode again). */
  dropDecoded?(): void;
  /**
   * The layer will be read often and out of order (a mount): a compressed one records checkpoints
   * from its first pass on, about `spacing` decoded bytes apart, so that a read decodes little.
   */
  recordCheckpointsEvery?(spacing: number): void;
  /**
   * Where an entry's data starts in the layer's decoded stream, when the layer is compressed and the
   * entry is stored in one piece (not sparse); else undefined.
   */
  decodedOffset?(entry: TableEntry): number | undefined;
  /** Hears of each span of the decoded stream decoded for reads (see DecompressedSource.onReadSpan). */
  onReadSpan?(listener: (start: number, span: Buffer) => void): void;
  /** Releases what the reader opened; never the stored bytes it was given. */
  close(): Promise<void>;
}

export interface TableBuildOptions {
  limits: ResolvedLimits;
  warn: WarningSink;
  /** The layer, for warnings and errors. */
  layer: LayerRef;
  /** Told now and then how many of the layer's stored bytes have been read, while the table is built. */
  onWalked: ((storedBytes: number) => void) | undefined;
  /**
   * Called for each member in tar order, before the pass reads on, by a reader that walks the tar
   * stream (a scan hashes the member's data there, from what the pass has just decoded). Awaited.
   */
  onMember?: ((member: TarEntry, tar: ByteSource) => Promise<void>) | undefined;
}

/** What a reader is opened with. */
export interface LayerReaderContext {
  limits: ResolvedLimits;
  /** Size of the stored bytes, as the image states it (a remote blob's source may not know it). */
  storedSize: number;
  /** The layer descriptor's annotations ({} when the format has none): a table of contents announces itself there. */
  annotations: Readonly<Record<string, string>>;
  warn: WarningSink;
  /** The layer, for warnings. */
  layer: LayerRef;
  /** Bytes of decoded data this layer may keep in memory. */
  cacheBytes: number;
  /**
   * Files kept in the index cache beside the table, keyed by the identity of the layer's stored bytes
   * (not its diff_id: they depend on the compressed bytes); undefined without a cache or identity.
   */
  sidecar: LayerSidecar | undefined;
  /** Set when the indexing pass should compute the layer's digests as it decodes (pass-digests.ts). */
  passDigests?: PassDigests | undefined;
}

export interface LayerSidecar {
  load(suffix: string): Promise<Buffer | undefined>;
  store(suffix: string, bytes: Buffer): Promise<void>;
  /** Removes a sidecar file found unusable, with a warning saying why. */
  drop(suffix: string, reason: string): Promise<void>;
}

/**
 * Opens a reader for a layer's stored bytes when it recognises them (by their bytes, never by a media
 * type), else resolves to undefined so that the next one is tried.
 */
export type LayerReaderFactory = (stored: ByteSource, context: LayerReaderContext) => Promise<LayerReader | undefined>;
