import { describe, expect, it } from 'vitest';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { SparseView } from '../../lib/source/sparse-view.js';

/** The logical file the regions describe: their bytes at their offsets, zeros elsewhere. */
function expand(size: number, regions: number[], stored: Buffer): Buffer {
  const out = Buffer.alloc(size);
  let at = 0;
  for (let i = 0; i < regions.length; i += 2) {
    stored.copy(out, regions[i] as number, at, at + (regions[i + 1] as number));
    at += regions[i + 1] as number;
  }
  return out;
}

describe('SparseView', () => {
  const stored = Buffer.from('abcdefgh');
  const regions = [2, 3, 9, 0, 10, 5];
  // The stored bytes sit between other bytes of the parent, which must never leak into the file.
  const parent = new BufferSource(Buffer.concat([Buffer.alloc(100, 'X'), stored, Buffer.alloc(50, 'Y')]), 'layer.tar');
  const view = new SparseView(parent, 100, 18, regions);
  const expected = expand(18, regions, stored);

  it('reads holes as zeros and regions from their stored place', async () => {
    expect(expected).toEqual(Buffer.from('\0\0abc\0\0\0\0\0defgh\0\0\0'));
    expect(await view.read(0, 18)).toEqual(expected);
  });

  it('answers every range exactly, clamped to the file size', async () => {
    for (let start = 0; start <= 19; start++) {
      for (let length = 0; length <= 20; length++) {
        expect(await view.read(start, length), `${start}+${length}`).toEqual(expected.subarray(start, start + length));
      }
    }
  });

  it('streams a range', async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of view.createReadStream(3, 13)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks)).toEqual(expected.subarray(3, 13));
  });

  it('keeps a map that lies (overlapping, unordered, past the size) inside the stored bytes', async () => {
    const liar = new SparseView(parent, 100, 12, [5, 4, 3, 2, 10, 100]);
    const bytes = await liar.read(0, 12);
    expect(bytes).toHaveLength(12);
    expect(bytes.includes('X')).toBe(false);
  });

  it('returns short when the parent ends early, so the caller can report it', async () => {
    const cut = new SparseView(new BufferSource(Buffer.from('abc'), 'cut.tar'), 0, 20, [0, 2, 10, 6]);
    expect(await cut.read(0, 20)).toEqual(Buffer.from('ab\0\0\0\0\0\0\0\0c'));
  });

  it('refuses reads once closed', async () => {
    const closing = new SparseView(parent, 100, 18, regions);
    await closing.close();
    await expect(closing.read(0, 1)).rejects.toMatchObject({ code: 'ECLOSED' });
  });
});
