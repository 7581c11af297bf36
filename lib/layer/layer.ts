import type { Readable } from 'node:stream';
import type { ByteSource, FileRegion } from '../source/byte-source.js';
import { createRangeStream } from '../source/range-stream.js';
import type { LayerBlob } from '../image/loaded-image.js';
import type { LayerTable, TableEntry } from '../table/layer-table.js';
import type { TableCache } from '../table/table-cache.js';
import { ImgfsError, isImgfsError, type LayerRef } from '../errors.js';
import type { ResolvedLimits } from '../limits.js';
import type { WarningSink } from '../warnings.js';
import { blobKey, DIFF_ID_OF_BLOB, diffIdKey, layerIdentity, type LayerIdentity } from './cache-identity.js';
import type { LayerInfo } from './layer-info.js';
import type { MemberDigests } from './member-digests.js';
import type { LayerReader, LayerReaderFactory, LayerSidecar } from './layer-reader.js';
import { openLayerReader } from './open-layer-reader.js';
import { PassDigests } from './pass-digests.js';
import { HEAD } from './self-verifying-reader.js';
import { CHECKPOINTS } from './tar-pass-reader.js';
import { announcedCompression, SelfVerifyingReader } from './self-verifying-reader.js';
import { HEAD_BYTES } from '../source/http-blob-source.js';
import { verifyDigests } from './verify-digests.js';
import type { BuiltTable, TableWorkers, WorkerJob } from './table-workers.js';
import type { TableBuildOptions } from './layer-reader.js';

/** What every layer of one opened image shares. */
export interface LayerContext {
  /** The index cache, or undefined (`cache: false`). */
  cache: TableCache | undefined;
  /** Check the layer's digests while it is indexed (`verify`); only then are its digests cache keys. */
  verify: boolean;
  limits: ResolvedLimits;
  warn: WarningSink;
  /** Bytes of decoded data this layer may keep in memory. */
  cacheBytes: number;
  /** The file on disk that holds the layer's blob (see fileHolding), for its cache identity. */
  holder: string | undefined;
  /** Readers tried before the tar pass; default: the registered ones (open-layer-reader.ts). */
  readers?: readonly LayerReaderFactory[] | undefined;
  /** Where tables are built (this thread or a worker); undefined: always this thread. */
  workers?: TableWorkers | undefined;
}

/**
 * One layer of an image (go-containerregistry's `v1.Layer` is the model): the facts its descriptor
 * states, its stored bytes (any ByteSource: a file, a slice of an outer tar, an HTTP blob), its
 * uncompressed tar stream, its cache identity, its table (`index`), `verify`, and the bytes of its
 * entries. How the table is built and entries are read is its LayerReader's business (a tar pass, or a
 * table of contents); everything else about a layer is here.
 */
export class Layer {
  /** Public description; its counts are filled in when the layer is indexed. */
  readonly info: LayerInfo;

  private constructor(
    /** The facts the image format states about the layer, and its stored bytes. */
    readonly descriptor: LayerBlob,
    private readonly reader: LayerReader,
    private readonly identity: LayerIdentity,
    private readonly context: LayerContext,
    /** Digests the indexing pass computes, to share the table under the diff_id (pass-digests.ts). */
    private readonly passDigests: PassDigests | undefined,
  ) {
    this.info = {
      index: descriptor.index,
      // An uncompressed blob is its own tar stream: its digest is the diff_id.
      digest: descriptor.digest ?? (reader.compression === 'none' ? descriptor.diffId : undefined),
      diffId: descriptor.diffId,
      mediaType: descriptor.mediaType,
      compression: reader.compression,
      size: descriptor.size,
      uncompressedSize: undefined,
      entries: undefined,
      whiteouts: undefined,
      createdBy: descriptor.createdBy,
    };
  }

  /** Recognises how the layer is stored (compression, table of contents) and prepares to read it; nothing is indexed yet. */
  static async open(descriptor: LayerBlob, context: LayerContext): Promise<Layer> {
    try {
      const { cache } = context;
      const identity = cache === undefined ? NO_IDENTITY : await layerIdentity(descriptor, context.holder, context.verify);
      const sidecar = cache === undefined || identity.storedBytes === undefined ? undefined : sidecarIn(cache, identity.storedBytes);
      // With a cache, the pass checks both digests as it decodes, so that its table can be shared (not
      // needed with `verify`, which checks them anyway and keys the table by the diff_id).
      const { diffId, digest } = descriptor;
      const passDigests =
        cache === undefined || context.verify || diffId === undefined || digest === undefined
          ? undefined
          : new PassDigests({ tar: diffId, blob: descriptor.selfVerifying === undefined ? digest : undefined });
      const readerContext = {
        limits: context.limits,
        cacheBytes: context.cacheBytes,
        sidecar,
        storedSize: descriptor.size,
        annotations: descriptor.annotations ?? {},
        warn: context.warn,
        layer: layerRef(descriptor),
        passDigests,
      };
      const self = descriptor.selfVerifying;
      const reader =
        self === undefined
          ? await openLayerReader(descriptor.blob, readerContext, context.readers)
          : new SelfVerifyingReader(descriptor.blob, self, readerContext, announcedCompression(descriptor.mediaType));
      return new Layer(descriptor, reader, identity, context, passDigests);
    } catch (error) {
      throw locate(error, descriptor);
    }
  }

  /**
   * Whether indexing this layer ahead of need pays: its bytes are local and compressed, so the work is
   * decoding on the thread pool, or uncompressed and a table worker can index it, either way beside
   * the walk of the layer above. A download (a registry layer) is not worth it.
   */
  get worthIndexingAhead(): boolean {
    if (this.descriptor.selfVerifying !== undefined) return false;
    // An uncompressed layer is read on the main thread, unless a table worker can take it.
    return this.reader.compression === 'gzip' || this.reader.compression === 'zstd' || (this.context.workers?.offloads === true && this.workerJob() !== undefined);
  }

  /** The stored (possibly compressed) bytes, read in place. */
  get stored(): ByteSource {
    return this.descriptor.blob;
  }

  /** The uncompressed tar stream (what the diff_id names). */
  get tar(): ByteSource {
    return this.reader.tar;
  }

  /** The layer as errors and warnings name it. */
  get ref(): LayerRef {
    return layerRef(this.descriptor);
  }

  /**
   * The layer's table: from the index cache when it has it, else built by the reader (and then
   * cached). With `verify`, the layer is verified before its table is cached or returned, so a layer
   * that fails leaves nothing in the cache. `onWalked` hears how many stored bytes have been read
   * while the table is built, and the whole size once it is done. `digests`, when the table is built
   * by a pass over the tar stream (not loaded from the cache), gets the layer's files hashed in it.
   */
  async index(onWalked?: (storedBytes: number) => void, digests?: MemberDigests): Promise<LayerTable> {
    const { cache, verify } = this.context;
    try {
      await this.reader.prepare?.();
      // After `prepare`: a registry layer's reader knows what kind of table it builds only then.
      const kind = this.reader.tableKind;
      const key = this.identity.table === undefined || kind === undefined ? this.identity.table : `${this.identity.table} ${kind}`;
      this.info.compression = this.reader.compression;
      let table = key === undefined ? undefined : await cache?.load(key);
      if (table === undefined && kind === undefined) table = await this.loadShared(key);
      if (table === undefined) {
        const { limits, warn } = this.context;
        const onMember = digests === undefined ? undefined : digests.record.bind(digests);
        const built = await this.buildTable({ limits, warn, layer: this.ref, onWalked, onMember });
        table = built.table;
        if (verify) await this.verify();
        if (key !== undefined) await cache?.store(key, table, built.encoded);
        await this.reader.persist?.();
        if (kind === undefined && (verify || this.passDigests?.matched === true)) await this.storeShared(table);
      } else if (verify) {
        await this.verify();
      }
      // A table of another kind (a TOC's data space) does not end where the tar does.
      this.info.uncompressedSize = this.reader.uncompressedSize ?? this.reader.tar.size ?? (kind === undefined ? table.tarEnd : undefined);
      this.info.entries = table.memberCount;
      this.info.whiteouts = table.whiteoutCount;
      onWalked?.(this.descriptor.size);
      return table;
    } catch (error) {
      throw locate(error, this.descriptor);
    }
  }

  /** Builds the table by a pass over the layer: here, or on a table worker when one is free and can. */
  private async buildTable(options: TableBuildOptions): Promise<BuiltTable> {
    const { workers } = this.context;
    const local = (): Promise<LayerTable> => this.reader.buildTable(options);
    if (workers === undefined) return { table: await local() };
    return workers.build(options.onMember === undefined ? this.workerJob() : undefined, local, options.warn);
  }

  /**
   * The layer as a table worker can index it by itself, or undefined: only a plain tar pass over an
   * uncompressed tar lying in a file (anything else decodes, hashes or fetches as it goes, which a
   * worker would have to hand back).
   */
  private workerJob(): WorkerJob | undefined {
    const { reader, descriptor } = this;
    if (reader.compression !== 'none' || reader.tableKind !== undefined || descriptor.selfVerifying !== undefined || reader.tar !== descriptor.blob) return undefined;
    const size = reader.tar.size;
    const region = size === undefined ? undefined : reader.tar.fileRegion?.(0, size);
    if (size === undefined || region === undefined) return undefined;
    const { limits } = this.context;
    return { fd: region.fd, start: region.offset, size, name: reader.tar.name, layer: this.ref, maxEntries: limits.maxEntries, maxPaxSize: limits.maxPaxSize, maxNameLength: limits.maxNameLength };
  }

  /**
   * The table another image cached under this layer's diff_id, when a pass that checked both digests
   * said that this layer's blob decodes to it (DIFF_ID_OF_BLOB), and this layer's stored bytes are that
   * blob: a registry blob checks itself as it is read; a local one is hashed here (a fraction of what
   * indexing it costs). The blob's checkpoints come along (from where that pass kept them), and the
   * table is kept under `key` too.
   */
  private async loadShared(key: string | undefined): Promise<LayerTable | undefined> {
    const { cache } = this.context;
    const { diffId, digest } = this.descriptor;
    if (cache === undefined || this.passDigests === undefined || diffId === undefined || digest === undefined) return undefined;
    const [decodesTo, checkpointsAt] = ((await cache.loadExtra(blobKey(digest), DIFF_ID_OF_BLOB))?.toString() ?? '').split('\n');
    if (decodesTo !== diffId) return undefined;
    const table = await cache.load(diffIdKey(diffId));
    if (table === undefined) return undefined;
    if (this.descriptor.selfVerifying === undefined) {
      try {
        await verifyDigests([{ expected: digest, bytes: this.stored, what: 'blob digest' }]);
      } catch {
        return undefined;
      }
    }
    await this.copyExtra(checkpointsAt === '' ? undefined : checkpointsAt, this.identity.storedBytes, CHECKPOINTS);
    if (key !== undefined && key !== diffIdKey(diffId)) await cache.store(key, table);
    return table;
  }

  /** Keeps a table whose blob and tar stream were checked under the diff_id, for every image that has the layer. */
  private async storeShared(table: LayerTable): Promise<void> {
    const { cache } = this.context;
    const { diffId, digest } = this.descriptor;
    if (cache === undefined || diffId === undefined) return;
    if (this.identity.table !== diffIdKey(diffId)) await cache.store(diffIdKey(diffId), table);
    if (digest === undefined) return;
    // Where this layer's checkpoints are kept (its stored bytes' identity) goes with it: they are copied
    // to another image's identity only when that image uses the table.
    await cache.storeExtra(blobKey(digest), DIFF_ID_OF_BLOB, Buffer.from(`${diffId}\n${this.identity.storedBytes ?? ''}`));
    // The verified blob's first bytes: a registry layer sniffs its compression from them (a read of a
    // verified registry blob's head is served from memory, not fetched).
    await cache.storeExtra(blobKey(digest), HEAD, await this.stored.read(0, HEAD_BYTES));
  }

  /** Copies a companion file from one identity to another that lacks it (checkpoints of the same blob). */
  private async copyExtra(from: string | undefined, to: string | undefined, suffix: string): Promise<void> {
    const { cache } = this.context;
    if (cache === undefined || from === undefined || to === undefined || from === to) return;
    if ((await cache.loadExtra(to, suffix)) !== undefined) return;
    const bytes = await cache.loadExtra(from, suffix);
    if (bytes !== undefined) await cache.storeExtra(to, suffix, bytes);
  }

  /**
   * The stored blob must hash to its digest and the tar stream to the diff_id (EDIGEST otherwise), and
   * whatever else the reader can check (a table of contents against the tar stream).
   */
  async verify(): Promise<void> {
    try {
      await this.reader.prepare?.();
      await verifyDigests([
        // A self-verifying blob checked its digest as it was first read: not downloaded twice.
        { expected: this.descriptor.selfVerifying === undefined ? this.descriptor.digest : undefined, bytes: this.stored, what: 'blob digest' },
        { expected: this.descriptor.diffId, bytes: this.reader.tar, what: 'diff_id' },
      ]);
      await this.reader.verify?.();
    } catch (error) {
      throw locate(error, this.descriptor);
    }
  }

  /** Bytes [start, end) of an entry's data, exactly: a layer that ends first is ETRUNCATED. */
  async read(entry: TableEntry, start: number, end: number): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0);
    const bytes = await this.readData(entry, start, end - start);
    if (bytes.length !== end - start) throw this.truncated(entry, start, end, bytes.length);
    return bytes;
  }

  /**
   * Bytes [start, end) of an entry's data as a stream, one chunk at a time. A layer that ends early
   * (the archive was truncated after it was indexed) errors with ETRUNCATED, as `read` does, rather
   * than ending the stream short.
   */
  stream(entry: TableEntry, start: number, end: number): Readable {
    const base = entry.dataOffset;
    // Positions in the tar stream, so that chunks line up with the spans of a decompressed layer; one
    // Readable pulling chunk by chunk, no extra stage (a scan opens one per file).
    return createRangeStream(
      async (offset, length) => {
        const chunk = await this.readData(entry, offset - base, length);
        if (chunk.length < length) throw this.truncated(entry, start, end, offset - base - start + chunk.length);
        return chunk;
      },
      base + start,
      base + Math.max(start, end),
    );
  }

  /** Where an entry's data lies as it is in a file on disk (see LayerReader.fileRegion), else undefined. */
  fileRegion(entry: TableEntry): FileRegion | undefined {
    return this.reader.fileRegion?.(entry);
  }

  /** A question is about to read the file at `path` (normalised): an indexing pass keeps its data (KeptMembers). */
  keepData(path: string): void {
    this.reader.keepData?.(path);
  }

  /** Lets go of the decoded bytes kept for later reads (a scan that has hashed the layer is done with them). */
  dropDecoded(): void {
    this.reader.dropDecoded?.();
  }

  /** See LayerReader.decodedOffset. */
  decodedOffset(entry: TableEntry): number | undefined {
    return this.reader.decodedOffset?.(entry);
  }

  /** See LayerReader.onReadSpan. */
  onReadSpan(listener: (start: number, span: Buffer) => void): void {
    this.reader.onReadSpan?.(listener);
  }

  /** See LayerReader.recordCheckpointsEvery. */
  recordCheckpointsEvery(spacing: number): void {
    this.reader.recordCheckpointsEvery?.(spacing);
  }

  async close(): Promise<void> {
    // A worker may be reading this layer's file through its descriptor: stopped before that closes.
    await this.context.workers?.close();
    await this.reader.close();
  }

  private async readData(entry: TableEntry, offset: number, length: number): Promise<Buffer> {
    try {
      return await this.reader.readData(entry, offset, length);
    } catch (error) {
      throw isImgfsError(error) ? locate(error, this.descriptor) : error;
    }
  }

  private truncated(entry: TableEntry, start: number, end: number, got: number): ImgfsError {
    return new ImgfsError('ETRUNCATED', `content of /${entry.path} ends after ${got} of ${end - start} bytes`, {
      archive: this.reader.tar.name,
      layer: this.ref,
      offset: entry.dataOffset + start + got,
    });
  }
}

const NO_IDENTITY: LayerIdentity = { table: undefined, storedBytes: undefined };

/** The index cache's companion files of one layer's stored bytes. */
function sidecarIn(cache: TableCache, identity: string): LayerSidecar {
  return {
    load: (suffix) => cache.loadExtra(identity, suffix),
    store: (suffix, bytes) => cache.storeExtra(identity, suffix, bytes),
    drop: (suffix, reason) => cache.dropExtra(identity, suffix, reason),
  };
}

/** How errors and warnings name a layer. */
function layerRef(descriptor: LayerBlob): LayerRef {
  return { index: descriptor.index, digest: descriptor.digest };
}

/** Every problem met in a layer names the archive, the member and the layer. */
function locate(error: unknown, descriptor: LayerBlob): ImgfsError {
  const where = { archive: descriptor.blob.name, member: descriptor.location, layer: layerRef(descriptor) };
  if (isImgfsError(error)) return error.locate(where);
  return new ImgfsError('EIMGFORMAT', `cannot index layer: ${(error as Error).message}`, { ...where, cause: error });
}
