/**
 * UncheckedRangeSource: one ranged request per read, exactly the bytes asked for, a short answer is
 * ETRUNCATED, and no more than MAX_RANGES_IN_FLIGHT requests at once however many reads wait.
 */
import { describe, expect, it } from 'vitest';
import { MAX_RANGES_IN_FLIGHT, UncheckedRangeSource } from '../../lib/source/unchecked-range-source.js';
import { expectImgfsError } from '../helpers/expect-imgfs-error.js';

const BLOB = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

describe('UncheckedRangeSource', () => {
  it('reads exactly the range asked for, one request each, and counts them', async () => {
    const asked: Array<[number, number]> = [];
    const source = new UncheckedRangeSource('blob', BLOB.length, async function* (start, end) {
      asked.push([start, end]);
      yield BLOB.subarray(start, start + 3);
      yield BLOB.subarray(start + 3, end);
    });
    expect((await source.read(100, 50)).equals(BLOB.subarray(100, 150))).toBe(true);
    expect((await source.read(990, 50)).equals(BLOB.subarray(990))).toBe(true);
    expect(await source.read(1000, 5)).toHaveLength(0);
    expect(asked).toEqual([
      [100, 150],
      [990, 1000],
    ]);
    expect(source.stats).toEqual({ fetches: 2, bytesFetched: 60 });
  });

  it('a shorter answer is ETRUNCATED', async () => {
    const source = new UncheckedRangeSource('blob', BLOB.length, async function* (start, end) {
      yield BLOB.subarray(start, end - 1);
    });
    await expectImgfsError(source.read(0, 10), { code: 'ETRUNCATED', archive: 'blob' });
  });

  it(`keeps at most ${MAX_RANGES_IN_FLIGHT} requests in flight`, async () => {
    let inFlight = 0;
    let most = 0;
    const gates: Array<() => void> = [];
    const source = new UncheckedRangeSource('blob', BLOB.length, async function* (start, end) {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise<void>((resolve) => gates.push(resolve));
      inFlight -= 1;
      yield BLOB.subarray(start, end);
    });
    const reads = Array.from({ length: 10 }, (_, i) => source.read(i * 10, 10));
    // Let every read that can start, start; then open the gates one by one.
    for (let released = 0; released < 10; released++) {
      await new Promise((resolve) => setImmediate(resolve));
      expect(gates.length).toBeGreaterThan(0);
      gates.shift()?.();
    }
    const results = await Promise.all(reads);
    results.forEach((bytes, i) => expect(bytes.equals(BLOB.subarray(i * 10, i * 10 + 10))).toBe(true));
    expect(most).toBe(MAX_RANGES_IN_FLIGHT);
  });
});
