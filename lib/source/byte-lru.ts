/**
 * A least-recently-used map of buffers bounded by their total length: the caches of decompressed spans
 * and downloaded runs. Its own rather than the lru-cache package's, which reads `performance` and
 * `diagnostics_channel` when loaded, costing every command ~6 ms of start-up for what a Map's insertion
 * order already gives.
 */
export class ByteLru<K> {
  private readonly entries = new Map<K, Buffer>();
  private total = 0;

  constructor(readonly maxSize: number) {
    if (!Number.isSafeInteger(maxSize) || maxSize < 1) throw new RangeError(`maxSize must be a positive integer, got ${maxSize}`);
  }

  /** Bytes held (an empty buffer counts 1). */
  get calculatedSize(): number {
    return this.total;
  }

  /** Whether `key` is held; its recency is left as it was. */
  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** The buffer under `key`, now the most recently used. */
  get(key: K): Buffer | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  /** Keeps `value` as the most recently used, dropping the least recently used until all fit; one larger than the whole cache is not kept. */
  set(key: K, value: Buffer): void {
    this.delete(key);
    const size = weight(value);
    if (size > this.maxSize) return;
    this.entries.set(key, value);
    this.total += size;
    for (const [oldest, buffer] of this.entries) {
      if (this.total <= this.maxSize) break;
      this.entries.delete(oldest);
      this.total -= weight(buffer);
    }
  }

  delete(key: K): void {
    const value = this.entries.get(key);
    if (value === undefined) return;
    this.entries.delete(key);
    this.total -= weight(value);
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }
}

function weight(buffer: Buffer): number {
  return Math.max(1, buffer.length);
}
