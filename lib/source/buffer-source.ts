import type { Readable } from 'node:stream';
import { ImgfsError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import { clampRead, clampStream } from './range.js';
import { createRangeStream } from './range-stream.js';

/** Bytes already in memory (tests, tiny documents) behind the ByteSource interface. */
export class BufferSource implements ByteSource {
  readonly seekable = true;
  readonly size: number;
  private closed = false;

  constructor(
    private readonly buffer: Buffer,
    readonly name: string,
  ) {
    this.size = buffer.length;
  }

  /** Returns a copy, so callers cannot change the source's bytes. */
  async read(offset: number, length: number): Promise<Buffer> {
    this.assertOpen();
    const { start, end } = clampRead(offset, length, this.size);
    return Buffer.from(this.buffer.subarray(start, end));
  }

  createReadStream(start?: number, end?: number): Readable {
    const range = clampStream(start, end, this.size);
    return createRangeStream((o, l) => this.read(o, l), range.start, range.end);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: this.name });
  }
}
