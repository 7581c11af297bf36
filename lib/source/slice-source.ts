import type { Readable } from 'node:stream';
import { ImgfsError } from '../errors.js';
import type { ByteSource, FileRegion } from './byte-source.js';
import { clampRead, clampStream } from './range.js';
import { createRangeStream } from './range-stream.js';

/**
 * A window `[offset, offset + length)` of another source: a layer or blob stored inside an outer tar,
 * read in place. Every read is clamped to the window. The slice does not own its parent: `close()` only
 * closes the slice, whoever opened the parent closes it.
 */
export class SliceSource implements ByteSource {
  readonly seekable: boolean;
  readonly size: number;
  private closed = false;

  /** Throws ETRUNCATED when the parent's size is known and the window extends past it. */
  constructor(
    private readonly parent: ByteSource,
    readonly offset: number,
    length: number,
    readonly name: string,
  ) {
    for (const [what, value] of [['offset', offset], ['length', length]] as const) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(`slice ${what} must be a non-negative integer, got ${value}`);
      }
    }
    if (parent.size !== undefined && offset + length > parent.size) {
      throw new ImgfsError(
        'ETRUNCATED',
        `${name} needs bytes ${offset}–${offset + length} but ${parent.name} has only ${parent.size}`,
        { archive: parent.name, offset: parent.size },
      );
    }
    this.seekable = parent.seekable;
    this.size = length;
    // Offered only when the parent offers it (a slice of a file): callers test for the method.
    if (parent.readIntoSync === undefined) this.readIntoSync = undefined;
    if (parent.fileRegion === undefined) this.fileRegion = undefined;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.assertOpen();
    const { start, end } = clampRead(offset, length, this.size);
    if (end <= start) return Buffer.alloc(0);
    return this.parent.read(this.offset + start, end - start);
  }

  async readInto(target: Buffer, offset: number): Promise<number> {
    this.assertOpen();
    const { start, end } = clampRead(offset, target.length, this.size);
    if (end <= start) return 0;
    if (this.parent.readInto !== undefined) return this.parent.readInto(target.subarray(0, end - start), this.offset + start);
    const bytes = await this.parent.read(this.offset + start, end - start);
    bytes.copy(target);
    return bytes.length;
  }

  readIntoSync?(target: Buffer, offset: number, length = target.length): number {
    this.assertOpen();
    const { start, end } = clampRead(offset, Math.min(length, target.length), this.size);
    if (end <= start) return 0;
    return (this.parent.readIntoSync as NonNullable<ByteSource['readIntoSync']>)(target, this.offset + start, end - start);
  }

  /** Only within the window, and only where the parent offers it (a slice of a file). */
  fileRegion?(offset: number, length: number): FileRegion | undefined {
    if (this.closed || offset < 0 || length < 0 || offset + length > this.size) return undefined;
    return this.parent.fileRegion?.(this.offset + offset, length);
  }

  createReadStream(start?: number, end?: number): Readable {
    const range = clampStream(start, end, this.size);
    return createRangeStream((o, l) => this.read(o, l), range.start, range.end);
  }

  /** Closes the slice only; the parent stays open. */
  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: this.name });
  }
}
