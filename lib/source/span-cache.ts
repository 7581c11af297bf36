import { LRUCache } from 'lru-cache';

/** Decompressed bytes are cached in spans of this size. */
export const SPAN_SIZE = 1024 * 1024;
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * The decompressed spans of one stream kept in memory: span `i` holds bytes `[i × SPAN_SIZE, (i + 1) ×
 * SPAN_SIZE)`, only the final one shorter. An LRU of `cacheBytes`, plus the spans produced last kept
 * outside it, so that a sequential reader never depends on the LRU: the latest, and with read-ahead
 * (`holdsTwo`) the one before it, which such a reader is still working through.
 */
export class SpanCache {
  /** Whether the LRU can keep a span read ahead beside the one being read. */
  readonly holdsTwo: boolean;
  private readonly lru: LRUCache<number, Buffer> | undefined;
  private recent: { index: number; buffer: Buffer } | undefined;
  private previous: { index: number; buffer: Buffer } | undefined;

  /**
   * `released` hears of each span the LRU evicts that no slot here holds any more: once the readers
   * of its views have moved on (see DecompressedSource.readView), its memory can be decoded into again.
   */
  constructor(cacheBytes: number, released?: (span: Buffer) => void) {
    if (!Number.isSafeInteger(cacheBytes) || cacheBytes < 0) {
      throw new RangeError(`cacheBytes must be a non-negative integer, got ${cacheBytes}`);
    }
    this.holdsTwo = cacheBytes >= 2 * SPAN_SIZE;
    this.lru =
      cacheBytes > 0
        ? new LRUCache<number, Buffer>({
            maxSize: cacheBytes,
            sizeCalculation: (bytes) => Math.max(1, bytes.length),
            dispose: (span, _index, reason) => {
              if (reason === 'evict' && released !== undefined && span !== this.recent?.buffer && span !== this.previous?.buffer) released(span);
            },
          })
        : undefined;
  }

  /** Bytes held by the LRU. */
  get bytes(): number {
    return this.lru?.calculatedSize ?? 0;
  }

  get(index: number): Buffer | undefined {
    if (this.recent?.index === index) return this.recent.buffer;
    if (this.previous?.index === index) return this.previous.buffer;
    return this.lru?.get(index);
  }

  add(index: number, span: Buffer): void {
    // Only read-ahead needs the second slot; without it `cacheBytes: 0` keeps just the latest span.
    if (this.holdsTwo) this.previous = this.recent;
    this.recent = { index, buffer: span };
    this.lru?.set(index, span);
  }

  clear(): void {
    this.recent = undefined;
    this.previous = undefined;
    this.lru?.clear();
  }

  /** Bytes `[start, end)` from spans in memory, as a copy; undefined if any span is missing. */
  read(start: number, end: number): Buffer | undefined {
    const pieces: Buffer[] = [];
    for (let index = Math.floor(start / SPAN_SIZE); index * SPAN_SIZE < end; index += 1) {
      const span = this.get(index);
      if (span === undefined) return undefined;
      pieces.push(cutSpan(span, index, start, end));
      if (span.length < SPAN_SIZE) break; // the final span
    }
    return Buffer.concat(pieces); // always a copy: the cached spans never leave this class
  }
}

/** The part of span `index` that lies in `[start, end)`. */
export function cutSpan(span: Buffer, index: number, start: number, end: number): Buffer {
  const base = index * SPAN_SIZE;
  return span.subarray(Math.max(0, start - base), Math.min(span.length, end - base));
}
