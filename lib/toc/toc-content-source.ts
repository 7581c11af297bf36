import type { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { ByteSource } from '../source/byte-source.js';
import { clampRead, clampStream } from '../source/range.js';
import { createRangeStream } from '../source/range-stream.js';
import { ImgfsError } from '../errors.js';
import { decodeRun } from './chunk-decoder.js';
import { compressedLength, fetchCoalesced } from './coalesced-fetch.js';
import type { TocFormat } from './toc-model.js';
import type { PlacedRun, TocLayout } from './toc-layout.js';

/** Decoded runs kept for the next read of the same file (64 KiB stream reads of a 4 MiB run). */
const RUN_CACHE_BYTES = 32 * 1024 * 1024;
/** Runs larger than this are never kept whole: a read decodes the run again and keeps only its range. */
const MAX_CACHED_RUN = 8 * 1024 * 1024;
/** Stored bytes one read fetches before it decodes them (a read of a huge file goes batch by batch). */
const MAX_FETCH_BATCH = 32 * 1024 * 1024;

export interface TocReadStats {
  /** Runs decoded so far (one frame or member each). */
  runsDecoded: number;
}

/**
 * A layer with a table of contents seen as its data space (toc-layout.ts): a read finds the runs it
 * touches by binary search, fetches their frames or members (adjacent ones in one read of the blob:
 * one ranged request from a registry) and decodes just those, each checked against the digest
 * the TOC states for it. Bytes of the space that belong to no run (where a tar has its headers) come
 * from the tar-split when the layer has one (the space is then the exact tar stream), else read as
 * zeros; nothing reads them but a caller that asks for them.
 */
export class TocContentSource implements ByteSource {
  readonly seekable = false;
  readonly size: number;
  readonly name: string;
  readonly stats: TocReadStats = { runsDecoded: 0 };
  private readonly cache = new LRUCache<number, Buffer>({ maxSize: RUN_CACHE_BYTES, sizeCalculation: (bytes) => Math.max(1, bytes.length) });
  private closed = false;

  constructor(
    private readonly blob: ByteSource,
    private readonly format: TocFormat,
    private readonly layout: TocLayout,
  ) {
    this.size = layout.size;
    this.name = `${blob.name} (${format} TOC)`;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.assertOpen();
    const { start, end } = clampRead(offset, length, this.size);
    // Bytes between runs: the tar's own (tar-split), else zeros.
    const out = this.layout.tarBytes === undefined ? Buffer.alloc(end - start) : await this.layout.tarBytes.read(start, end - start);
    const runs = this.layout.runs;
    const touched: number[] = [];
    for (let i = Math.max(0, lastStartingAtOrBefore(runs, start)); i < runs.length; i++) {
      const run = runs[i] as PlacedRun;
      if (run.start >= end) break;
      if (run.start + run.chunk.size > start) touched.push(i);
    }
    // In batches of fetched bytes, so that reading a huge file whole never holds it all compressed too.
    for (let at = 0; at < touched.length; ) {
      const batch: number[] = [];
      let planned = 0;
      while (at < touched.length && (batch.length === 0 || planned < MAX_FETCH_BATCH)) {
        const index = touched[at++] as number;
        batch.push(index);
        if (!this.cache.has(index)) planned += compressedLength((runs[index] as PlacedRun).chunk);
      }
      const fetched = await fetchCoalesced(
        this.blob,
        batch.filter((index) => !this.cache.has(index)).map((index) => (runs[index] as PlacedRun).chunk),
      );
      for (const index of batch) {
        const run = runs[index] as PlacedRun;
        const from = Math.max(start, run.start) - run.start;
        const to = Math.min(end, run.start + run.chunk.size) - run.start;
        const bytes = await this.runBytes(index, run, from, to, fetched);
        bytes.copy(out, run.start + from - start);
      }
    }
    return out;
  }

  private async runBytes(index: number, run: PlacedRun, from: number, to: number, blob: ByteSource): Promise<Buffer> {
    const cached = this.cache.get(index);
    if (cached !== undefined) return cached.subarray(from, to);
    this.stats.runsDecoded++;
    if (run.chunk.size > MAX_CACHED_RUN) return decodeRun(blob, this.format, run.chunk, run.path, from, to);
    const whole = await decodeRun(blob, this.format, run.chunk, run.path);
    this.cache.set(index, whole);
    return whole.subarray(from, to);
  }

  createReadStream(start?: number, end?: number): Readable {
    const range = clampStream(start, end, this.size);
    return createRangeStream((o, l) => this.read(o, l), range.start, range.end);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cache.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: this.name });
  }
}

/** Index of the last run starting at or before `offset` (-1 when none). */
function lastStartingAtOrBefore(runs: readonly PlacedRun[], offset: number): number {
  let low = 0;
  let high = runs.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((runs[mid] as PlacedRun).start <= offset) low = mid + 1;
    else high = mid;
  }
  return low - 1;
}
