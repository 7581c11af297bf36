import { describe, expect, it, vi } from 'vitest';
import { createRangeStream } from '../../lib/source/range-stream.js';
import { collect, collectSlowly, randomBytes } from './helpers.js';

const data = randomBytes(1_000_000, 11);

function countingRead(): { read: (offset: number, length: number) => Promise<Buffer>; calls: Array<[number, number]> } {
  const calls: Array<[number, number]> = [];
  return {
    calls,
    read: async (offset, length) => {
      calls.push([offset, length]);
      return data.subarray(offset, Math.min(data.length, offset + length));
    },
  };
}

describe('createRangeStream', () => {
  it('streams exactly [start, end) in chunks aligned to 64 KiB', async () => {
    const { read, calls } = countingRead();
    const out = await collect(createRangeStream(read, 1000, 300_000));
    expect(out.equals(data.subarray(1000, 300_000))).toBe(true);
    expect(calls[0]).toEqual([1000, 65536 - 1000]);
    expect(calls[1]).toEqual([65536, 65536]);
    for (const [offset, length] of calls) {
      expect(Math.floor(offset / 65536)).toBe(Math.floor((offset + length - 1) / 65536));
    }
  });

  it('ends at the first empty read when the end is unknown', async () => {
    const { read } = countingRead();
    expect((await collect(createRangeStream(read, 900_000, Infinity))).equals(data.subarray(900_000))).toBe(true);
  });

  it('reads no further than the consumer wants (backpressure)', async () => {
    const { read, calls } = countingRead();
    const stream = createRangeStream(read, 0, data.length);
    stream.once('readable', () => {}); // starts filling the buffer, never consumes
    // Once the buffer holds its high-water mark the stream asks for nothing more until it is consumed.
    await vi.waitFor(() => expect(stream.readableLength).toBeGreaterThanOrEqual(65536), { timeout: 10_000, interval: 5 });
    expect(calls.length).toBeLessThanOrEqual(2);
    expect(stream.readableLength).toBeLessThanOrEqual(2 * 65536);
    stream.destroy();
  });

  it('works with a slow consumer', async () => {
    const { read } = countingRead();
    const { data: out } = await collectSlowly(createRangeStream(read, 5, 400_000), 1);
    expect(out.equals(data.subarray(5, 400_000))).toBe(true);
  });

  it('destroys the stream with the error of a failed read', async () => {
    const stream = createRangeStream(async () => Promise.reject(new Error('boom')), 0, 10);
    await expect(collect(stream)).rejects.toThrow('boom');
  });
});
