import type { ByteSource } from '../../lib/source/byte-source.js';

/**
 * A ByteSource that passes every read to `inner` and remembers it: the reads asked for (offset,
 * length) and the bytes they returned. It offers no synchronous or viewed read, so every read of the
 * code under test is seen here.
 */
export class ObservedSource implements ByteSource {
  readonly reads: Array<[number, number]> = [];
  bytesRead = 0;
  constructor(private readonly inner: ByteSource) {}
  get name(): string {
    return this.inner.name;
  }
  get size(): number | undefined {
    return this.inner.size;
  }
  get seekable(): boolean {
    return this.inner.seekable;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    this.reads.push([offset, length]);
    const bytes = await this.inner.read(offset, length);
    this.bytesRead += bytes.length;
    return bytes;
  }
  createReadStream(start?: number, end?: number): ReturnType<ByteSource['createReadStream']> {
    return this.inner.createReadStream(start, end);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
