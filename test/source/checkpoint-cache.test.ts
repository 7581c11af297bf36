/**
 * The checkpoints of compressed layers kept in the index cache (lib/fs/open-image.ts wires it): recorded
 * during the indexing pass, stored as `<hash of blob identity>.ckpt` beside the index files, imported by
 * the next open, removed with a warning when unusable.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { writeImage } from '../helpers/image-builder.js';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { compressibleBytes, randomBytes } from './helpers.js';

const MiB = 1024 * 1024;

async function filesIn(dir: string, suffix: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith(suffix)) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

/** Where each packed window of a checkpoint file (format 3) lies, and its length. */
function windowsOf(bytes: Buffer): Array<[number, number]> {
  const count = bytes.readUInt32LE(28);
  let at = 32 + count * 27 + 4;
  const windows: Array<[number, number]> = [];
  for (let i = 0; i < count; i += 1) {
    const length = bytes.readUInt32LE(32 + i * 27 + 19);
    if (length > 0) windows.push([at, length]);
    at += length;
  }
  return windows;
}

describe('checkpoints in the index cache', () => {
  let dir: string;
  let image: string;
  const early = compressibleBytes(6 * MiB, 1);
  const late = Buffer.concat([randomBytes(MiB, 2), compressibleBytes(3 * MiB, 3)]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imgfs-ckpt-'));
    const layer = buildLayer([file('early.bin', early), file('late.bin', late)]);
    image = (await writeImage(dir, [layer], { format: 'oci-dir', compression: 'gzip' })) as string;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('are stored by the first open and read by the next', async () => {
    const cache = join(dir, 'cache');
    const first = await openImage(image, { cache });
    expect((await first.readFile('/late.bin')).equals(late)).toBe(true);
    await first.close();
    const stored = await filesIn(cache, '.ckpt');
    expect(stored.length).toBe(1);

    const warnings: string[] = [];
    const second = await openImage(image, { cache, onWarning: (w) => warnings.push(w.message) });
    expect((await second.readFile('/late.bin')).equals(late)).toBe(true);
    expect((await second.readFile('/early.bin')).equals(early)).toBe(true);
    expect(warnings).toEqual([]);
    await second.close();
  });

  // The file is read where it lies (format 3): its table with the layer's first read, a window when a
  // read starts from its checkpoint. Damage in either is found then.
  for (const [where, damage] of [
    ['its table', () => [40]],
    ['the windows', (bytes: Buffer) => windowsOf(bytes).map(([at, length]) => at + (length >> 1))],
  ] as const) {
    it(`an unusable checkpoint file (damage in ${where}) is removed with a warning; reads stay right`, async () => {
      const cache = join(dir, `cache-damaged-${where.length}`);
      await (await openImage(image, { cache })).close();
      const [stored] = await filesIn(cache, '.ckpt');
      if (stored === undefined) throw new Error('no checkpoint file');
      const bytes = await readFile(stored);
      for (const at of damage(bytes)) bytes[at] = (bytes[at] ?? 0) ^ 1;
      await writeFile(stored, bytes);

      const warnings: string[] = [];
      const fs = await openImage(image, { cache, onWarning: (w) => warnings.push(w.message) });
      expect(warnings).toEqual([]); // checkpoints are read with the layer's first read, not at open
      expect((await fs.readFile('/late.bin')).equals(late)).toBe(true);
      expect(warnings.join('\n')).toMatch(/\.ckpt is unusable .*checksum mismatch.*removing it/);
      await fs.close();
      expect(await filesIn(cache, '.ckpt')).toEqual([]);
    });
  }

  it('no cache, no checkpoint files', async () => {
    const fs = await openImage(image, { cache: false });
    expect((await fs.readFile('/late.bin')).equals(late)).toBe(true);
    await fs.close();
  });
});
