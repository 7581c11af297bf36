import type { ByteSource } from '../source/byte-source.js';

/**
 * Largest single read. Big enough that a layer of many small files is walked in a few reads; small
 * enough that skipping past a large file on a decompressed source never allocates a large buffer.
 */
export const WINDOW_SIZE = 64 * 1024;
/**
 * Largest window on a seekable source (a file). Each refill is a round trip to the I/O thread pool,
 * dearer than copying a megabyte from the page cache, so a run of small files is best read through.
 */
export const SEEKABLE_WINDOW_SIZE = 1024 * 1024;
/**
 * Window on a source read synchronously where headers lie close together. Such a read costs a system
 * call (about what copying 4–8 KiB costs) plus the copy, and no thread-pool round trip: reading
 * through pays only while headers are less than READ_THROUGH_GAP apart on average; further apart,
 * each header gets its own MIN_WINDOW_SIZE read.
 */
export const SYNC_WINDOW_SIZE = 64 * 1024;
export const READ_THROUGH_GAP = 6 * 1024;
/**
 * Synchronous reads between two turns given back to the event loop: a walk of a million-entry layer
 * must not hold off a mount's requests or a server's sockets for seconds (a few hundred page-cache
 * reads take a millisecond or two).
 */
export const SYNC_READS_PER_TURN = 256;
/** Smallest window: a header with a PAX header before it still fits. */
export const MIN_WINDOW_SIZE = 4 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * Serves header-sized reads out of one buffered window of the source, refilled at the requested
 * offset when a read falls outside it. Reads only ever move forward in a tar walk, so on a
 * decompressed source each refill just advances its cursor.
 *
 * On a seekable source the window adapts: it halves each time the walk jumps further past its end
 * than the window is long (file data a bigger window would only read in vain), and doubles, up to
 * SEEKABLE_WINDOW_SIZE, each time the next header lies closer than that (dense small files, read
 * through in a few large reads). A layer of 100 KB binaries then costs a few KiB per header. A decompressed source produces the skipped bytes anyway, so there
 * the window stays at its largest.
 *
 * It also learns where the source ends: `source.size` when known, else from the first short read.
 */
export class HeaderWindow {
  private start = 0;
  private buffer: Buffer = EMPTY;
  /** Bytes of `buffer` that hold the window (a synchronous refill leaves the reused buffer longer). */
  private filled = 0;
  private windowSize = WINDOW_SIZE;
  /** Offsets below this are known to exist. */
  private known = 0;
  private exactEnd: number | undefined;
  private reused: Buffer | undefined;

  /** Largest window: smaller on a source read synchronously. */
  private readonly maxWindowSize: number;
  /** Reads synchronously: the window follows the average distance between reads (`gap`). */
  private readonly sync: boolean;
  private lastOffset = 0;
  private gap = 0;
  private syncReads = 0;

  constructor(
    private readonly source: ByteSource,
    /** The buffer synchronous refills go into, when the caller wants them in its memory (plain-member-kernel.ts). */
    reused?: Buffer,
  ) {
    this.sync = source.readIntoSync !== undefined;
    this.maxWindowSize = this.sync ? SYNC_WINDOW_SIZE : SEEKABLE_WINDOW_SIZE;
    if (reused !== undefined && reused.length >= this.maxWindowSize) this.reused = reused;
    this.exactEnd = source.size;
    if (this.exactEnd !== undefined) this.known = this.exactEnd;
  }

  /** The source's length, once known. */
  get end(): number | undefined {
    return this.exactEnd ?? this.source.size;
  }

  /** How far the source is known to extend: a lower bound of its length. */
  get extent(): number {
    return this.known;
  }

  /**
   * Up to `length` bytes at `offset`; fewer only where the source ends. Reads larger than the window
   * (PAX headers, long names) are made in window-sized pieces. What is returned may be a view of the
   * window's reused buffer: use it before the next read.
   */
  async read(offset: number, length: number): Promise<Buffer> {
    this.track(offset);
    const held = this.held(offset, length);
    if (held !== undefined) return held;
    const bufferEnd = this.start + this.filled;
    const end = this.end;
    if (this.source.readView !== undefined) {
      // A decoded span seen in place: the window is the rest of that span.
      const view = await this.source.readView(offset);
      // A view ends where its span does, not where the source does; only an empty one says "the end".
      this.note(offset, view.length, view.length === 0 ? 1 : view.length);
      const sourceEnd = this.end;
      if (view.length >= length || (sourceEnd !== undefined && offset + view.length >= sourceEnd)) {
        this.buffer = view;
        this.filled = view.length;
        this.start = offset;
        return view.subarray(0, length);
      }
    }
    if (length <= this.windowSize || length <= WINDOW_SIZE) {
      this.adapt(offset, bufferEnd);
      const size = Math.max(length, this.windowSize);
      const want = end === undefined ? size : Math.min(size, end - offset);
      this.buffer = await this.fetch(offset, want);
      this.filled = this.buffer.length;
      this.start = offset;
      return this.buffer.subarray(0, length);
    }
    const pieces: Buffer[] = [];
    let got = 0;
    while (got < length) {
      const want = Math.min(WINDOW_SIZE, length - got);
      // Fresh buffers: the pieces outlive the next read.
      const piece = await this.fetch(offset + got, want, false);
      pieces.push(piece);
      got += piece.length;
      if (piece.length < want) break;
    }
    return Buffer.concat(pieces, got);
  }

  /**
   * `read` without a promise when it can be answered at once: from the window, or by one synchronous
   * refill of a source read synchronously (not when the walk owes the event loop a turn). Undefined
   * when only `read` can answer. A walk that asks here first costs no microtask per header, which on
   * a layer of small files was a third of its time.
   */
  readNow(offset: number, length: number): Buffer | undefined {
    const held = this.held(offset, length);
    if (held !== undefined || !this.refillsNow(length)) return held;
    this.refillNow(offset, length);
    return this.buffer.subarray(0, Math.min(length, this.filled));
  }

  /**
   * Where in `bytes` the `length` bytes at `offset` lie, read as `readNow` reads them; -1 when
   * `readNow` would not give them whole at once (the source ends first, or only `read` can answer).
   * No view is cut: the plain-member lane reads each header where it lies.
   */
  locate(offset: number, length: number): number {
    if (offset >= this.start && offset + length <= this.start + this.filled) return offset - this.start;
    const end = this.end;
    if ((end !== undefined && offset + length > end) || !this.refillsNow(length)) return -1;
    this.refillNow(offset, length);
    return this.filled >= length ? 0 : -1;
  }

  /** How many of `bytes` hold the window. */
  get filledLength(): number {
    return this.filled;
  }

  /** The window's bytes (valid until the next read): where `locate` points. */
  get bytes(): Buffer {
    return this.buffer;
  }

  /**
   * Whether a read the window does not hold can be made at once: a source read synchronously, and
   * not when the walk owes the event loop a turn.
   */
  private refillsNow(length: number): boolean {
    return this.sync && this.source.readView === undefined && length <= this.windowSize && (this.syncReads + 1) % SYNC_READS_PER_TURN !== 0;
  }

  /** One synchronous refill of the window at `offset` (see `refillsNow`). */
  private refillNow(offset: number, length: number): void {
    this.track(offset);
    this.adapt(offset, this.start + this.filled);
    const end = this.end;
    const size = Math.max(length, this.windowSize);
    const want = end === undefined ? size : Math.min(size, end - offset);
    this.syncReads++;
    this.readSyncInto(offset, want);
    this.note(offset, this.filled, want);
    this.start = offset;
  }

  /** What the window already holds of [offset, offset + length), or EMPTY past the known end; else undefined. */
  private held(offset: number, length: number): Buffer | undefined {
    const bufferEnd = this.start + this.filled;
    const end = this.end;
    if (offset >= this.start && (offset + length <= bufferEnd || (bufferEnd === end && offset < end))) {
      return this.buffer.subarray(offset - this.start, Math.min(offset - this.start + length, this.filled));
    }
    if (end !== undefined && offset >= end) return EMPTY;
    return undefined;
  }

  /** Follows the average distance between the offsets a synchronous walk asks for (see `adapt`). */
  private track(offset: number): void {
    if (this.sync && offset > this.lastOffset) {
      this.gap += (offset - this.lastOffset - this.gap) / 4;
      this.lastOffset = offset;
    }
  }

  /**
   * A synchronous refill of the window, into the reused buffer when it is large enough (callers check
   * `sync`). No view is cut for the read or its result: a walk of a layer of far-apart headers makes
   * one such read per header, and views are objects for the collector.
   */
  private readSyncInto(offset: number, length: number): void {
    this.reused ??= Buffer.allocUnsafe(this.maxWindowSize);
    const target = length <= this.reused.length ? this.reused : Buffer.allocUnsafe(length);
    this.filled = (this.source.readIntoSync as NonNullable<ByteSource['readIntoSync']>).call(this.source, target, offset, length);
    this.buffer = target;
  }

  /**
   * Whether the byte at `offset` exists. Answered from what reads have shown when possible; otherwise
   * one 1-byte read, which is how the end of a decompressed source of unknown length is checked.
   */
  async has(offset: number): Promise<boolean> {
    if (offset < this.known) return true;
    const end = this.end;
    if (end !== undefined) return offset < end;
    return (await this.fetch(offset, 1)).length === 1;
  }

  /**
   * Window refills of a seekable source land in one buffer reused for the whole walk: a layer read
   * through in megabyte windows would otherwise allocate its whole size in buffers for the GC (and
   * the allocator, which keeps the pages) to take back. Only window refills do this, and a refill
   * only happens once the walker is done with the previous window's bytes.
   */
  private async readBytes(offset: number, length: number): Promise<Buffer> {
    const { readInto, readIntoSync } = this.source;
    if ((readInto === undefined && readIntoSync === undefined) || length > this.maxWindowSize || length < MIN_WINDOW_SIZE) {
      return this.source.read(offset, length);
    }
    this.reused ??= Buffer.allocUnsafe(this.maxWindowSize);
    const target = this.reused.subarray(0, length);
    if (readIntoSync !== undefined && ++this.syncReads % SYNC_READS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    const got = readIntoSync !== undefined ? readIntoSync.call(this.source, target, offset) : await (readInto as NonNullable<typeof readInto>).call(this.source, target, offset);
    return this.reused.subarray(0, got);
  }

  private adapt(offset: number, bufferEnd: number): void {
    if (!this.source.seekable || this.filled === 0) return;
    if (this.sync) {
      this.windowSize = this.gap < READ_THROUGH_GAP ? SYNC_WINDOW_SIZE : MIN_WINDOW_SIZE;
      return;
    }
    if (offset - bufferEnd > this.windowSize) this.windowSize = Math.max(MIN_WINDOW_SIZE, this.windowSize / 2);
    else if (offset >= bufferEnd) this.windowSize = Math.min(this.maxWindowSize, this.windowSize * 2);
  }

  private async fetch(offset: number, length: number, reuse = true): Promise<Buffer> {
    const bytes = reuse ? await this.readBytes(offset, length) : await this.source.read(offset, length);
    this.note(offset, bytes.length, length);
    return bytes;
  }

  /** What a read of `length` bytes at `offset` that returned `got` says about where the source ends. */
  private note(offset: number, got: number, length: number): void {
    if (got > 0) this.known = Math.max(this.known, offset + got);
    // A short read that returned something pins the end exactly; an empty one only bounds it.
    if (got < length && (got > 0 || offset === this.known)) this.exactEnd = offset + got;
  }
}
