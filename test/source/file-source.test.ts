import { mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isImgfsError } from '../../lib/errors.js';
import { FileSource } from '../../lib/source/file-source.js';
import { collect, collectSlowly, randomBytes } from './helpers.js';

let dir: string;
let path: string;
const data = randomBytes(300_000, 3);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgfs-file-source-'));
  path = join(dir, 'blob.bin');
  await writeFile(path, data);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileSource', () => {
  it('knows its size and name, and is seekable', async () => {
    const source = await FileSource.open(path, 'image.tar');
    expect(source.size).toBe(data.length);
    expect(source.name).toBe('image.tar');
    expect(source.seekable).toBe(true);
    await source.close();
    const unnamed = await FileSource.open(path);
    expect(unnamed.name).toBe(path);
    await unnamed.close();
  });

  it('reads synchronously into a caller buffer, clamped to the file, and not once closed', async () => {
    const source = await FileSource.open(path);
    const target = Buffer.alloc(70_000);
    expect(source.readIntoSync(target, 12_345)).toBe(70_000);
    expect(target.equals(data.subarray(12_345, 82_345))).toBe(true);
    expect(source.readIntoSync(target, data.length - 5)).toBe(5);
    expect(target.subarray(0, 5).equals(data.subarray(data.length - 5))).toBe(true);
    expect(source.readIntoSync(target, data.length)).toBe(0);
    // With a length, only the start of the target is filled.
    target.fill(0);
    expect(source.readIntoSync(target, 100, 512)).toBe(512);
    expect(target.subarray(0, 512).equals(data.subarray(100, 612))).toBe(true);
    expect(target.subarray(512).every((byte) => byte === 0)).toBe(true);
    await source.close();
    expect(() => source.readIntoSync(target, 0)).toThrow(expect.objectContaining({ code: 'ECLOSED' }));
  });

  it('reads at any offset', async () => {
    const source = await FileSource.open(path);
    for (const [offset, length] of [[0, 10], [12345, 70000], [data.length - 5, 5], [0, data.length]] as const) {
      expect((await source.read(offset, length)).equals(data.subarray(offset, offset + length))).toBe(true);
    }
    await source.close();
  });

  it('clamps reads outside the file instead of throwing', async () => {
    const source = await FileSource.open(path);
    expect((await source.read(data.length - 3, 100)).equals(data.subarray(data.length - 3))).toBe(true);
    expect((await source.read(data.length, 10)).length).toBe(0);
    expect((await source.read(data.length + 1000, 10)).length).toBe(0);
    expect((await source.read(0, 0)).length).toBe(0);
    expect((await source.read(-5, 10)).equals(data.subarray(0, 5))).toBe(true);
    await expect(source.read(1.5, 3)).rejects.toThrow(RangeError);
    await expect(source.read(0, -1)).rejects.toThrow(RangeError);
    await source.close();
  });

  it('serves concurrent reads on one handle', async () => {
    const source = await FileSource.open(path);
    const offsets = Array.from({ length: 50 }, (_, i) => i * 5000);
    const results = await Promise.all(offsets.map((offset) => source.read(offset, 4096)));
    results.forEach((result, i) => {
      const offset = offsets[i] ?? 0;
      expect(result.equals(data.subarray(offset, offset + 4096))).toBe(true);
    });
    await source.close();
  });

  it('rejects reads after close with ECLOSED; close is idempotent', async () => {
    const source = await FileSource.open(path, 'x.tar');
    await source.close();
    await source.close();
    const error: unknown = await source.read(0, 1).catch((e: unknown) => e);
    expect(isImgfsError(error) && error.code === 'ECLOSED' && error.archive === 'x.tar').toBe(true);
    const streamError: unknown = await collect(source.createReadStream()).catch((e: unknown) => e);
    expect(isImgfsError(streamError) && streamError.code === 'ECLOSED').toBe(true);
  });

  it('finishes reads in flight when closed', async () => {
    const source = await FileSource.open(path);
    const pending = source.read(0, data.length);
    await source.close();
    expect((await pending).equals(data)).toBe(true);
  });

  it('never writes: opened read-only, mtime and size unchanged', async () => {
    const before = await stat(path);
    const source = await FileSource.open(path);
    if (process.platform === 'linux') {
      // Find our descriptor for the file and check its access mode in /proc (O_ACCMODE == O_RDONLY).
      const modes: number[] = [];
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
        if (target !== path) continue;
        const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
        const flags = /^flags:\s*([0-7]+)/m.exec(info)?.[1];
        if (flags !== undefined) modes.push(Number.parseInt(flags, 8) & 3);
      }
      expect(modes).toEqual([0]);
    }
    await source.read(0, data.length);
    await collect(source.createReadStream(100, 200_000));
    await source.close();
    const after = await stat(path);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.size).toBe(before.size);
    expect((await readFile(path)).equals(data)).toBe(true);
  });

  it('streams a range, in chunks of at most 64 KiB, without closing the handle', async () => {
    const source = await FileSource.open(path);
    const stream = source.createReadStream(1000, 250_000);
    const { data: streamed, chunks } = await collectSlowly(stream);
    expect(streamed.equals(data.subarray(1000, 250_000))).toBe(true);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(64 * 1024);
    expect((await collect(source.createReadStream())).equals(data)).toBe(true);
    expect((await collect(source.createReadStream(data.length - 10, data.length + 100))).equals(data.subarray(-10))).toBe(true);
    expect((await collect(source.createReadStream(500, 100))).length).toBe(0);
    // A destroyed stream leaves the source usable.
    const early = source.createReadStream();
    early.destroy();
    expect((await source.read(0, 4)).equals(data.subarray(0, 4))).toBe(true);
    await source.close();
  });

  it('reports a missing file as the fs error', async () => {
    await expect(FileSource.open(join(dir, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
