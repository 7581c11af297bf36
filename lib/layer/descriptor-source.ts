import { readSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ByteSource } from '../source/byte-source.js';
import { clampRead } from '../source/range.js';

/**
 * A run of a file read through a descriptor that another thread of this process opened (and keeps
 * open while this one reads: see table-workers.ts). What a table worker walks: it needs positional
 * reads only, never a stream, and owns nothing to close.
 */
export class DescriptorSource implements ByteSource {
  readonly seekable = true;

  constructor(
    private readonly fd: number,
    private readonly start: number,
    readonly size: number,
    readonly name: string,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    const { start, end } = clampRead(offset, length, this.size);
    const buffer = Buffer.allocUnsafe(end - start);
    const filled = this.readIntoSync(buffer, start);
    return filled === buffer.length ? buffer : buffer.subarray(0, filled);
  }

  async readInto(target: Buffer, offset: number): Promise<number> {
    return this.readIntoSync(target, offset);
  }

  readIntoSync(target: Buffer, offset: number, length = target.length): number {
    const { start, end } = clampRead(offset, Math.min(length, target.length), this.size);
    let filled = 0;
    while (filled < end - start) {
      const got = readSync(this.fd, target, filled, end - start - filled, this.start + start + filled);
      if (got === 0) break; // the file shrank: what there is
      filled += got;
    }
    return filled;
  }

  createReadStream(): Readable {
    throw new Error('a table worker reads headers only');
  }

  async close(): Promise<void> {}
}
