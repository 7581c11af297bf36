import { closeSync, fstatSync, read as readCallback, readSync, type Stats } from 'node:fs';
import type { Readable } from 'node:stream';
import { ImgfsError } from '../errors.js';
import type { ByteSource, FileRegion } from './byte-source.js';
import { clampRead, clampStream } from './range.js';
import { openSyncWithoutAtime } from './open-without-atime.js';
import { createRangeStream } from './range-stream.js';

/**
 * Reads up to this size are synchronous: a small file's bytes (a warm `cat`) or a header cost less to
 * read than a thread-pool round trip, and a lookup that needs no larger read starts no pool at all.
 * Stream chunks (64 KiB) stay asynchronous, so a stream's reads still overlap its consumer.
 */
const SYNC_READ_MAX = 16 * 1024;

/**
 * A file on disk read with positional reads on one shared, read-only descriptor. The size is taken once,
 * at open: an image does not change while it is served.
 *
 * A plain descriptor, not a node:fs/promises FileHandle: loading fs/promises (with the readline and
 * fs-watch modules it pulls in) costs ~1 ms of a warm `cat` that reads one small file, and opening,
 * stat-ing and closing through the thread pool cost round trips longer than the local calls themselves.
 * So open, fstat and close are synchronous; reads larger than SYNC_READ_MAX stay asynchronous, and
 * close waits for the reads in flight, as FileHandle's does, so that a descriptor number is never
 * reused under a read.
 */
export class FileSource implements ByteSource {
  readonly seekable = true;
  private closed = false;
  private inFlight = 0;
  private whenIdle: (() => void) | undefined;

  private constructor(
    private readonly fd: number,
    readonly size: number,
    readonly name: string,
  ) {}

  /** Opens `path` read-only (its access time left alone). `name` is what error messages call it (defaults to the path). */
  static async open(path: string, name: string = path): Promise<FileSource> {
    const fd = openSyncWithoutAtime(path);
    try {
      return new FileSource(fd, fstatSync(fd).size, name);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.assertOpen();
    const { start, end } = clampRead(offset, length, this.size);
    const buffer = Buffer.allocUnsafe(end - start);
    const filled = buffer.length <= SYNC_READ_MAX ? this.readIntoSync(buffer, start) : await this.fill(buffer, start);
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
      const bytesRead = readSync(this.fd, target, filled, end - start - filled, start + filled);
      if (bytesRead === 0) break; // the file shrank under us: return what there is
      filled += bytesRead;
    }
    return filled;
  }

  fileRegion(offset: number, length: number): FileRegion | undefined {
    if (this.closed || offset < 0 || length < 0 || offset + length > this.size) return undefined;
    return { fd: this.fd, offset };
  }

  /** fstat of the open descriptor: the identity of the very file being read (for a cache keyed by it). */
  statSync(): Stats {
    this.assertOpen();
    return fstatSync(this.fd);
  }

  /** One read in flight for the whole fill, however many system calls it takes: close waits for it. */
  private async fill(buffer: Buffer, start: number): Promise<number> {
    this.inFlight++;
    try {
      let filled = 0;
      while (filled < buffer.length) {
        const bytesRead = await this.readAt(buffer, filled, buffer.length - filled, start + filled);
        if (bytesRead === 0) break; // the file shrank under us: return what there is
        filled += bytesRead;
      }
      return filled;
    } finally {
      if (--this.inFlight === 0) this.whenIdle?.();
    }
  }

  private readAt(buffer: Buffer, at: number, length: number, position: number): Promise<number> {
    return new Promise((resolve, reject) => {
      readCallback(this.fd, buffer, at, length, position, (error, bytesRead) => (error === null ? resolve(bytesRead) : reject(error)));
    });
  }

  /** Positional reads on the shared descriptor; destroying the stream leaves it open. */
  createReadStream(start?: number, end?: number): Readable {
    const range = clampStream(start, end, this.size);
    return createRangeStream((o, l) => this.read(o, l), range.start, range.end);
  }

  /** Closes the descriptor once reads in flight have finished; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.whenIdle = resolve));
    closeSync(this.fd);
  }

  private assertOpen(): void {
    if (this.closed) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: this.name });
  }
}
