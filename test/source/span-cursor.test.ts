import { describe, expect, it } from 'vitest';
import { SpanCursor } from '../../lib/source/span-cursor.js';
import { STREAM_START } from '../../lib/source/inflater.js';
import { chunked, randomBytes } from './helpers.js';

async function spans(cursor: SpanCursor): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let span = await cursor.next(); span !== undefined; span = await cursor.next()) out.push(span);
  return out;
}

describe('SpanCursor', () => {
  const data = randomBytes(10_050, 2);

  it('cuts decoded chunks of any size into fixed spans, the last one shorter', async () => {
    for (const chunkSize of [1, 7, 1000, 1024, 5000, 20_000]) {
      const cursor = new SpanCursor(chunked(data, chunkSize), STREAM_START, 1024);
      const got = await spans(cursor);
      expect(got.map((s) => s.length)).toEqual([...Array(9).fill(1024), 834]);
      expect(Buffer.concat(got).equals(data)).toBe(true);
      expect(cursor.nextIndex).toBe(10);
      expect(cursor.position).toBe(data.length);
    }
  });

  it('ends cleanly on a span boundary', async () => {
    const cursor = new SpanCursor(chunked(data.subarray(0, 2048), 100), STREAM_START, 1024);
    expect((await spans(cursor)).map((s) => s.length)).toEqual([1024, 1024]);
    expect(await cursor.next()).toBeUndefined();
  });

  it('starts from a checkpoint inside a span at the next span boundary', async () => {
    // Decoding from decompressed offset 1500: bytes up to 2048 are dropped, span 2 comes first.
    const cursor = new SpanCursor(chunked(data.subarray(1500), 300), { rawOffset: 77, outOffset: 1500 }, 1024);
    expect(cursor.nextIndex).toBe(2);
    const first = await cursor.next();
    expect(first?.equals(data.subarray(2048, 3072))).toBe(true);
    expect(cursor.nextIndex).toBe(3);
  });

  it('releases the decoder when stopped', async () => {
    let released = false;
    async function* decoded(): AsyncGenerator<Buffer, void, undefined> {
      try {
        yield* chunked(data, 100);
      } finally {
        released = true;
      }
    }
    const cursor = new SpanCursor(decoded(), STREAM_START, 1024);
    await cursor.next();
    cursor.stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(released).toBe(true);
    expect(await cursor.next()).toBeUndefined();
  });

  it('passes decoder errors to the caller', async () => {
    async function* failing(): AsyncGenerator<Buffer, void, undefined> {
      yield data.subarray(0, 10);
      throw new Error('bad block');
    }
    await expect(new SpanCursor(failing(), STREAM_START, 1024).next()).rejects.toThrow('bad block');
  });
});
