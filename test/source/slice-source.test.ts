import { describe, expect, it } from 'vitest';
import { isImgfsError } from '../../lib/errors.js';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { SliceSource } from '../../lib/source/slice-source.js';
import { collect, collectSlowly, randomBytes } from './helpers.js';

describe('SliceSource', () => {
  const outer = randomBytes(500_000, 5);

  it('reads inside its window only', async () => {
    const parent = new BufferSource(outer, 'image.tar');
    const slice = new SliceSource(parent, 1000, 200_000, 'image.tar!layer.tar');
    expect(slice.size).toBe(200_000);
    expect(slice.seekable).toBe(true);
    expect(slice.name).toBe('image.tar!layer.tar');
    expect((await slice.read(0, 10)).equals(outer.subarray(1000, 1010))).toBe(true);
    expect((await slice.read(199_990, 100)).equals(outer.subarray(200_990, 201_000))).toBe(true);
    expect((await slice.read(200_000, 10)).length).toBe(0);
    expect((await slice.read(-10, 20)).equals(outer.subarray(1000, 1010))).toBe(true);
  });

  it('reads synchronously only when its parent can, and only inside its window', async () => {
    const inMemory = new SliceSource(new BufferSource(outer, 'image.tar'), 1000, 200_000, 'layer');
    expect(inMemory.readIntoSync).toBeUndefined();
    const parent = {
      ...new BufferSource(outer, 'image.tar'),
      name: 'image.tar',
      size: outer.length,
      seekable: true,
      read: async (offset: number, length: number) => outer.subarray(offset, offset + length),
      createReadStream: () => { throw new Error('not used'); },
      close: async () => {},
      readIntoSync: (target: Buffer, offset: number, length = target.length) => outer.copy(target, 0, offset, offset + Math.min(length, target.length)),
    };
    const slice = new SliceSource(parent, 1000, 200_000, 'layer');
    const target = Buffer.alloc(100);
    expect(slice.readIntoSync?.(target, 199_950)).toBe(50);
    expect(target.subarray(0, 50).equals(outer.subarray(200_950, 201_000))).toBe(true);
    expect(slice.readIntoSync?.(target, 10)).toBe(100);
    expect(target.equals(outer.subarray(1010, 1110))).toBe(true);
    expect(slice.readIntoSync?.(target, 200_000)).toBe(0);
    // A length fills only the start of the target, clamped to the window as well.
    target.fill(0);
    expect(slice.readIntoSync?.(target, 20, 30)).toBe(30);
    expect(target.subarray(0, 30).equals(outer.subarray(1020, 1050))).toBe(true);
    expect(target.subarray(30).every((byte) => byte === 0)).toBe(true);
    expect(slice.readIntoSync?.(target, 199_990, 30)).toBe(10);
  });

  it('streams a range of its window', async () => {
    const parent = new BufferSource(outer, 'image.tar');
    const slice = new SliceSource(parent, 777, 300_000, 'layer');
    expect((await collect(slice.createReadStream())).equals(outer.subarray(777, 300_777))).toBe(true);
    const { data } = await collectSlowly(slice.createReadStream(100, 150_000), 1);
    expect(data.equals(outer.subarray(877, 150_777))).toBe(true);
    expect((await collect(slice.createReadStream(299_990, 400_000))).equals(outer.subarray(300_767, 300_777))).toBe(true);
  });

  it('nests', async () => {
    const parent = new BufferSource(outer, 'image.tar');
    const inner = new SliceSource(new SliceSource(parent, 100, 1000, 'a'), 50, 100, 'b');
    expect((await inner.read(0, 1000)).equals(outer.subarray(150, 250))).toBe(true);
  });

  it('does not close its parent', async () => {
    const parent = new BufferSource(outer, 'image.tar');
    const slice = new SliceSource(parent, 0, 10, 'layer');
    await slice.close();
    const error: unknown = await slice.read(0, 1).catch((e: unknown) => e);
    expect(isImgfsError(error) && error.code).toBe('ECLOSED');
    expect((await parent.read(0, 4)).equals(outer.subarray(0, 4))).toBe(true);
  });

  it('fails with ECLOSED once its parent is closed', async () => {
    const parent = new BufferSource(outer, 'image.tar');
    const slice = new SliceSource(parent, 0, 10, 'layer');
    await parent.close();
    const error: unknown = await slice.read(0, 1).catch((e: unknown) => e);
    expect(isImgfsError(error) && error.code).toBe('ECLOSED');
  });

  it('refuses a window past the end of its parent (ETRUNCATED) and bad numbers (RangeError)', () => {
    const parent = new BufferSource(outer, 'image.tar');
    expect(() => new SliceSource(parent, 499_000, 2000, 'layer')).toThrow(expect.objectContaining({ code: 'ETRUNCATED' }));
    expect(() => new SliceSource(parent, -1, 10, 'layer')).toThrow(RangeError);
    expect(() => new SliceSource(parent, 0, 1.5, 'layer')).toThrow(RangeError);
    expect(new SliceSource(parent, 500_000, 0, 'empty').size).toBe(0);
  });
});
