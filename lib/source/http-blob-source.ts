/**
 * A blob on a web server (a registry layer) as a ByteSource, read with HTTP range requests. Until the
 * blob is known to be good, reads are served by one pass that streams it from its start, hashing it as
 * it goes: at its end the whole blob must hash to its digest, and a sha256 of every span is recorded
 * on the way (span-digests.ts). From then on, and in a later process that gets the span digests from
 * the index cache, a read fetches only the spans it needs (plus a read-ahead that grows while reads
 * are sequential), and each span must match its recorded sha256: EDIGEST otherwise. Nothing is written
 * to disk; recent spans stay in a bounded memory cache.
 */
import type { Hash } from 'node:crypto';
import { createHash } from '../lazy-crypto.js';
import type { Readable } from 'node:stream';
import { stream } from '../lazy-stream.js';
import { LRUCache } from 'lru-cache';
import { ImgfsError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import { clampRead, clampStream } from './range.js';
import { SerialQueue } from './serial-queue.js';
import { STREAM_CHUNK_SIZE } from './range-stream.js';
import { SpanDigests } from './span-digests.js';
import { UncheckedRangeSource } from './unchecked-range-source.js';

/** Bytes `[start, end)` of the blob, as they arrive (retries and resumption are the reader's). */
export type RangeReader = (start: number, end: number) => AsyncIterable<Buffer>;

/**
 * Unit of ranged fetching and of checking: 64 KiB, so a random read costs little more than it asks
 * for (a 1 GiB layer keeps 512 KiB of digests in the cache).
 */
export const VERIFY_SPAN_SIZE = 64 * 1024;
/** First request of a stream, doubled at each following one up to the maximum. */
const FIRST_STREAM_WINDOW = 2 * 1024 * 1024;
const MAX_STREAM_WINDOW = 32 * 1024 * 1024;
const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
/** Bytes of the blob's start kept (and cached, see knowHead): enough to sniff its compression. */
export const HEAD_BYTES = 512;
/** Spans a stream takes from the first pass at a time (1 MiB). */
const PASS_STEP = 16;
/** Largest read served ahead of the first pass (see farAhead). */
const MAX_PROVISIONAL = 1024 * 1024;

export interface HttpBlobOptions {
  spanSize?: number;
  /** Bytes of fetched spans kept in memory (default 16 MiB). */
  cacheBytes?: number;
}

/** The verifying first pass: a stream of the whole blob, cut into spans. */
interface Pass {
  chunks: AsyncIterator<Buffer>;
  /** Next span the pass produces. */
  nextSpan: number;
  carry: Buffer | undefined;
  hash: Hash;
  spans: SpanDigests;
  /** The blob's first bytes, kept once the pass has verified them. */
  head?: Buffer | undefined;
}

export class HttpBlobSource implements ByteSource {
  readonly seekable = false;
  readonly spanSize: number;
  /** Stored bytes fetched and requests made, for tests, benchmarks and progress. */
  readonly stats = { bytesFetched: 0, fetches: 0 };
  private spans: SpanDigests | undefined;
  private pass: Pass | undefined;
  private failure: ImgfsError | undefined;
  private pendingImport: (() => Promise<Buffer | undefined>) | undefined;
  /**
   * Spans fetched by range before the first pass got to them (a probe of the blob's tail, far ahead
   * of the pass): served unverified, and compared with the pass's bytes when it gets there.
   */
  private readonly provisional = new Map<number, Buffer>();
  private readonly cache: LRUCache<number, Buffer>;
  private readonly queue = new SerialQueue();
  private closed = false;
  /** The blob's first bytes, once seen by the verifying pass or handed over from the cache (knowHead). */
  private head: Buffer | undefined;

  constructor(
    readonly name: string,
    readonly size: number,
    /** `algorithm:hex` of the whole blob. */
    readonly digest: string,
    private readonly readRange: RangeReader,
    options: HttpBlobOptions = {},
  ) {
    this.spanSize = options.spanSize ?? VERIFY_SPAN_SIZE;
    const algorithm = digest.slice(0, digest.indexOf(':'));
    if (algorithm !== 'sha256' && algorithm !== 'sha512') {
      throw new ImgfsError('EDIGEST', `cannot verify blob ${digest}: unsupported digest algorithm`, { archive: name });
    }
    this.cache = new LRUCache<number, Buffer>({ maxSize: Math.max(options.cacheBytes ?? DEFAULT_CACHE_BYTES, this.spanSize), sizeCalculation: (bytes) => Math.max(1, bytes.length) });
  }

  /** Whether the blob has been checked against its digest (here, or in the process that cached the span digests). */
  get verified(): boolean {
    return this.spans !== undefined && this.pass === undefined;
  }

  knowHead(head: Buffer): void {
    this.head ??= Buffer.from(head.subarray(0, Math.min(head.length, this.size)));
  }

  /** The blob's first bytes (up to HEAD_BYTES), once the blob is verified; undefined before. */
  exportHead(): Buffer | undefined {
    return this.verified ? this.head : undefined;
  }

  /**
   * The blob read by plain ranged requests, unchecked (requests and bytes counted here too): only for a
   * reader that checks each byte it uses against digests of its own (unchecked-range-source.ts).
   */
  uncheckedRanges(): UncheckedRangeSource {
    return new UncheckedRangeSource(this.name, this.size, this.readRange, this.stats);
  }

  /** Span digests to import before the first fetch (from the index cache); a bad file is ignored. */
  deferSpanImport(load: () => Promise<Buffer | undefined>): void {
    this.pendingImport = load;
  }

  /** The span digests, once the blob is verified; undefined before. */
  exportSpans(): Buffer | undefined {
    return this.verified ? this.spans?.export() : undefined;
  }

  /**
   * Completes the check of the blob against its digest: streams whatever the first pass has not read
   * yet (a tar walk stops before the blob's last bytes). EDIGEST when it does not match.
   */
  finishVerification(): Promise<void> {
    return this.serialised(async () => {
      await this.importPending();
      if (this.verified) return;
      await this.advancePass(this.spanCount(), () => {});
    });
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.serialised(async () => {
      this.assertOpen();
      const { start, end } = clampRead(offset, length, this.size);
      if (end <= start) return Buffer.alloc(0);
      if (this.head !== undefined && end <= this.head.length) return this.head.subarray(start, end);
      const first = Math.floor(start / this.spanSize);
      const last = Math.floor((end - 1) / this.spanSize);
      const got = new Map<number, Buffer>();
      for (let span = first; span <= last; span++) {
        const cached = this.cache.get(span);
        if (cached !== undefined) got.set(span, cached);
      }
      if (got.size <= last - first) {
        await this.importPending();
        const passed = this.pass?.nextSpan ?? 0;
        let behind = false;
        for (let span = first; span <= last && span < passed; span++) behind ||= !got.has(span);
        if (!this.verified && behind) {
          // Behind the first pass: finish it, then fetch by range like any verified read.
          await this.advancePass(this.spanCount(), () => {});
        }
        if (!this.verified && this.farAhead(first, last)) {
          await this.fetchProvisional(first, last, got);
        } else if (!this.verified) {
          await this.advancePass(last + 1, (span, bytes) => {
            if (span >= first) got.set(span, bytes);
          });
        } else {
          let from = first;
          while (got.has(from)) from++;
          for await (const [span, bytes] of this.verifiedSpans(from, last + 1)) if (span <= last) got.set(span, bytes);
        }
      }
      const parts: Buffer[] = [];
      for (let span = first; span <= last; span++) {
        const bytes = got.get(span) as Buffer;
        const spanStart = span * this.spanSize;
        parts.push(bytes.subarray(Math.max(0, start - spanStart), Math.min(bytes.length, end - spanStart)));
      }
      // A view of a cached span when the read lies in one (a ByteSource's reader does not write to it).
      return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    });
  }

  /**
   * Before the blob is verified, a stream reads through the first pass. After, it makes ranged requests
   * of growing size (2 MiB, a checkpoint span, doubled up to 32 MiB), each streamed span by span and checked: a decoder
   * that stops pulling has downloaded little more than it used.
   */
  createReadStream(start?: number, end?: number): Readable {
    const range = clampStream(start, end, this.size);
    if (range.end <= range.start) return stream().Readable.from([]);
    return stream().Readable.from(this.streamBytes(range.start, range.end), { objectMode: false });
  }

  private async *streamBytes(start: number, end: number): AsyncGenerator<Buffer> {
    await this.serialised(() => this.importPending());
    if (!this.verified) {
      for (let at = start; at < end; ) {
        // At the first pass's front (an indexing pass decoding the layer), its spans as they come;
        // anywhere else, through `read`.
        const spans = await this.serialised(() => this.spansAtPassFront(at, end));
        for (const chunk of spans ?? [await this.read(at, Math.min(end - at, STREAM_CHUNK_SIZE))]) {
          if (chunk.length === 0) return;
          at += chunk.length;
          yield chunk;
        }
      }
      return;
    }
    let span = Math.floor(start / this.spanSize);
    const last = Math.floor((end - 1) / this.spanSize);
    const slice = (index: number, bytes: Buffer): Buffer => {
      const spanStart = index * this.spanSize;
      return bytes.subarray(Math.max(0, start - spanStart), Math.min(bytes.length, end - spanStart));
    };
    for (let window = FIRST_STREAM_WINDOW; span <= last; window = Math.min(window * 2, MAX_STREAM_WINDOW)) {
      // Spans still in memory (a decoder that reads the end of the blob again) cost no request.
      for (let cached = this.cache.get(span); cached !== undefined && span <= last; cached = this.cache.get(span)) {
        yield slice(span, cached);
        span += 1;
      }
      if (span > last) return;
      const until = Math.min(last + 1, span + Math.max(1, Math.floor(window / this.spanSize)));
      for await (const [index, bytes] of this.verifiedSpans(span, until)) {
        this.assertOpen();
        yield slice(index, bytes);
        span = index + 1;
      }
    }
  }

  /**
   * Up to PASS_STEP spans of the first pass, from `at` (cut to `[at, end)`), when `at` lies in the span
   * the pass produces next and nothing fetched ahead of the pass waits to be compared there; undefined
   * otherwise. The bytes are handed on as they arrived: no copy, and not cached.
   */
  private async spansAtPassFront(at: number, end: number): Promise<Buffer[] | undefined> {
    this.assertOpen();
    const first = Math.floor(at / this.spanSize);
    if (this.verified || first !== (this.pass?.nextSpan ?? 0) || this.provisional.size > 0) return undefined;
    const until = Math.min(this.spanCount(), first + PASS_STEP, Math.ceil(end / this.spanSize));
    const pieces: Buffer[] = [];
    const cut = (offset: number, bytes: Buffer): void => {
      const piece = bytes.subarray(Math.max(0, at - offset), Math.max(0, Math.min(bytes.length, end - offset)));
      if (piece.length > 0) pieces.push(piece);
    };
    await this.advancePass(until, (span, bytes) => cut(span * this.spanSize, bytes), cut);
    return pieces;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cache.clear();
    const pass = this.pass;
    this.pass = undefined;
    await pass?.chunks.return?.(undefined).catch(() => undefined);
  }

  /** Spans `[first, until)` by one ranged request, as they arrive, each checked against its digest. */
  private async *verifiedSpans(first: number, until: number): AsyncGenerator<[number, Buffer]> {
    const spans = this.spans as SpanDigests;
    this.stats.fetches += 1;
    let span = first;
    let parts: Buffer[] = [];
    let filled = 0;
    for await (const chunk of this.readRange(first * this.spanSize, Math.min(this.size, until * this.spanSize))) {
      this.stats.bytesFetched += chunk.length;
      let rest = chunk;
      while (rest.length > 0) {
        const piece = rest.subarray(0, spans.lengthOf(span) - filled);
        parts.push(piece);
        filled += piece.length;
        rest = rest.subarray(piece.length);
        if (filled < spans.lengthOf(span)) continue;
        const bytes = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
        if (!spans.matches(span, bytes)) {
          throw new ImgfsError('EDIGEST', `bytes ${span * this.spanSize}–${span * this.spanSize + bytes.length} of blob ${this.digest} differ from those verified against its digest`, {
            archive: this.name,
            offset: span * this.spanSize,
          });
        }
        this.cache.set(span, bytes);
        yield [span, bytes];
        span += 1;
        parts = [];
        filled = 0;
      }
    }
    if (span < until) throw new ImgfsError('ETRUNCATED', `blob ended at byte ${span * this.spanSize + filled} of ${this.size}`, { archive: this.name, offset: span * this.spanSize + filled });
  }

  /** Runs the first pass up to (not including) span `until`, handing each span to `onSpan`. */
  /**
   * Runs the first pass up to (not including) span `until`, handing each span to `onSpan`; or, with
   * `onPiece`, each piece as it arrives (at its offset in the blob), without assembling or caching the
   * spans (a stream through the pass at its front: nothing will read those bytes again before the pass
   * has verified the blob, after which reads go by range).
   */
  private async advancePass(until: number, onSpan: (span: number, bytes: Buffer) => void, onPiece?: (offset: number, piece: Buffer) => void): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    let pass = this.pass;
    if (pass === undefined) {
      this.stats.fetches += 1;
      pass = this.pass = {
        chunks: this.readRange(0, this.size)[Symbol.asyncIterator](),
        nextSpan: 0,
        carry: undefined,
        hash: createHash(this.digest.slice(0, this.digest.indexOf(':'))),
        spans: SpanDigests.empty(this.spanSize, this.size),
      };
    }
    try {
      while (pass.nextSpan < until) {
        const want = pass.spans.lengthOf(pass.nextSpan);
        const parts: Buffer[] = [];
        let filled = 0;
        // A span fetched ahead of the pass must be compared whole.
        const spanHash = onPiece !== undefined && !this.provisional.has(pass.nextSpan) ? createHash('sha256') : undefined;
        while (filled < want) {
          let chunk = pass.carry;
          pass.carry = undefined;
          if (chunk === undefined) {
            const next = await pass.chunks.next();
            if (next.done === true) {
              throw new ImgfsError('ETRUNCATED', `blob ended after ${pass.nextSpan * this.spanSize + filled} of ${this.size} bytes`, {
                archive: this.name,
                offset: pass.nextSpan * this.spanSize + filled,
              });
            }
            chunk = next.value;
            this.stats.bytesFetched += chunk.length;
          }
          const piece = chunk.subarray(0, want - filled);
          if (piece.length < chunk.length) pass.carry = chunk.subarray(piece.length);
          if (spanHash !== undefined && onPiece !== undefined) {
            pass.hash.update(piece);
            spanHash.update(piece);
            if (pass.nextSpan === 0 && filled < HEAD_BYTES) pass.head = Buffer.concat([pass.head ?? Buffer.alloc(0), piece.subarray(0, HEAD_BYTES - filled)]);
            onPiece(pass.nextSpan * this.spanSize + filled, piece);
          } else {
            parts.push(piece);
          }
          filled += piece.length;
        }
        if (spanHash !== undefined) {
          pass.spans.recordDigest(pass.nextSpan, spanHash.digest());
          pass.nextSpan += 1;
          continue;
        }
        const bytes = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
        pass.hash.update(bytes);
        const early = this.provisional.get(pass.nextSpan);
        if (early !== undefined) {
          this.provisional.delete(pass.nextSpan);
          if (!early.equals(bytes)) {
            throw new ImgfsError('EDIGEST', `bytes ${pass.nextSpan * this.spanSize}–${pass.nextSpan * this.spanSize + bytes.length} of blob ${this.digest} were served differently to a range and to the full read`, {
              archive: this.name,
              offset: pass.nextSpan * this.spanSize,
            });
          }
        }
        pass.spans.record(pass.nextSpan, bytes);
        if (pass.nextSpan === 0) pass.head = Buffer.from(bytes.subarray(0, HEAD_BYTES));
        this.cache.set(pass.nextSpan, bytes);
        onSpan(pass.nextSpan, bytes);
        pass.nextSpan += 1;
      }
      if (pass.nextSpan === this.spanCount()) {
        this.pass = undefined;
        const actual = `${this.digest.slice(0, this.digest.indexOf(':'))}:${pass.hash.digest('hex')}`;
        if (actual !== this.digest) {
          this.cache.clear();
          throw new ImgfsError('EDIGEST', `blob digest mismatch: expected ${this.digest}, content hashes to ${actual}`, { archive: this.name });
        }
        this.spans = pass.spans;
        this.head ??= pass.head;
      }
    } catch (error) {
      this.pass = undefined;
      await pass.chunks.return?.(undefined).catch(() => undefined);
      this.cache.clear();
      if (error instanceof ImgfsError) {
        error.locate({ archive: this.name });
        // A blob that is not its digest stays so: every later read fails at once. Anything else (the
        // network) may pass: the next read starts a new pass.
        if (error.code === 'EDIGEST') this.failure = error;
      }
      throw error;
    }
  }

  private async importPending(): Promise<void> {
    const load = this.pendingImport;
    if (load === undefined) return;
    this.pendingImport = undefined;
    if (this.spans !== undefined || this.pass !== undefined) return;
    const bytes = await load().catch(() => undefined);
    if (bytes === undefined) return;
    try {
      this.spans = SpanDigests.import(bytes, this.spanSize, this.size, this.name);
    } catch {
      // Unusable digests: the first read streams the blob again and records new ones.
    }
  }

  /**
   * Whether a read before verification lies so far ahead of the first pass that driving the pass there
   * would pass more bytes than the span cache keeps (a TOC reader probing the tail of a large blob): the
   * pass would then have to fetch them all again for the tar walk that follows.
   */
  private farAhead(first: number, last: number): boolean {
    const passed = this.pass?.nextSpan ?? 0;
    return (first - passed) * this.spanSize > this.cache.maxSize / 2 && (last - first + 1) * this.spanSize <= MAX_PROVISIONAL;
  }

  /** Spans `[first, last]` by one ranged request, unverified until the first pass compares them. */
  private async fetchProvisional(first: number, last: number, got: Map<number, Buffer>): Promise<void> {
    this.stats.fetches += 1;
    const bytes: Buffer[] = [];
    for await (const chunk of this.readRange(first * this.spanSize, Math.min(this.size, (last + 1) * this.spanSize))) {
      this.stats.bytesFetched += chunk.length;
      bytes.push(chunk);
    }
    const all = Buffer.concat(bytes);
    for (let span = first; span <= last; span++) {
      const piece = all.subarray((span - first) * this.spanSize, (span - first + 1) * this.spanSize);
      if (piece.length !== Math.min(this.spanSize, this.size - span * this.spanSize)) {
        throw new ImgfsError('ETRUNCATED', `blob ended at byte ${first * this.spanSize + all.length} of ${this.size}`, { archive: this.name });
      }
      this.provisional.set(span, piece);
      got.set(span, piece);
    }
  }

  private spanCount(): number {
    return Math.ceil(this.size / this.spanSize);
  }

  private serialised<T>(operation: () => Promise<T>): Promise<T> {
    return this.queue.run(operation);
  }

  private assertOpen(): void {
    if (this.closed) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: this.name });
  }
}
