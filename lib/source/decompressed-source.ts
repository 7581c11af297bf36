import type { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { ImgfsError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import { STREAM_START, type Checkpoint, type Inflater } from './inflater.js';
import { clampRead, clampStream } from './range.js';
import { createRangeStream } from './range-stream.js';
import { SpanCursor } from './span-cursor.js';

/** Decompressed bytes are cached in spans of this size. */
export const SPAN_SIZE = 1024 * 1024;
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
/**
 * Above deflate's own ceiling (about 1032:1), so no honest gzip layer, not even one holding a huge
 * file of zeros (a sparse /var/log/lastlog), can trip it; zstd reaches 30 000:1 and more, which is
 * where a bomb comes from.
 */
export const DEFAULT_MAX_RATIO = 1100;
/** Allowed on top of `maxRatio × compressed size`, so small streams are not judged by their ratio. */
const RATIO_SLACK = 64 * 1024 * 1024;

export interface DecompressOptions {
  /** Bytes of decompressed spans kept in memory (LRU), default 64 MiB. 0 keeps only the latest span. */
  cacheBytes?: number;
  /**
   * Largest allowed decompressed size as a multiple of the compressed size (plus 64 MiB), default 1100;
   * `Infinity` disables the check. Beyond it reads reject with ELIMIT.
   */
  maxRatio?: number;
}

/** Counters for tests and benchmarks. */
export interface DecompressStats {
  /** Decoders started after the first one (a read behind the cursor that the cache could not serve). */
  restarts: number;
  /** Compressed bytes the decoders have read, summed over all of them. */
  rawBytesRead: number;
  /** Decompressed bytes the decoders have produced, summed over all of them. */
  inflatedBytes: number;
  /** Bytes currently held by the span cache. */
  cachedBytes: number;
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
 * span it passes, so reads at increasing offsets decode the stream once. A miss behind the cursor starts
 * a new cursor from the best checkpoint (`restartPoint`; today always the start of the stream). Reads are
 * serialised: there is one cursor. Closing does not close `raw`: whoever opened it closes it.
 */
export class DecompressedSource implements ByteSource {
  readonly seekable = false;
  readonly name: string;
  readonly compression: 'gzip' | 'zstd';
  private knownSize: number | undefined;
  private closed = false;
  private readonly cache: LRUCache<number, Buffer> | undefined;
  /** The span produced last, kept outside the cache so a sequential reader never depends on the cache. */
  private recent: { index: number; buffer: Buffer } | undefined;
  private cursor: SpanCursor | undefined;
  private failure: Failure | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly maxRatio: number;
  private readonly counters = { cursors: 0, rawBytesRead: 0, inflatedBytes: 0 };

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
    this.name = raw.name;
    this.compression = inflater.compression;
    this.maxRatio = maxRatio;
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
    };
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.assertOpen();
    const { start, end } = clampRead(offset, length, this.knownSize ?? Infinity);
    if (end <= start) return Buffer.alloc(0);
    return this.fromCache(start, end) ?? this.serialised(() => this.readSpans(start, end));
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
    this.cache?.clear();
  }

  /**
   * Where a cursor that must produce the span starting at `offset` begins. The single place that decides
   * restarts: checkpoints recorded during earlier passes plug in here.
   */
  private restartPoint(_offset: number): Checkpoint {
    return STREAM_START;
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
    return this.cache?.get(index);
  }

  /** Runs the cursor (starting a new one if needed) until it has produced span `index`. */
  private async decodeSpan(index: number): Promise<Buffer | undefined> {
    this.assertOpen();
    if (this.knownSize !== undefined && index * SPAN_SIZE >= this.knownSize) return undefined;
    if (this.failure !== undefined && index >= this.failure.span) throw this.failure.error;
    if (this.cursor === undefined || this.cursor.nextIndex > index) {
      this.cursor?.stop();
      this.cursor = this.startCursor(this.restartPoint(index * SPAN_SIZE));
    }
    const cursor = this.cursor;
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
        this.knownSize = cursor.position;
        this.cursor = undefined;
        return undefined;
      }
      this.recent = { index: spanIndex, buffer: span };
      this.cache?.set(spanIndex, span);
      if (span.length < SPAN_SIZE) {
        this.knownSize = spanIndex * SPAN_SIZE + span.length;
        cursor.stop();
        this.cursor = undefined;
      }
      if (spanIndex === index) return span;
      if (this.cursor === undefined) return undefined; // the stream ended before span `index`
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
    let rawRead = 0;
    let produced = from.outOffset;
    const isClosed = (): boolean => this.closed;
    const name = this.name;
    const maxRatio = this.maxRatio;
    const compression = this.compression;

    async function* input(): AsyncGenerator<Buffer, void, undefined> {
      const stream = raw.createReadStream(from.rawOffset);
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          if (isClosed()) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: name });
          rawRead += chunk.length;
          counters.rawBytesRead += chunk.length;
          yield chunk;
        }
      } finally {
        stream.destroy();
      }
    }

    const onOutput = (length: number): void => {
      const compressed = raw.size ?? from.rawOffset + rawRead;
      const limit = maxRatio * compressed + RATIO_SLACK;
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

    const decoded = this.inflater.decode(input(), { name, from, onOutput });
    return new SpanCursor(decoded, from, SPAN_SIZE);
  }

  private serialised<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation);
    this.queue = result.then(
      () => {},
      () => {},
    );
    return result;
  }

  private assertOpen(): void {
    if (this.closed) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: this.name });
  }
}
