import { fstatSync, readSync, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ImgfsError } from '../errors.js';
import type { ByteSource, FileRegion } from './byte-source.js';
import { clampRead, clampStream } from './range.js';
import { openWithoutAtime } from './open-without-atime.js';
import { createRangeStream } from './range-stream.js';

/**
 * A file on disk read with positional reads on one shared, read-only file handle. The size is taken once,
 * at open: an image does not change while it is served.
 */
export class FileSource implements ByteSource {
  readonly seekable = true;
  private closed = false;

  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly name: string,
  ) {}

  /** Opens `path` read-only (its access time left alone). `name` is what error messages call it (defaults to the path). */
  static async open(path: string, name: string = path): Promise<FileSource> {
    const handle = await openWithoutAtime(path);
    try {
      const stats = await handle.stat();
      return new FileSource(handle, stats.size, name);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.assertOpen();
    const { start, end } = clampRead(offset, length, this.size);
    const buffer = Buffer.allocUnsafe(end - start);
    const filled = await this.fill(buffer, start);
    return filled === buffer.length ? buffer : buffer.subarray(0, filled);
  }

  async readInto(target: Buffer, offset: number): Promise<number> {
    this.assertOpen();
    const { start, end } = clampRead(offset, target.length, this.size);
    return this.fill(target.subarray(0, end - start), start);
  }

  readIntoSync(target: Buffer, offset: number, length = target.length): number {
    this.assertOpen();
    const { start, end } = clampRead(offset, Math.min(length, target.length), this.size);
    let filled = 0;
    while (filled < end - start) {
      const bytesRead = readSync(this.handle.fd, target, filled, end - start - filled, start + filled);
      if (bytesRead === 0) break; // the file shrank under us: return what there is
      filled += bytesRead;
    }
    return filled;
  }

  fileRegion(offset: number, length: number): FileRegion | undefined {
    if (this.closed || offset < 0 || length < 0 || offset + length > this.size) return undefined;
    return { fd: this.handle.fd, offset };
  }

  /** fstat of the open descriptor: the identity of the very file being read (for a cache keyed by it). */
  statSync(): Stats {
    this.assertOpen();
    return fstatSync(this.handle.fd);
  }

  private async fill(buffer: Buffer, start: number): Promise<number> {
    let filled = 0;
    while (filled < buffer.length) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.handle.read(buffer, filled, buffer.length - filled, start + filled));
      } catch (error) {
        this.assertOpen();
        throw error;
      }
      if (bytesRead === 0) break; // the file shrank under us: return what there is
      filled += bytesRead;
    }
    return filled;
  }

  /** Positional reads on the shared handle; destroying the stream leaves the handle open. */
  createReadStream(start?: number, end?: number): Readable {
    const range = clampStream(start, end, this.size);
    return createRangeStream((o, l) => this.read(o, l), range.start, range.end);
  }

  /** Closes the handle once reads in flight have finished; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: this.name });
  }
}
