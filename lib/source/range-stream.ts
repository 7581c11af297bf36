import type { Readable } from 'node:stream';
import { stream } from '../lazy-stream.js';

/** Chunk size of every source's read stream. */
export const STREAM_CHUNK_SIZE = 64 * 1024;

/** How a range stream gets its bytes: the owning source's `read`. */
export type ReadFn = (offset: number, length: number) => Promise<Buffer>;

/**
 * A Readable over `[start, end)` that pulls one chunk at a time through `read`, so memory stays at about
 * one chunk and a slow consumer simply stops the reads (backpressure). Chunks are aligned to multiples of
 * `chunkSize` so that they never straddle a decompressed span. `end` may be `Infinity`: the stream then
 * ends at the first empty read. The stream never closes the source it reads from.
 */
export function createRangeStream(
  read: ReadFn,
  start: number,
  end: number,
  chunkSize: number = STREAM_CHUNK_SIZE,
): Readable {
  let position = start;
  return new (stream().Readable)({
    highWaterMark: chunkSize,
    read(this: Readable): void {
      if (position >= end) {
        this.push(null);
        return;
      }
      const boundary = (Math.floor(position / chunkSize) + 1) * chunkSize;
      const length = Math.min(boundary, end) - position;
      read(position, length).then(
        (chunk) => {
          if (this.destroyed) return;
          if (chunk.length === 0) {
            this.push(null);
            return;
          }
          position += chunk.length;
          this.push(chunk);
        },
        (error: unknown) => {
          this.destroy(error instanceof Error ? error : new Error(String(error)));
        },
      );
    },
  });
}
