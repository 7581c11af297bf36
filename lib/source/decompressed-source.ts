import type { Readable } from 'node:stream';
import { ImgfsError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import { CheckpointIndex, type StoredFile } from './checkpoint-index.js';
import { checkPolicy, DEFAULT_CHECKPOINT_SPACING, shouldRecord, type CheckpointPolicy } from './checkpoint-policy.js';
import { OUTPUT_BUFFER_SIZE, type Checkpoint, type Inflater, type RawInput, type UnsettledCheckpoint } from './inflater.js';
import { clampRead, clampStream } from './range.js';
import { createRangeStream } from './range-stream.js';
import { RatioLimit } from './ratio-limit.js';
import { readSmall } from './read-small.js';
import { SerialQueue } from './serial-queue.js';
import { cutSpan, DEFAULT_CACHE_BYTES, SPAN_SIZE, SpanCache } from './span-cache.js';
import { SpanCursor } from './span-cursor.js';

export { DEFAULT_CACHE_BYTES, SPAN_SIZE } from './span-cache.js';
export { DEFAULT_CHECKPOINT_SPACING, type CheckpointPolicy } from './checkpoint-policy.js';
export { DEFAULT_MAX_RATIO, DEFAULT_RATIO_SLACK } from './ratio-limit.js';

export interface DecompressOptions {
  /** Bytes of decompressed spans kept in memory (LRU), default 64 MiB. 0 keeps only the latest span. */
  cacheBytes?: number;
  /**
   * Largest allowed decompressed size as a multiple of the compressed size, plus `ratioSlack` (defaults
   * and reasons: lib/limits.ts); `Infinity` disables the check. Beyond it reads reject with ELIMIT.
   */
  maxRatio?: number;
  /** Decompressed bytes always allowed on top of `maxRatio × compressed size` (default: RATIO_SLACK). */
  ratioSlack?: number;
  /** When to record checkpoints (see CheckpointPolicy); default 'lazy'. */
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
  /** Background decodes of the span after a read (see `readAhead`) started so far. */
  readAheads: number;
}

/** Checkpoints to import before the first decoding (see `deferCheckpointImport`). */
interface PendingImport {
  load: () => Promise<Buffer | StoredFile | undefined>;
  rejected: (error: ImgfsError) => void | Promise<void>;
}

/** An error that decoding again would only reproduce: remembered, so later reads fail at once. */
interface Failure {
  span: number;
  error: ImgfsError;
}

/** Evicted spans kept for decoding into: a few, so that memory stays bounded by the cache. */
const MAX_SPARES = 4;

/**
 * Spans decoded ahead of `read` callers: enough that a reader of small files in stream order (a mount
 * read in directory order, which is about archive order) finds each span decoded by the thread pool
 * while it was busy with the one before. Bounded by the cache (see readAhead), so it costs no memory.
 */
const READ_AHEAD_SPANS = 4;

const STICKY: ReadonlySet<string> = new Set(['ECOMPRESSION', 'ETRUNCATED', 'ELIMIT']);

/**
 * Compressed bytes read at once from a seekable source: from 64 KiB, doubling up to 512 KiB, so that a
 * large layer costs few round trips to the thread pool (each chunk is also one write to the decoder)
 * and a small one no large buffer (and progress, counted in compressed bytes read, moves in steps).
 */
const RAW_READ_FIRST = 64 * 1024;
const RAW_READ_MAX = 512 * 1024;
const RAW_RING = 3;

/**
 * The largest first read that decodes only its own bytes (see `readDirect`): one stream chunk, so that
 * a warm `cat` of a small file inflates from the checkpoint before it to its end and no further.
 */
const DIRECT_READ_MAX = 64 * 1024;

/** Reads in a row, each where the last ended, that make a re-read streaming (see `read`). */
const STREAMING_READS = 3;

/** How far before a read out of order its checkpoint may lie for `readBehind` to decode from it. */
const BEHIND_MAX = 1024 * 1024;

function checkSpacing(spacing: number): number {
  if (!Number.isSafeInteger(spacing) || spacing < 1) throw new RangeError(`checkpointSpacing must be a positive integer, got ${spacing}`);
  return spacing;
}

/**
 * The compressed bytes from `rawOffset` to the end: from a seekable source (a file, a slice of one) in
 * growing positional reads, the next one always in flight while the decoder works on the last, otherwise
 * through its stream. Leaving early releases the stream (a read still in flight is dropped).
 */
async function* rawChunks(raw: ByteSource, rawOffset: number, recycle: boolean): AsyncGenerator<Buffer, void, undefined> {
  if (raw.seekable) {
    // With `recycle`, reads go round RAW_RING buffers: the one in the consumer's hands, the next one
    // read ahead, and the one being read into, which the consumer finished with when it asked for more.
    const readInto = recycle ? raw.readInto?.bind(raw) : undefined;
    const ring: Buffer[] = [];
    let turn = 0;
    const readAt = (at: number, size: number): Promise<Buffer> => {
      if (readInto === undefined) return raw.read(at, size);
      const slot = turn++ % RAW_RING;
      const buffer = (ring[slot] ??= Buffer.allocUnsafe(RAW_READ_MAX));
      return readInto(buffer.subarray(0, size), at).then((got) => buffer.subarray(0, got));
    };
    let at = rawOffset;
    let size = RAW_READ_FIRST;
    let next = readAt(at, size);
    for (;;) {
      const chunk = await next;
      if (chunk.length === 0) return;
      at += chunk.length;
      size = Math.min(2 * size, RAW_READ_MAX);
      next = readAt(at, size);
      // Dropped unread when the consumer leaves early: its failure (a closed source) is nobody's.
      next.catch(() => undefined);
      yield chunk;
    }
  }
  const stream = raw.createReadStream(rawOffset);
  try {
    yield* stream as AsyncIterable<Buffer>;
  } finally {
    stream.destroy();
  }
}

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
  private readonly spans: SpanCache;
  /** A background decode of the next span is queued (see readAhead). */
  private readingAhead = false;
  /**
   * Hears of each span decoded for `read` callers (not for a walker of `readView`), and of the cached
   * spans a read is served from, with its first byte's offset, before the read resolves: a mount hands
   * them to its C reads. The span is only lent: it may be decoded into again later, so a listener
   * copies what it keeps.
   */
  onReadSpan: ((start: number, span: Buffer) => void) | undefined;
  /** The span where the last `read` ended (-1: none yet), to tell reads in stream order. */
  private lastReadSpan = -1;
  /** Where the last `read` ended, and the furthest any read reached (-1: none yet): to tell re-reads. */
  private lastReadEnd = -1;
  private readUpTo = -1;
  /** Reads in a row that each started where the one before ended. */
  private readsInARow = 0;
  /** The span index the latest reader asked to be read ahead from (see readAhead). */
  private aheadOf = 0;
  /** How many spans past `aheadOf` that reader wants decoded. */
  private aheadDepth = 0;
  private cursor: SpanCursor | undefined;
  /** Whether `cursor` records checkpoints. */
  private cursorRecords = false;
  private checkpoints: CheckpointIndex;
  private policy: CheckpointPolicy;
  private spacing: number;
  private failure: Failure | undefined;
  private readonly queue = new SerialQueue();
  private readonly ratio: RatioLimit;
  private readonly counters = { cursors: 0, rawBytesRead: 0, inflatedBytes: 0, recorded: 0, readAheads: 0 };
  private pendingImport: PendingImport | undefined;
  /** Told when a window of checkpoints imported from a file is found damaged (see takePendingImport). */
  private checkpointsDamaged: ((error: ImgfsError) => void) | undefined;
  /** The removal of a damaged checkpoint file, under way. */
  private droppingCheckpoints: Promise<void> | undefined;
  /**
   * Memory of evicted spans, for the inflater to decode into (`outputBuffer`): decoding a large layer
   * into fresh megabyte buffers costs page faults and major GCs about as dear as the decoding.
   */
  private readonly spare: Buffer[] = [];
  /** Whether the inflater takes output buffers from here (only then are spares kept). */
  private sparesWanted = false;
  /** The span `readView` handed out last: never recycled, whatever the cache does meanwhile. */
  private viewed: Buffer | undefined;
  /** Whether a read has been served yet: only the first may be a direct one. */
  private readBefore = false;

  constructor(
    readonly raw: ByteSource,
    private readonly inflater: Inflater,
    options: DecompressOptions = {},
  ) {
    const spacing = checkSpacing(options.checkpointSpacing ?? DEFAULT_CHECKPOINT_SPACING);
    this.spans = new SpanCache(options.cacheBytes ?? DEFAULT_CACHE_BYTES, (span) => this.keepSpare(span));
    this.ratio = new RatioLimit(options.maxRatio, options.ratioSlack);
    this.checkpoints = new CheckpointIndex(inflater.compression);
    this.policy = checkPolicy(options.checkpoints ?? 'lazy');
    this.spacing = spacing;
    this.name = raw.name;
    this.compression = inflater.compression;
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
      cachedBytes: this.spans.bytes,
      checkpoints: this.checkpoints.count,
      checkpointBytes: this.checkpoints.bytes,
      checkpointsRecorded: this.counters.recorded,
      readAheads: this.counters.readAheads,
    };
  }

  /**
   * Imports checkpoints from `load` just before this source first has to decode, so that opening many
   * layers costs nothing until one is read. `load` resolving to undefined means there are none; an
   * export that `importCheckpoints` rejects goes to `rejected` (to remove it, say) and decoding goes on
   * without it.
   */
  deferCheckpointImport(load: PendingImport['load'], rejected: PendingImport['rejected']): void {
    this.pendingImport = { load, rejected };
  }

  /** The `checkpoints` option; changing it affects cursors started afterwards. */
  get checkpointPolicy(): CheckpointPolicy {
    return this.policy;
  }

  set checkpointPolicy(policy: CheckpointPolicy) {
    this.policy = checkPolicy(policy);
  }

  /** The `checkpointSpacing` option; changing it affects cursors started afterwards. */
  get checkpointSpacing(): number {
    return this.spacing;
  }

  set checkpointSpacing(spacing: number) {
    this.spacing = checkSpacing(spacing);
  }

  private unusableCheckpoints(reason: string, cause?: unknown): ImgfsError {
    return new ImgfsError('ECACHE', `unusable checkpoints: ${reason}`, { archive: this.name, cause });
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
   * ones known: their bytes, or their file read where it lies (only the table now, a window when a read
   * starts from it: CheckpointIndex.open). Anything that is not a valid export for this stream (another
   * codec or size, a bad checksum, offsets out of order) is rejected with ECACHE and changes nothing.
   */
  importCheckpoints(exported: Buffer | StoredFile): void {
    this.assertOpen();
    let imported: CheckpointIndex;
    try {
      imported = Buffer.isBuffer(exported)
        ? CheckpointIndex.parse(exported, this.compression, this.rawSize())
        : CheckpointIndex.open(exported, this.compression, this.rawSize(), (reason) => this.checkpointsDamaged?.(this.unusableCheckpoints(reason)));
    } catch (error) {
      throw this.unusableCheckpoints((error as Error).message, error);
    }
    if (!imported.reachesFurtherThan(this.checkpoints)) return;
    this.checkpoints = imported;
    if (imported.size !== undefined) this.knownSize = imported.size;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.assertOpen();
    const { start, end } = clampRead(offset, length, this.knownSize ?? Infinity);
    if (end <= start) return Buffer.alloc(0);
    // Reads in stream order (this one starts in the span where the last one ended, or a few spans on:
    // a mount's C reads answer those read ahead without asking here) get a cursor and the spans after
    // them decoded ahead; small reads here and there are decoded on their own (see readBehind).
    const first = Math.floor(start / SPAN_SIZE);
    const inOrder = this.lastReadSpan < 0 ? first === 0 : first >= this.lastReadSpan && first <= this.lastReadSpan + READ_AHEAD_SPANS + 1;
    // A read of bytes that reads have gone past already: a page here and there read again (a mount's
    // pages the kernel dropped, met in a later pass in file order a few spans apart, a run of them
    // sometimes back to back). However close to the last one, it is decoded on its own (readBehind),
    // not by a cursor restarted or run on, with spans read ahead, for a reader that is not streaming:
    // only STREAMING_READS reads in a row, each where the last ended, get a cursor again.
    this.readsInARow = start === this.lastReadEnd ? this.readsInARow + 1 : 0;
    const rereads = start < this.readUpTo && this.readsInARow < STREAMING_READS;
    this.lastReadSpan = Math.floor((end - 1) / SPAN_SIZE);
    this.lastReadEnd = end;
    this.readUpTo = Math.max(this.readUpTo, end);
    const ahead = inOrder ? READ_AHEAD_SPANS : 0;
    const cached = this.spans.read(start, end);
    if (cached !== undefined) {
      if (this.onReadSpan !== undefined) this.announce(first, this.lastReadSpan);
      // Read ahead from hits too, or a reader going front to back would wait on every other span.
      this.readAhead(this.lastReadSpan + 1, ahead);
      return cached;
    }
    if (!this.readBefore && end - start <= DIRECT_READ_MAX) {
      this.readBefore = true;
      const direct = await this.queue.run(() => this.readDirect(start, end));
      if (direct !== undefined) return direct;
    }
    this.readBefore = true;
    if ((!inOrder || rereads) && end - start <= DIRECT_READ_MAX * 2) {
      const behind = await this.queue.run(() => this.readBehind(start, end, rereads));
      if (behind !== undefined) return behind;
    }
    const bytes = await this.queue.run(() => this.readSpans(start, end));
    this.readAhead(Math.floor((start + Math.max(bytes.length, 1) - 1) / SPAN_SIZE) + 1, ahead);
    return bytes;
  }

  /**
   * The rest of the span that holds `offset`, as a view of the cached span. A walk over the whole
   * stream (indexing) then copies nothing, and each span read starts the decoding of the next one in
   * the background, beside the walk. The span viewed last is never changed, whatever other reads make
   * the cache do; an earlier one may be decoded into again once the cache has evicted it (zstd: see
   * `keepSpare`). A walker that views spans one after another holds on to the latest only.
   */
  async readView(offset: number): Promise<Buffer> {
    this.assertOpen();
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`offset must be a non-negative integer, got ${offset}`);
    if (this.knownSize !== undefined && offset >= this.knownSize) return Buffer.alloc(0);
    const index = Math.floor(offset / SPAN_SIZE);
    const span = this.spans.get(index) ?? (await this.queue.run(async () => this.spans.get(index) ?? (await this.decodeSpan(index))));
    if (span === undefined) return Buffer.alloc(0);
    this.viewed = span;
    this.readAhead(index + 1);
    return span.subarray(Math.min(offset - index * SPAN_SIZE, span.length));
  }

  /** Tells `onReadSpan` of spans `from` to `to` (cached ones, read again: a listener may have let them go). */
  private announce(from: number, to: number): void {
    for (let index = from; index <= to; index += 1) {
      const span = this.spans.get(index);
      if (span !== undefined) this.onReadSpan?.(index * SPAN_SIZE, span);
    }
  }

  /**
   * After a read, decodes the spans after it in the background (one at a time, up to `depth` spans
   * past span `index - 1`), so that a reader going front to back (a scan hashing files, `cat` of a
   * large file, a mount's reads in directory order) does its own work while the decoder works instead
   * of after it. Only while the cache keeps those spans beside two more, and only from right at the
   * cursor; a failure is left for the read that needs that span. A walker of `readView` reads one
   * span ahead; readers of `read` (copies of small ranges, many per span) READ_AHEAD_SPANS.
   */
  private readAhead(index: number, depth = 1): void {
    this.aheadOf = index;
    this.aheadDepth = depth;
    const cursor = this.cursor;
    const reach = Math.min(depth, this.spans.capacity - 2);
    if (depth < 1 || !this.spans.holdsTwo || this.readingAhead || this.closed || cursor === undefined) return;
    const next = cursor.nextIndex;
    if (next < index || next >= index + Math.max(1, reach) || this.spans.get(next) !== undefined) return;
    this.readingAhead = true;
    this.counters.readAheads += 1;
    this.queue.run(async () => {
      if (!this.closed && this.cursor === cursor && cursor.nextIndex === next) await this.decodeSpan(next, depth > 1);
    })
      .then(() => {
        this.readingAhead = false;
        this.readAhead(this.aheadOf, this.aheadDepth);
      })
      .catch(() => {
        this.readingAhead = false;
      });
  }

  /**
   * Lets go of the decoded spans kept for later reads (a reader that is done with this stream for now,
   * like a scan that hashed a layer in the pass that indexed it); later reads decode again.
   */
  dropSpans(): void {
    this.spans.clear();
  }

  /** Streams span by span through `read`: memory stays at one chunk, backpressure stops decoding. */
  createReadStream(start?: number, end?: number): Readable {
    const range = clampStream(start, end, this.knownSize);
    return createRangeStream((o, l) => this.read(o, l), range.start, range.end);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.droppingCheckpoints;
    this.cursor?.stop();
    this.cursor = undefined;
    this.spans.clear();
    this.spare.length = 0;
    this.viewed = undefined;
  }

  /**
   * Where a cursor that must produce the span starting at `offset` begins. The single place that decides
   * restarts: checkpoints recorded during earlier passes plug in here.
   */
  private restartPoint(offset: number): Checkpoint {
    return this.checkpoints.find(offset);
  }

  private async readSpans(start: number, end: number): Promise<Buffer> {
    const pieces: Buffer[] = [];
    for (let index = Math.floor(start / SPAN_SIZE); index * SPAN_SIZE < end; index += 1) {
      const span = this.spans.get(index) ?? (await this.decodeSpan(index, true));
      if (span === undefined) break; // past the end of the stream
      pieces.push(cutSpan(span, index, start, end));
      if (span.length < SPAN_SIZE) break;
    }
    return Buffer.concat(pieces);
  }

  /**
   * A small first read, decoded from the last checkpoint at or before `start` to `end` only: no span is decoded whole, none is cached, no cursor is kept, nothing is read ahead. A warm
   * lookup of one small file then inflates on average half a checkpoint spacing instead of that plus a
   * span plus the span after it. Undefined (the caller reads spans) when there is no such checkpoint
   * past the stream's start, when a cursor or failure exists already, or the read reaches past the end:
   * a first pass from the start is left to the cursor, which may record checkpoints and digests.
   */
  private async readDirect(start: number, end: number): Promise<Buffer | undefined> {
    this.assertOpen();
    if (this.pendingImport !== undefined) await this.takePendingImport();
    if (this.cursor !== undefined || this.failure !== undefined || this.checkpoints.offsetBefore(start) === 0) return undefined;
    if (this.knownSize !== undefined && end > this.knownSize) return undefined;
    const from = this.restartPoint(start);
    const quick = await this.readBetweenCheckpoints(from, start, end);
    if (quick !== undefined) return quick;
    const { input, onOutput } = this.decoderIO(from);
    const decoded = this.inflater.decode(input, { name: this.name, from, onOutput, rawSize: this.raw.size, outputChunk: DIRECT_READ_MAX });
    const out = Buffer.allocUnsafe(end - start);
    let position = from.outOffset;
    let filled = 0;
    try {
      for await (const chunk of decoded) {
        const chunkEnd = position + chunk.length;
        if (chunkEnd > start) filled += chunk.copy(out, filled, Math.max(0, start - position), Math.min(chunk.length, end - position));
        position = chunkEnd;
        if (filled === out.length) break;
      }
    } catch (error) {
      if (error instanceof ImgfsError) error.locate({ archive: this.name, offset: position });
      throw error;
    } finally {
      await decoded.return(undefined).catch(() => undefined);
    }
    return filled === out.length ? out : undefined;
  }

  /**
   * A small read out of stream order, behind the cursor (or with none), whose spans the cache no
   * longer holds, decoded between the checkpoints around it when the one before lies at most
   * BEHIND_MAX before `start`:
   * only where checkpoints are close (see `checkpointSpacing`). A re-read here and there (a mount's
   * pages the kernel dropped) then decodes a few hundred KiB and leaves the cursor where it is,
   * instead of restarting it a span or more back. `evenAheadOfCursor`: a re-read (see `read`) ahead
   * of the cursor too, which would otherwise be run on to it. Undefined: the spans are decoded as usual.
   */
  private async readBehind(start: number, end: number, evenAheadOfCursor: boolean): Promise<Buffer | undefined> {
    const cursor = this.cursor;
    if (!evenAheadOfCursor && cursor !== undefined && cursor.nextIndex <= Math.floor(start / SPAN_SIZE)) return undefined;
    if (this.failure !== undefined || (this.knownSize !== undefined && end > this.knownSize)) return undefined;
    if (this.spans.read(start, end) !== undefined) return undefined;
    const from = this.restartPoint(start);
    if (start - from.outOffset > BEHIND_MAX) return undefined;
    return this.readBetweenCheckpoints(from, start, end);
  }

  /**
   * `readDirect` when a checkpoint after `end` bounds the compressed bytes: one positional read of
   * about the share of them the read needs (all of them if that falls short), decoded synchronously up
   * to `end` only, the bytes before `start` not kept (Inflater.decodeSync). Undefined when that does not apply or does not give the
   * bytes: the streaming decoder then does the read.
   */
  private async readBetweenCheckpoints(from: Checkpoint, start: number, end: number): Promise<Buffer | undefined> {
    const next = this.checkpoints.after(end - 1);
    if (this.inflater.decodeSync === undefined || !this.raw.seekable || next === undefined || next.outOffset < end) return undefined;
    const outSpan = next.outOffset - from.outOffset;
    // The bytes up to the next checkpoint's byte (its block may start inside it), one more for slack.
    const rawSpan = next.rawOffset + 1 - from.rawOffset;
    const share = Math.min(rawSpan, Math.ceil((rawSpan * (end - from.outOffset)) / Math.max(1, outSpan) * 1.25) + 16 * 1024);
    for (const rawLength of share < rawSpan ? [share, rawSpan] : [rawSpan]) {
      // Synchronous where the source allows (about a megabyte at most, decoded synchronously next): a
      // warm lookup then starts no thread pool at all.
      const compressed = await readSmall(this.raw, from.rawOffset, rawLength);
      this.counters.rawBytesRead += compressed.length;
      const skip = start - from.outOffset;
      const decoded = this.inflater.decodeSync(compressed, from, skip, end - start);
      if (decoded === undefined) return undefined;
      this.ratio.check(from.outOffset, skip + decoded.length, this.raw.size ?? from.rawOffset + rawLength, this.name, this.compression);
      this.counters.inflatedBytes += skip + decoded.length;
      if (decoded.length === end - start) return decoded;
    }
    return undefined;
  }

  /** Runs the cursor (starting a new one if needed) until it has produced span `index`. */
  private async decodeSpan(index: number, forReads = false): Promise<Buffer | undefined> {
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
      this.spans.add(spanIndex, span);
      if (forReads) this.onReadSpan?.(spanIndex * SPAN_SIZE, span);
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
    // A window of a file read where it lies may turn out damaged later, when a read needs it: the file
    // goes then, as it would have at import (close waits for that).
    this.checkpointsDamaged = (error) => {
      this.checkpointsDamaged = undefined;
      this.droppingCheckpoints = Promise.resolve(pending.rejected(error)).catch(() => {});
    };
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

  /** Keeps an evicted span's memory for the inflater, when it is a whole buffer of its own. */
  private keepSpare(span: Buffer): void {
    // A walker may still be reading the span it viewed last, even if other reads made the cache evict it.
    if (!this.sparesWanted || this.closed || this.spare.length >= MAX_SPARES || span === this.viewed) return;
    if (span.byteOffset !== 0 || span.length !== OUTPUT_BUFFER_SIZE || span.buffer.byteLength !== OUTPUT_BUFFER_SIZE) return;
    this.spare.push(Buffer.from(span.buffer, 0, OUTPUT_BUFFER_SIZE));
  }

  private startCursor(from: Checkpoint): SpanCursor {
    this.counters.cursors += 1;
    const counters = this.counters;
    const { input, onOutput } = this.decoderIO(from);
    const name = this.name;
    const raw = this.raw;

    // The cursor that starts at the last checkpoint is the one that gets past it: it records more.
    this.cursorRecords = shouldRecord(this.policy, this.checkpoints, from, this.inflater.recordsFreely, this.counters.cursors);
    const checkpoints = this.checkpoints;
    const recording = this.cursorRecords
      ? {
          spacing: this.spacing,
          onCheckpoint: (checkpoint: Checkpoint) => {
            if (checkpoints.add(checkpoint)) counters.recorded += 1;
          },
          // Most checkpoints of a pass are never resumed at: their trials wait until one is.
          onUnsettled: (checkpoint: UnsettledCheckpoint) => {
            if (checkpoints.addUnsettled(checkpoint)) counters.recorded += 1;
          },
        }
      : undefined;
    const spare = this.spare;
    const outputBuffer = (): Buffer => {
      this.sparesWanted = true;
      return spare.pop() ?? Buffer.allocUnsafe(OUTPUT_BUFFER_SIZE);
    };
    const decoded = this.inflater.decode(input, { name, from, onOutput, recording, rawSize: raw.size, outputBuffer });
    return new SpanCursor(decoded, from, SPAN_SIZE);
  }

  /**
   * What a decoder that starts at `from` reads (the compressed bytes, counted, failing once this source
   * is closed) and how its output is counted, against the ratio limit.
   */
  private decoderIO(from: Checkpoint): { input: RawInput; onOutput: (length: number) => void } {
    const counters = this.counters;
    const raw = this.raw;
    const name = this.name;
    const ratio = this.ratio;
    const compression = this.compression;
    const isClosed = (): boolean => this.closed;
    /** How far into `raw` the decoder has read (it may open `raw` more than once). */
    let rawEnd = from.rawOffset;
    let produced = from.outOffset;
    const input: RawInput = async function* (rawOffset, recycle = false) {
      let at = rawOffset;
      for await (const chunk of rawChunks(raw, rawOffset, recycle)) {
        if (isClosed()) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: name });
        at += chunk.length;
        rawEnd = Math.max(rawEnd, at);
        counters.rawBytesRead += chunk.length;
        yield chunk;
      }
    };
    const onOutput = (length: number): void => {
      ratio.check(produced, length, raw.size ?? rawEnd, name, compression);
      produced += length;
      counters.inflatedBytes += length;
    };
    return { input, onOutput };
  }

  private rawSize(): number {
    const size = this.raw.size;
    if (size === undefined) throw new ImgfsError('ECACHE', 'checkpoints need a compressed source of known size', { archive: this.name });
    return size;
  }

  private assertOpen(): void {
    if (this.closed) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: this.name });
  }
}
