import type { Readable } from 'node:stream';
import { ImgfsError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import { clampRead, clampStream } from './range.js';
import { createRangeStream } from './range-stream.js';

/**
 * The logical bytes of a sparse file: its data regions are stored one after another in `parent` from
 * `base` (as tar stores them), each belongs at its own offset, and every byte outside them (a hole)
 * reads as zero. Random access costs one binary search over the regions plus one parent read per
 * region touched: nothing is expanded ahead of time, so a 60 GB file of holes costs what its data does.
 *
 * `regions` are flat `offset, length` pairs, ascending and non-overlapping (the tar walker checks
 * that). Whatever they say, a read never goes outside `[base, base + sum of lengths)` of the parent.
 */
export class SparseView implements ByteSource {
  readonly seekable: boolean;
  /** Region start offsets, and where each region's bytes start in the parent, for the binary search. */
  private readonly starts: number[] = [];
  private readonly lengths: number[] = [];
  private readonly stored: number[] = [];
  private closed = false;

  constructor(
    private readonly parent: ByteSource,
    private readonly base: number,
    readonly size: number,
    regions: readonly number[],
    readonly name: string = parent.name,
  ) {
    this.seekable = parent.seekable;
    let at = base;
    let previousEnd = 0;
    for (let i = 0; i + 1 < regions.length; i += 2) {
      const offset = regions[i] as number;
      // Clamped to the file and to order, so a map from an untrusted cache can only misplace bytes.
      const start = Math.min(Math.max(offset, previousEnd), size);
      const length = Math.max(0, Math.min((regions[i + 1] as number) - (start - offset), size - start));
      this.starts.push(start);
      this.lengths.push(length);
      this.stored.push(at + (start - offset));
      at += regions[i + 1] as number;
      previousEnd = start + length;
    }
  }

  /**
   * Bytes `[offset, offset + length)` of the logical file, clamped to its size. Shorter than asked
   * only when the parent ends early (the archive was cut after it was indexed): the caller reports it.
   */
  async read(offset: number, length: number): Promise<Buffer> {
    if (this.closed) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: this.name });
    const { start, end } = clampRead(offset, length, this.size);
    const out = Buffer.alloc(Math.max(0, end - start));
    let region = this.firstRegionEndingAfter(start);
    for (; region < this.starts.length; region++) {
      const regionStart = this.starts[region] as number;
      if (regionStart >= end) break;
      const from = Math.max(start, regionStart);
      const to = Math.min(end, regionStart + (this.lengths[region] as number));
      if (to <= from) continue;
      const bytes = await this.parent.read((this.stored[region] as number) + (from - regionStart), to - from);
      bytes.copy(out, from - start);
      if (bytes.length < to - from) return out.subarray(0, from - start + bytes.length);
    }
    return out;
  }

  createReadStream(start?: number, end?: number): Readable {
    const range = clampStream(start, end, this.size);
    return createRangeStream((o, l) => this.read(o, l), range.start, range.end);
  }

  /** Closes the view only; the parent belongs to whoever opened it. */
  async close(): Promise<void> {
    this.closed = true;
  }

  /** Index of the first region whose end lies after `offset` (binary search). */
  private firstRegionEndingAfter(offset: number): number {
    let low = 0;
    let high = this.starts.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.starts[middle] as number) + (this.lengths[middle] as number) <= offset) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
