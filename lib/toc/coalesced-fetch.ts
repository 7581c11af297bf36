import type { Readable } from 'node:stream';
import type { ByteSource } from '../source/byte-source.js';
import type { TocChunk } from './toc-model.js';

/** Largest stretch of the blob fetched by one read; a longer run is streamed by its decoder instead. */
const MAX_COALESCED = 8 * 1024 * 1024;
/** Stretches fetched at once by one read of a TOC layer. */
const FETCHES_IN_FLIGHT = 4;

/** Stored bytes of a chunk: its frame or member and what follows it up to the next chunk. */
export function compressedLength(chunk: TocChunk): number {
  return chunk.compressedEnd - chunk.compressedOffset;
}

interface Stretch {
  start: number;
  end: number;
  bytes?: Buffer;
}

/**
 * Fetches the stored bytes of `chunks` with as few reads of `blob` as their layout allows: chunks that
 * touch or overlap (a file's chunks, one after the other; files stored side by side) become one
 * stretch, read once (one ranged request from a registry), at most FETCHES_IN_FLIGHT at a time.
 * Returns the blob as seen through what was fetched: reads inside a stretch are served from memory,
 * anything else goes to `blob` itself. Nothing here is checked: the decoder checks each run's digest.
 */
export async function fetchCoalesced(blob: ByteSource, chunks: readonly TocChunk[]): Promise<ByteSource> {
  const stretches: Stretch[] = [];
  for (const chunk of [...chunks].sort((a, b) => a.compressedOffset - b.compressedOffset)) {
    if (compressedLength(chunk) > MAX_COALESCED) continue;
    const last = stretches.at(-1);
    if (last !== undefined && chunk.compressedOffset <= last.end && chunk.compressedEnd - last.start <= MAX_COALESCED) {
      last.end = Math.max(last.end, chunk.compressedEnd);
    } else {
      stretches.push({ start: chunk.compressedOffset, end: chunk.compressedEnd });
    }
  }
  if (stretches.length === 0) return blob;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < stretches.length) {
      const stretch = stretches[next++] as Stretch;
      stretch.bytes = await blob.read(stretch.start, stretch.end - stretch.start);
    }
  };
  await Promise.all(Array.from({ length: Math.min(FETCHES_IN_FLIGHT, stretches.length) }, worker));
  return new FetchedStretches(blob, stretches);
}

/** A blob with some stretches already in memory. */
class FetchedStretches implements ByteSource {
  readonly seekable = false;

  constructor(
    private readonly blob: ByteSource,
    private readonly stretches: readonly Stretch[],
  ) {}

  get name(): string {
    return this.blob.name;
  }

  get size(): number | undefined {
    return this.blob.size;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const held = this.stretches.find((stretch) => offset >= stretch.start && offset + length <= stretch.end);
    if (held?.bytes === undefined) return this.blob.read(offset, length);
    return held.bytes.subarray(offset - held.start, offset - held.start + length);
  }

  createReadStream(start?: number, end?: number): Readable {
    return this.blob.createReadStream(start, end);
  }

  /** The blob is the caller's: nothing to release here. */
  async close(): Promise<void> {}
}
