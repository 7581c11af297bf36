import type { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { ImgfsError } from '../errors.js';
import { LIMITS, RATIO_SLACK } from '../limits.js';
import type { ByteSource } from './byte-source.js';
import { CheckpointIndex } from './checkpoint-index.js';
import type { Checkpoint, Inflater, RawInput } from './inflater.js';
import { clampRead, clampStream } from './range.js';
import { SerialQueue } from './serial-queue.js';
import { createRangeStream } from './range-stream.js';
import { SpanCursor } from './span-cursor.js';

/** Decompressed bytes are cached in spans of this size. */
export const SPAN_SIZE = 1024 * 1024;
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
/**
 * Decompressed distance between two checkpoints recorded by the first pass. A read from a checkpoint
 * decodes at most this much before the span it wants, plus that span.
 */
export const DEFAULT_CHECKPOINT_SPACING = 2 * 1024 * 1024;
/** The table of limits (lib/limits.ts) says why 1100. */
export const DEFAULT_MAX_RATIO = LIMITS.maxRatio.default;
/** Allowed on top of `maxRatio × compressed size`, so small streams are not judged by their ratio. */
export const DEFAULT_RATIO_SLACK = RATIO_SLACK;

export type CheckpointPolicy = 'eager' | 'lazy' | 'off';

export interface DecompressOptions {
  /** Bytes of decompressed spans kept in memory (LRU), default 64 MiB. 0 keeps only the latest span. */
  cacheBytes?: number;
  /**
   * Largest allowed decompressed size as a multiple of the compressed size (plus 64 MiB), default 1100;
   * `Infinity` disables the check. Beyond it reads reject with ELIMIT.
   */
  maxRatio?: number;
  /** Decompressed bytes always allowed on top of `maxRatio × compressed size`; default 64 MiB. */
  ratioSlack?: number;
  /**
   * When to record checkpoints, so that reads start near their offset instead of at the start of the
   * stream. Recording gzip costs about twice the time of native decoding (it runs pako); zstd records
   * for free and always does, unless 'off'.
   * - 'eager': from the first pass on (for a stream that is indexed once and read often, with the
   *   checkpoints persisted);
   * - 'lazy' (default): from the second time a read behind the cursor has to decode again what was
   *   decoded before. Read once front to back, or with one read behind the cursor (a one-shot
   *   `imgfs cat` without the cache), a stream costs what it did without checkpoints; after that,
   *   recording pays for itself (ski rental: at most about 3× the best choice made in hindsight);
   * - 'off': never; only the stream start and imported checkpoints.
   */
  checkpoints?: CheckpointPolicy;
  /** Decompressed bytes between two recorded checkpoints, default 2 MiB. */
  checkpointSpacing?: number;
}

/** Counters for tests and benchmarks. */
export interface DecompressStats {
  /**
   * Decoders started after the first one: a read behind the cursor that the cache could not serve, or
   * far ahead of it, near a checkpoint.
   */
  restarts: number;
  /** Compressed bytes the decoders have read, summed over all of them. */
  rawBytesRead: number;
  /** Decompressed bytes the decoders have produced, summed over all of them. */
  inflatedBytes: number;
  /** Bytes currently held by the span cache. */
  cachedBytes: number;
  /** Checkpoints known, counting the start of the stream. */
  checkpoints: number;
  /** Bytes held by the checkpoints' packed windows. */
  checkpointBytes: number;
  /** Checkpoints this source recorded itself (not imported): something new to export. */
  checkpointsRecorded: number;
}

/** Checkpoints to import before the first decoding (see `deferCheckpointImport`). */
interface PendingImport {
  load: () => Promise<Buffer | undefined>;
  rejected: (error: ImgfsError) => void | Promise<void>;
}

/** An error that decoding again would only reproduce: remembered, so later reads fail at once. */
interface Failure {
  span: number;
  error: ImgfsError;
}

const STICKY: ReadonlySet<string> = new Set(['ECOMPRESSION', 'ETRUNCATED', 'ELIMIT']);

/**
 * A gzip or zstd stream seen as its decompressed bytes. Reads are served from an LRU cache of decompressed
 * spans; a miss runs one forward cursor (a decoder over `raw`) up to the spans it needs, caching every
 * span it passes, so reads at increasing offsets decode the stream once. The cursor that decodes past the
 * last known checkpoint records new ones about every `checkpointSpacing` bytes (gzip: deflate block
 * boundaries and member starts; zstd: frame starts). A miss behind the cursor, or far ahead of it, starts
 * a new cursor from the nearest checkpoint at or before the span (`restartPoint`). Checkpoints can be
 * exported and imported, so a later process starts with them. Reads are serialised: there is one cursor.
 * Closing does not close `raw`: whoever opened it closes it.
 */
export class DecompressedSource implements ByteSource {
  readonly seekable = false;
  readonly name: string;
  readonly compression: 'gzip' | 'zstd';
  private knownSize: number | undefined;
  private closed = false;
  private readonly cache: LRUCache<number, Buffer> | undefined;
  /** Whether the cache can hold the span read ahead beside the one being read (see readAhead). */
  private readonly readsAhead: boolean;
  /** A background decode of the next span is queued (see readAhead). */
  private readingAhead = false;
  /** The span produced last, kept outside the cache so a sequential reader never depends on the cache. */
  private recent: { index: number; buffer: Buffer } | undefined;
  /**
   * The span produced before `recent`, kept too: with read-ahead, `recent` is the span after the one a
   * sequential reader is still working through, and that one must not depend on the cache either.
   */
  private previous: { index: number; buffer: Buffer } | undefined;
  private cursor: SpanCursor | undefined;
  /** Whether `cursor` records checkpoints. */
  private cursorRecords = false;
  private checkpoints: CheckpointIndex;
  private policy: CheckpointPolicy;
  private readonly checkpointSpacing: number;
  private failure: Failure | undefined;
  private readonly queue = new SerialQueue();
  private readonly maxRatio: number;
  private readonly ratioSlack: number;
  private readonly counters = { cursors: 0, rawBytesRead: 0, inflatedBytes: 0, recorded: 0 };
  private pendingImport: PendingImport | undefined;

  constructor(
    readonly raw: ByteSource,
    private readonly inflater: Inflater,
    options: DecompressOptions = {},
  ) {
    const cacheBytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    const maxRatio = options.maxRatio ?? DEFAULT_MAX_RATIO;
    if (!Number.isSafeInteger(cacheBytes) || cacheBytes < 0) {
      throw new RangeError(`cacheBytes must be a non-negative integer, got ${cacheBytes}`);
    }
    if (!(maxRatio > 0)) throw new RangeError(`maxRatio must be positive, got ${maxRatio}`);
    const spacing = options.checkpointSpacing ?? DEFAULT_CHECKPOINT_SPACING;
    if (!Number.isSafeInteger(spacing) || spacing < 1) {
      throw new RangeError(`checkpointSpacing must be a positive integer, got ${spacing}`);
    }
    this.checkpoints = new CheckpointIndex(inflater.compression);
    this.policy = 'lazy';
    this.checkpointPolicy = options.checkpoints ?? 'lazy';
    this.checkpointSpacing = spacing;
    this.name = raw.name;
    this.compression = inflater.compression;
    this.maxRatio = maxRatio;
    this.ratioSlack = options.ratioSlack ?? DEFAULT_RATIO_SLACK;
    this.readsAhead = cacheBytes >= 2 * SPAN_SIZE;
    this.cache =
      cacheBytes > 0
        ? new LRUCache<number, Buffer>({ maxSize: cacheBytes, sizeCalculation: (buffer) => Math.max(1, buffer.length) })
        : undefined;
  }

  /** Known once a cursor has reached the end of the stream. */
  get size(): number | undefined {
    return this.knownSize;
  }

  get stats(): DecompressStats {
    return {
      restarts: Math.max(0, this.counters.cursors - 1),
      rawBytesRead: this.counters.rawBytesRead,
      inflatedBytes: this.counters.inflatedBytes,
      cachedBytes: this.cache?.calculatedSize ?? 0,
      checkpoints: this.checkpoints.count,
      checkpointBytes: this.checkpoints.bytes,
      checkpointsRecorded: this.counters.recorded,
    };
  }

  /**
   * Imports checkpoints from `load` just before this source first has to decode, so that opening many
   * layers costs nothing until one is read. `load` resolving to undefined means there are none; an
   * export that `importCheckpoints` rejects goes to `rejected` (to remove it, say) and decoding goes on
   * without it.
   */
  deferCheckpointImport(load: () => Promise<Buffer | undefined>, rejected: PendingImport['rejected']): void {
    this.pendingImport = { load, rejected };
  }

  /** The `checkpoints` option; changing it affects cursors started afterwards. */
  get checkpointPolicy(): CheckpointPolicy {
    return this.policy;
  }

  set checkpointPolicy(policy: CheckpointPolicy) {
    if (!['eager', 'lazy', 'off'].includes(policy)) throw new RangeError(`checkpoints must be eager, lazy or off, got ${String(policy)}`);
    this.policy = policy;
  }

  /**
   * The checkpoints known so far in a versioned, self-checking binary form, for an index cache to keep
   * (they depend on the compressed bytes: key them by the blob's digest). Needs `raw.size`.
   */
  exportCheckpoints(): Buffer {
    return this.checkpoints.serialise(this.rawSize());
  }

  /**
   * Adopts checkpoints exported earlier for the same compressed stream, when they reach further than the
   * ones known. Anything that is not a valid export for this stream (another codec or size, a bad
   * checksum, offsets out of order) is rejected with ECACHE and changes nothing.
   */
  importCheckpoints(bytes: Buffer): void {
    this.assertOpen();
    let imported: CheckpointIndex;
    try {
      imported = CheckpointIndex.parse(bytes, this.compression, this.rawSize());
    } catch (error) {
      throw new ImgfsError('ECACHE', `unusable checkpoints: ${(error as Error).message}`, { archive: this.name, cause: error });
    }
    const better = imported.complete
      ? !this.checkpoints.complete || imported.count > this.checkpoints.count
      : !this.checkpoints.complete && imported.lastOffset > this.checkpoints.lastOffset;
    if (!better) return;
    this.checkpoints = imported;
    if (imported.size !== undefined) this.knownSize = imported.size;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.assertOpen();
    const { start, end } = clampRead(offset, length, this.knownSize ?? Infinity);
    if (end <= start) return Buffer.alloc(0);
    const cached = this.fromCache(start, end);
    if (cached !== undefined) return cached;
    const bytes = await this.serialised(() => this.readSpans(start, end));
    this.readAhead(Math.floor((start + Math.max(bytes.length, 1) - 1) / SPAN_SIZE) + 1);
    return bytes;
  }

  /**
   * After a read that had to decode, decodes the next span in the background (one at a time), so that
   * a reader going front to back (a scan hashing files, `cat` of a large file) does its own work while
   * the decoder works instead of after it. Only when the cache can keep both spans, and only right at
   * the cursor; a failure is left for the read that needs that span.
   */
  private readAhead(index: number): void {
    const cursor = this.cursor;
    if (!this.readsAhead || this.readingAhead || this.closed || cursor === undefined) return;
    if (cursor.nextIndex !== index || this.cachedSpan(index) !== undefined) return;
    this.readingAhead = true;
    this.serialised(async () => {
      if (!this.closed && this.cursor === cursor && cursor.nextIndex === index) await this.decodeSpan(index);
    })
      .catch(() => {})
      .finally(() => {
        this.readingAhead = false;
      });
  }

  /** Streams span by span through `read`: memory stays at one chunk, backpressure stops decoding. */
  createReadStream(start?: number, end?: number): Readable {
    const range = clampStream(start, end, this.knownSize);
    return createRangeStream((o, l) => this.read(o, l), range.start, range.end);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cursor?.stop();
    this.cursor = undefined;
    this.recent = undefined;
    this.previous = undefined;
    this.cache?.clear();
  }

  /**
   * Where a cursor that must produce the span starting at `offset` begins. The single place that decides
   * restarts: checkpoints recorded during earlier passes plug in here.
   */
  private restartPoint(offset: number): Checkpoint {
    return this.checkpoints.find(offset);
  }

  /** The whole range from spans already in memory, without queueing; undefined if any span is missing. */
  private fromCache(start: number, end: number): Buffer | undefined {
    const pieces: Buffer[] = [];
    for (let index = Math.floor(start / SPAN_SIZE); index * SPAN_SIZE < end; index += 1) {
      const span = this.cachedSpan(index);
      if (span === undefined) return undefined;
      const piece = this.cut(span, index, start, end);
      pieces.push(piece);
      if (span.length < SPAN_SIZE) break; // the final span
    }
    return Buffer.concat(pieces); // always a copy: the cache's spans never leave this class
  }

  private async readSpans(start: number, end: number): Promise<Buffer> {
    const pieces: Buffer[] = [];
    for (let index = Math.floor(start / SPAN_SIZE); index * SPAN_SIZE < end; index += 1) {
      const span = this.cachedSpan(index) ?? (await this.decodeSpan(index));
      if (span === undefined) break; // past the end of the stream
      pieces.push(this.cut(span, index, start, end));
      if (span.length < SPAN_SIZE) break;
    }
    return Buffer.concat(pieces);
  }

  private cut(span: Buffer, index: number, start: number, end: number): Buffer {
    const base = index * SPAN_SIZE;
    return span.subarray(Math.max(0, start - base), Math.min(span.length, end - base));
  }

  private cachedSpan(index: number): Buffer | undefined {
    if (this.recent?.index === index) return this.recent.buffer;
    if (this.previous?.index === index) return this.previous.buffer;
    return this.cache?.get(index);
  }

  /** Runs the cursor (starting a new one if needed) until it has produced span `index`. */
  private async decodeSpan(index: number): Promise<Buffer | undefined> {
    this.assertOpen();
    if (this.pendingImport !== undefined) await this.takePendingImport();
    if (this.knownSize !== undefined && index * SPAN_SIZE >= this.knownSize) return undefined;
    if (this.failure !== undefined && index >= this.failure.span) throw this.failure.error;
    let cursor = this.cursor;
    // Behind the cursor, or far ahead of it with a checkpoint closer than the cursor: start afresh.
    if (
      cursor === undefined ||
      cursor.nextIndex > index ||
      this.checkpoints.offsetBefore(index * SPAN_SIZE) > cursor.position + SPAN_SIZE
    ) {
      cursor?.stop();
      cursor = this.startCursor(this.restartPoint(index * SPAN_SIZE));
      this.cursor = cursor;
    }
    for (;;) {
      let span: Buffer | undefined;
      const spanIndex = cursor.nextIndex;
      try {
        span = await cursor.next();
      } catch (error) {
        throw this.fail(cursor, error);
      }
      this.assertOpen();
      if (span === undefined) {
        this.ended(cursor, cursor.position);
        return undefined;
      }
      // Only read-ahead needs the second slot; without it `cacheBytes: 0` keeps just the latest span.
      if (this.readsAhead) this.previous = this.recent;
      this.recent = { index: spanIndex, buffer: span };
      this.cache?.set(spanIndex, span);
      if (span.length < SPAN_SIZE) {
        cursor.stop();
        this.ended(cursor, spanIndex * SPAN_SIZE + span.length);
      }
      if (spanIndex === index) return span;
      if (this.cursor === undefined) return undefined; // the stream ended before span `index`
    }
  }

  private async takePendingImport(): Promise<void> {
    const pending = this.pendingImport;
    this.pendingImport = undefined;
    const bytes = await pending?.load().catch(() => undefined);
    this.assertOpen();
    if (pending === undefined || bytes === undefined) return;
    try {
      this.importCheckpoints(bytes);
    } catch (error) {
      if (!(error instanceof ImgfsError)) throw error;
      await pending.rejected(error);
    }
  }

  /** A cursor reached the end of the stream, which is `size` bytes long. */
  private ended(cursor: SpanCursor, size: number): void {
    this.knownSize = size;
    if (this.cursor === cursor) {
      if (this.cursorRecords) this.checkpoints.finish(size);
      this.cursor = undefined;
    }
  }

  /** Drops a cursor whose decoder failed; remembers failures that decoding again would repeat. */
  private fail(cursor: SpanCursor, error: unknown): unknown {
    cursor.stop();
    if (this.cursor === cursor) this.cursor = undefined;
    if (error instanceof ImgfsError) {
      error.locate({ archive: this.name, offset: cursor.position });
      if (STICKY.has(error.code)) this.failure = { span: Math.floor(cursor.position / SPAN_SIZE), error };
    }
    return error;
  }

  private startCursor(from: Checkpoint): SpanCursor {
    this.counters.cursors += 1;
    const counters = this.counters;
    const raw = this.raw;
    /** How far into `raw` the decoder has read (it may open `raw` more than once). */
    let rawEnd = from.rawOffset;
    let produced = from.outOffset;
    const isClosed = (): boolean => this.closed;
    const name = this.name;
    const maxRatio = this.maxRatio;
    const ratioSlack = this.ratioSlack;
    const compression = this.compression;

    const input: RawInput = async function* (rawOffset) {
      const stream = raw.createReadStream(rawOffset);
      let at = rawOffset;
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          if (isClosed()) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: name });
          at += chunk.length;
          rawEnd = Math.max(rawEnd, at);
          counters.rawBytesRead += chunk.length;
          yield chunk;
        }
      } finally {
        stream.destroy();
      }
    };

    const onOutput = (length: number): void => {
      const compressed = raw.size ?? rawEnd;
      const limit = maxRatio * compressed + ratioSlack;
      if (produced + length > limit) {
        throw new ImgfsError(
          'ELIMIT',
          `decompressed size exceeds ${maxRatio}× the compressed size (${compression} bomb?); raise with option maxRatio`,
          { archive: name, offset: produced },
        );
      }
      produced += length;
      counters.inflatedBytes += length;
    };

    // The cursor that starts at the last checkpoint is the one that gets past it: it records more.
    this.cursorRecords = this.shouldRecord(from);
    const checkpoints = this.checkpoints;
    const recording = this.cursorRecords
      ? {
          spacing: this.checkpointSpacing,
          onCheckpoint: (checkpoint: Checkpoint) => {
            if (checkpoints.add(checkpoint)) counters.recorded += 1;
          },
        }
      : undefined;
    const decoded = this.inflater.decode(input, { name, from, onOutput, recording, rawSize: raw.size });
    return new SpanCursor(decoded, from, SPAN_SIZE);
  }

  /** Whether a cursor about to start at `from` records checkpoints (see the `checkpoints` option). */
  private shouldRecord(from: Checkpoint): boolean {
    if (this.policy === 'off' || this.checkpoints.complete || !this.checkpoints.isLast(from)) return false;
    if (this.policy === 'eager' || this.inflater.recordsFreely) return true;
    return this.counters.cursors > 2; // lazy: the first pass and the first restart do not record
  }

  private rawSize(): number {
    const size = this.raw.size;
    if (size === undefined) throw new ImgfsError('ECACHE', 'checkpoints need a compressed source of known size', { archive: this.name });
    return size;
  }

  private serialised<T>(operation: () => Promise<T>): Promise<T> {
    return this.queue.run(operation);
  }

  private assertOpen(): void {
    if (this.closed) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: this.name });
  }
}
