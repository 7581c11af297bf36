import type { Readable } from 'node:stream';
import { stream } from '../lazy-stream.js';
import { ImgfsError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import type { RangeReader } from './http-blob-source.js';
import { clampRead, clampStream } from './range.js';

/** Ranged requests one blob's view keeps in flight at once; more wait their turn. */
export const MAX_RANGES_IN_FLIGHT = 4;

/** Requests made and stored bytes received, shared with the blob source the view comes from. */
export interface RangeStats {
  bytesFetched: number;
  fetches: number;
}

/**
 * A remote blob read by plain ranged requests: each read is one request for exactly its bytes, nothing
 * is cached or checked. It exists for a reader that checks every byte it uses against digests of its
 * own that a verified manifest vouches for (a table of contents whose digest the descriptor states,
 * then each chunk's digest from it): such a reader needs neither the blob's first whole pass nor its
 * span digests, and so a lazy pull fetches only the footer, the TOC and the chunks of the files read.
 * Requests in flight are bounded (MAX_RANGES_IN_FLIGHT) so that many readers cannot open a connection
 * each.
 */
export class UncheckedRangeSource implements ByteSource {
  readonly seekable = false;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  constructor(
    readonly name: string,
    readonly size: number,
    private readonly readRange: RangeReader,
    readonly stats: RangeStats = { bytesFetched: 0, fetches: 0 },
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    this.assertOpen();
    const { start, end } = clampRead(offset, length, this.size);
    if (end <= start) return Buffer.alloc(0);
    await this.slot();
    try {
      this.stats.fetches += 1;
      const parts: Buffer[] = [];
      let got = 0;
      for await (const chunk of this.readRange(start, end)) {
        this.stats.bytesFetched += chunk.length;
        parts.push(chunk);
        got += chunk.length;
      }
      if (got !== end - start) {
        throw new ImgfsError('ETRUNCATED', `blob range ${start}–${end} ended after ${got} bytes`, { archive: this.name, offset: start + got });
      }
      return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    } finally {
      this.release();
    }
  }

  createReadStream(start?: number, end?: number): Readable {
    const range = clampStream(start, end, this.size);
    if (range.end <= range.start) return stream().Readable.from([]);
    const self = this;
    async function* bytes(): AsyncGenerator<Buffer> {
      self.assertOpen();
      self.stats.fetches += 1;
      for await (const chunk of self.readRange(range.start, range.end)) {
        self.stats.bytesFetched += chunk.length;
        yield chunk;
      }
    }
    return stream().Readable.from(bytes(), { objectMode: false });
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private async slot(): Promise<void> {
    if (this.inFlight < MAX_RANGES_IN_FLIGHT) {
      this.inFlight += 1;
      return;
    }
    // The releasing request hands its slot over: inFlight stays as it is.
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.inFlight -= 1;
    else next();
  }

  private assertOpen(): void {
    if (this.closed) throw new ImgfsError('ECLOSED', 'byte source is closed', { archive: this.name });
  }
}
