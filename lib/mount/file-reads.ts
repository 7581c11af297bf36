/**
 * The read path: each kernel request is one range read straight out of the archive through the
 * image's byte sources (span cache, gzip and zstd checkpoints). Files are opened with `keep_cache`
 * (libfuse's `kernel_cache`): the view never changes, so pages the kernel holds stay valid across
 * opens and a second full read is served from memory without asking imgfs.
 */
import { constants } from 'node:fs';
import type { ImageFS } from '../fs/types.js';
import { hasFileRegions } from '../fs/file-regions.js';

/** Flags of an open that could change the file. */
const WRITING = constants.O_WRONLY | constants.O_RDWR | constants.O_TRUNC | constants.O_APPEND | constants.O_CREAT;

/** Whether open `flags` ask for anything but reading. */
export function opensForWriting(flags: number): boolean {
  return (flags & WRITING) !== 0;
}

/** Copies up to `length` bytes at `position` of `path` into `target`; resolves to the count (0 at the end). */
export async function readRange(img: ImageFS, path: string, target: Buffer, length: number, position: number): Promise<number> {
  if (length <= 0) return 0;
  if (hasFileRegions(img)) return (await img.readRange(path, position, position + length)).copy(target);
  let copied = 0;
  const stream = img.createReadStream(path, { start: position, end: position + length - 1 });
  for await (const chunk of stream) {
    const bytes = chunk as Buffer;
    const take = Math.min(bytes.length, length - copied);
    bytes.copy(target, copied, 0, take);
    copied += take;
  }
  return copied;
}
