/**
 * `open` / `read` / `release`: reads straight out of the archive through the image's byte sources
 * (span cache, gzip and zstd checkpoints), one range per kernel request. Opening for writing is
 * EROFS. Files are opened with `keep_cache`: the view never changes, so pages the kernel already
 * holds stay valid across opens and a second full read is served from memory.
 */
import { constants } from 'node:fs';
import type { ImageFS } from '../fs/types.js';
import { FsError } from '../fs/fs-errors.js';

/** Flags of an open that could change the file. */
const WRITING = constants.O_WRONLY | constants.O_RDWR | constants.O_TRUNC | constants.O_APPEND | constants.O_CREAT;

export class FileReads {
  private nextHandle = 1;

  constructor(private readonly img: ImageFS) {}

  /** Whether `flags` ask for anything but reading. */
  static writes(flags: number): boolean {
    return (flags & WRITING) !== 0;
  }

  /** Checks that `path` is something to read (not a directory) and returns a handle. */
  async open(path: string): Promise<number> {
    const stats = await this.img.stat(path);
    if (stats.isDirectory()) throw new FsError('EISDIR', 'open', path);
    return this.nextHandle++;
  }

  /** Copies up to `length` bytes at `position` into `target`; resolves to the count (0 at the end). */
  async read(path: string, target: Buffer, length: number, position: number): Promise<number> {
    if (length <= 0) return 0;
    let copied = 0;
    const stream = this.img.createReadStream(path, { start: position, end: position + length - 1 });
    for await (const chunk of stream) {
      const bytes = chunk as Buffer;
      const take = Math.min(bytes.length, length - copied);
      bytes.copy(target, copied, 0, take);
      copied += take;
    }
    return copied;
  }
}
