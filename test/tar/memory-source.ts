import { Readable } from 'node:stream';
import { ImgfsError } from '../../lib/errors.js';
import type { ByteSource } from '../../lib/source/byte-source.js';

export interface MemorySourceOptions {
  name?: string;
  /** false: behaves like a decompressed stream (the walker must not count on cheap jumps). */
  seekable?: boolean;
  /** false: `size` stays undefined, as for a compressed layer that was never read to its end. */
  sizeKnown?: boolean;
}

/**
 * A ByteSource over a Buffer that records every read, so tests can prove what the walker touched.
 * Independent of lib/source on purpose: these tests must not fail because of a source bug.
 */
export class MemorySource implements ByteSource {
  readonly name: string;
  readonly seekable: boolean;
  readonly size: number | undefined;
  readonly reads: Array<{ offset: number; length: number; returned: number }> = [];
  private closed = false;

  constructor(
    private readonly bytes: Buffer,
    options: MemorySourceOptions = {},
  ) {
    this.name = options.name ?? 'memory.tar';
    this.seekable = options.seekable ?? true;
    this.size = options.sizeKnown === false ? undefined : bytes.length;
  }

  get bytesRead(): number {
    return this.reads.reduce((sum, r) => sum + r.returned, 0);
  }

  get largestRequest(): number {
    return this.reads.reduce((max, r) => Math.max(max, r.length), 0);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (this.closed) throw new ImgfsError('ECLOSED', 'source closed', { archive: this.name });
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`bad read(${offset}, ${length})`);
    }
    const out = Buffer.from(this.bytes.subarray(offset, offset + length));
    this.reads.push({ offset, length, returned: out.length });
    return out;
  }

  createReadStream(start = 0, end = this.bytes.length): Readable {
    return Readable.from([this.bytes.subarray(start, end)]);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
