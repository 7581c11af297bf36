import { describe, expect, it } from 'vitest';
import { NumericColumnBuilder, valueAt, type NumericColumn } from '../../lib/table/numeric-column.js';
import { decodeSnapshot, encodeSnapshot } from '../../lib/table/snapshot-codec.js';
import { LayerTable } from '../../lib/table/layer-table.js';
import type { TarEntry } from '../../lib/tar/tar-entry.js';
import { seededRandom } from '../helpers/seeded-random.js';

function built(values: readonly number[]): NumericColumn {
  const builder = new NumericColumnBuilder();
  for (const value of values) builder.push(value);
  return builder.seal();
}

describe('NumericColumnBuilder', () => {
  it('keeps one value for a field every member shares, and the narrowest exact column otherwise', () => {
    expect(built([])).toBe(0);
    expect(built(Array.from({ length: 5000 }, () => 1_700_000_000_000))).toBe(1_700_000_000_000);
    const cases: Array<[number[], string]> = [
      [[0, 1, 255], 'Uint8Array'],
      [[0, 0o4755, 7], 'Uint16Array'],
      [[5, 70_000, 0], 'Uint32Array'],
      [[0, 2 ** 32, 1], 'Float64Array'], // an offset past 4 GiB
      [[1000, -1000, 0], 'Float64Array'], // an mtime before 1970
      [[1, 1.5], 'Float64Array'], // a PAX mtime with a fraction
    ];
    // Ordinals: the column is full (65 536 slots) just as the first value wider than 16 bits comes.
    const ordinals = Array.from({ length: 70_000 }, (_, i) => i);
    const counted = built(ordinals);
    expect(counted.constructor.name).toBe('Uint32Array');
    expect(Array.from(counted as Uint32Array)).toEqual(ordinals);
    for (const [values, type] of cases) {
      // Each value arrives after a long run of the first, and again after the column widened.
      const all = [...Array.from({ length: 3000 }, () => values[0] as number), ...values, ...values];
      const column = built(all);
      expect(column.constructor.name, JSON.stringify(values)).toBe(type);
      expect((column as ArrayLike<number>).length).toBe(all.length);
      expect(Array.from({ length: all.length }, (_, slot) => valueAt(column, slot))).toEqual(all);
    }
  });

  it('round-trips through the index file with the table answering the same', async () => {
    const members: Array<Partial<TarEntry>> = [
      { name: 'a', mode: 0o644, uid: 0, gid: 0, mtimeMs: -5000, size: 3, dataOffset: 2 ** 33 },
      { name: 'b', mode: 0o4755, uid: 70_000, gid: 1, mtimeMs: 1_700_000_000_500, size: 0, dataOffset: 1024, uname: 'x' },
      { name: 'c', mode: 0o600, uid: 0, gid: 0, mtimeMs: 0, size: 2 ** 40, dataOffset: 512, devmajor: 0 },
    ];
    async function* entries(): AsyncGenerator<TarEntry> {
      for (const [i, member] of members.entries()) {
        yield { type: 'file', typeflag: '0', uname: '', gname: '', linkname: '', devmajor: 0, devminor: 0, xattrs: {}, headerOffset: i * 512, mode: 0, uid: 0, gid: 0, size: 0, mtimeMs: 0, dataOffset: 0, name: '', ...member };
      }
    }
    const table = await LayerTable.build(entries());
    const loaded = LayerTable.fromSnapshot(decodeSnapshot(encodeSnapshot(table.snapshot())));
    for (const path of ['a', 'b', 'c']) expect(loaded.get(path)).toEqual(table.get(path));
    expect(loaded.get('b')).toMatchObject({ mode: 0o4755, uid: 70_000, mtimeMs: 1_700_000_000_500, uname: 'x' });
    expect(loaded.get('c')?.size).toBe(2 ** 40);
    expect(loaded.get('a')).toMatchObject({ mtimeMs: -5000, dataOffset: 2 ** 33 });
  });

  it('bulk appends (pushStaged, pushRepeated) give exactly the column per-value pushes give', () => {
    const VALUES = [0, 0, 1, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
    // What the general path may have pushed before a bulk run: a fraction, a negative, -0.
    const EARLIER = [...VALUES, 0.5, -5, -0];
    for (let seed = 1; seed <= 400; seed++) {
      const next = seededRandom(seed);
      const pick = (list: readonly number[]): number => list[Math.floor(next() * list.length)] as number;
      const one = new NumericColumnBuilder();
      const bulk = new NumericColumnBuilder();
      const runs = 1 + Math.floor(next() * 6);
      for (let run = 0; run < runs; run++) {
        const roll = next();
        const count = Math.floor(next() * (next() < 0.2 ? 3000 : 20));
        const same = next() < 0.4;
        const first = pick(VALUES);
        if (roll < 0.3) {
          const value = pick(EARLIER);
          one.push(value);
          bulk.push(value);
        } else if (roll < 0.5) {
          for (let i = 0; i < count; i++) one.push(first);
          bulk.pushRepeated(first, count);
        } else {
          const staged = Float64Array.from({ length: count }, () => (same ? first : pick(VALUES)));
          for (const value of staged) one.push(value);
          bulk.pushStaged(staged, count, staged.reduce((a, b) => Math.max(a, b), 0), staged.every((value) => value === staged[0]));
        }
      }
      const expected = one.seal();
      const got = bulk.seal();
      expect(got, `seed ${seed}`).toEqual(expected);
      expect(typeof got === 'number' ? 'number' : got.constructor.name, `seed ${seed}`).toBe(typeof expected === 'number' ? 'number' : expected.constructor.name);
    }
  });
});
