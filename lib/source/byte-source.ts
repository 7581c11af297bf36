import type { Readable } from 'node:stream';

/**
 * A random-access view of some bytes: a file on disk, a slice of another source (a layer stored inside
 * an outer tar), or the decompressed bytes of a gzip/zstd stream. Everything above this folder reads
 * image bytes only through this interface, which is what lets reads come straight out of the original
 * archive without extracting anything.
 */
export interface ByteSource {
  /** Human-readable location for error messages, e.g. `image.tar` or `image.tar!blobs/sha256/ab…`. */
  readonly name: string;
  /**
   * Length in bytes when known without reading everything (files and slices). Decompressed sources
   * report `undefined` until they have been read to the end once.
   */
  readonly size: number | undefined;
  /** True when reads cost one positional read each (no decompression): the tar walker may skip data. */
  readonly seekable: boolean;
  /**
   * Reads `length` bytes starting at `offset`. Returns fewer bytes only when the source ends first
   * (an empty buffer at or past the end). Never reads outside the source.
   */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Optional: fills `target` with the bytes from `offset` and returns how many it got (fewer only where
   * the source ends). Lets a reader that walks a whole layer (the tar header window) reuse one buffer
   * instead of allocating one per read, which would leave the GC and the allocator hundreds of MB to
   * take back.
   */
  readInto?(target: Buffer, offset: number): Promise<number>;
  /**
   * Optional: `readInto` done synchronously, offered only where one read is one positional read of a
   * file (files and slices of files). A walk over a layer's headers makes thousands of small reads, each
   * a round trip to the I/O thread pool when asynchronous, costing more than the copy it waits for; read
   * synchronously, the same walk keeps the main thread busy instead of idle (a page-cache copy of a few
   * KiB takes microseconds; a read that must wait for a disk blocks the thread for that long).
   * `length` (default: all of `target`) fills only its start, without a view cut for it.
   */
  readIntoSync?(target: Buffer, offset: number, length?: number): number;
  /**
   * Optional: the bytes from `offset` on that the source already holds in one piece (a decoded span),
   * at least one unless `offset` is at or past the end: a view, not a copy, which the caller must not
   * modify. Lets the tar header window walk a decompressed layer without copying every decoded byte
   * into buffers of its own.
   */
  readView?(offset: number): Promise<Buffer>;
  /**
   * Optional: where bytes `[offset, offset + length)` lie in an open file, when they are stored there as
   * they are (files and slices of files); undefined outside the source. Lets `imgfs mount` hand such a
   * range to its C read path (lib/mount/served-files.ts).
   */
  fileRegion?(offset: number, length: number): FileRegion | undefined;
  /** Streams bytes `[start, end)`; `end` defaults to the end of the source. Never buffers it all. */
  createReadStream(start?: number, end?: number): Readable;
  /** Releases file descriptors and caches. Further reads reject with ImgfsError ECLOSED. */
  close(): Promise<void>;
}

/** Bytes at `offset` of the open file descriptor `fd` (owned by the source: valid until it closes). */
export interface FileRegion {
  readonly fd: number;
  readonly offset: number;
}
