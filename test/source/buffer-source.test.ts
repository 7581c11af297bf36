import { describe, expect, it } from 'vitest';
import { isImgfsError } from '../../lib/errors.js';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { collect } from './helpers.js';

describe('BufferSource', () => {
  const bytes = Buffer.from('0123456789');

  it('reads and clamps like any source', async () => {
    const source = new BufferSource(bytes, 'mem');
    expect(source.size).toBe(10);
    expect(source.seekable).toBe(true);
    expect((await source.read(2, 3)).toString()).toBe('234');
    expect((await source.read(8, 10)).toString()).toBe('89');
    expect((await source.read(10, 1)).length).toBe(0);
    expect((await collect(source.createReadStream(3, 7))).toString()).toBe('3456');
  });

  it('hands out copies, so callers cannot change its bytes', async () => {
    const source = new BufferSource(bytes, 'mem');
    const got = await source.read(0, 3);
    got.fill(0);
    expect((await source.read(0, 3)).toString()).toBe('012');
  });

  it('rejects reads after close with ECLOSED', async () => {
    const source = new BufferSource(bytes, 'mem');
    await source.close();
    const error: unknown = await source.read(0, 1).catch((e: unknown) => e);
    expect(isImgfsError(error) && error.code).toBe('ECLOSED');
  });
});
