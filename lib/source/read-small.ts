import type { ByteSource } from './byte-source.js';

/**
 * A few bytes (a magic number, a footer) read at once: synchronously where the source offers it (a
 * file or a slice of one), since opening an image sniffs every layer this way and a thread-pool round
 * trip costs more than the copy; otherwise through `read`. Fewer bytes only where the source ends.
 */
export async function readSmall(source: ByteSource, offset: number, length: number): Promise<Buffer> {
  if (source.readIntoSync === undefined) return source.read(offset, length);
  const buffer = Buffer.allocUnsafe(Math.max(0, Math.min(length, (source.size ?? Infinity) - offset)));
  const got = source.readIntoSync(buffer, offset);
  return got === buffer.length ? buffer : buffer.subarray(0, got);
}
