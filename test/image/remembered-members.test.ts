/**
 * An image archive's member list kept in the index cache (lib/image/remembered-members.ts): a warm
 * open walks no outer tar header, and anything that changes the file, or a list that does not fit
 * it, means the archive is walked again.
 */
import { readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadImage } from '../../lib/image/load-image.js';
import type { LoadedImage } from '../../lib/image/loaded-image.js';
import { OuterTar } from '../../lib/image/outer-tar.js';
import { SNAPSHOT_FORMAT_VERSION } from '../../lib/table/snapshot-codec.js';
import { TableCache } from '../../lib/table/table-cache.js';
import { writeImage } from '../helpers/image-builder.js';
import { layerBytes, sampleLayers, scratch } from './fixtures.js';

const tmp = scratch('remembered-members');

afterEach(() => {
  vi.restoreAllMocks();
});

/** The layers as a loader hands them on: where they lie in the archive, and what they are. */
function described(image: LoadedImage): unknown[] {
  return image.layers.map(({ index, location, digest, diffId, size, createdBy }) => ({ index, location, digest, diffId, size, createdBy }));
}

async function open(path: string, cacheDir: string | undefined): Promise<{ image: LoadedImage; walks: number; layers: Buffer[] }> {
  const walk = vi.spyOn(OuterTar, 'read');
  const members = cacheDir === undefined ? undefined : new TableCache(cacheDir, () => undefined);
  const image = await loadImage(path, { members });
  const walks = walk.mock.calls.length;
  walk.mockRestore();
  const layers = await layerBytes(image);
  await image.close();
  return { image, walks, layers };
}

describe('remembered outer members', () => {
  it.each(['docker-archive', 'oci-archive'] as const)('%s: a warm open walks no outer tar and gives the same layers', async (format) => {
    const dir = await tmp();
    const path = (await writeImage(dir, sampleLayers, { format })) as string;
    const cache = join(dir, 'cache');
    const cold = await open(path, cache);
    expect(cold.walks).toBe(1);
    expect(readdirSync(join(cache, `v${SNAPSHOT_FORMAT_VERSION}`)).filter((name) => name.endsWith('.members'))).toHaveLength(1);
    const warm = await open(path, cache);
    expect(warm.walks).toBe(0);
    expect(described(warm.image)).toEqual(described(cold.image));
    expect(warm.layers).toEqual([...sampleLayers]);
    // Without a cache, every open walks.
    expect((await open(path, undefined)).walks).toBe(1);
  });

  it('a changed archive is walked again: other content in its place, or only a new mtime', async () => {
    const dir = await tmp();
    const path = (await writeImage(dir, sampleLayers, { format: 'docker-archive' })) as string;
    const other = (await writeImage(join(dir, 'other'), [sampleLayers[1] as Buffer, sampleLayers[0] as Buffer], { format: 'docker-archive' })) as string;
    const cache = join(dir, 'cache');
    await open(path, cache);
    await copyFile(other, path);
    const replaced = await open(path, cache);
    expect(replaced.walks).toBe(1);
    expect(replaced.layers).toEqual([sampleLayers[1], sampleLayers[0]]);
    expect((await open(path, cache)).walks).toBe(0);
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    expect((await open(path, cache)).walks).toBe(1);
  });

  it('a remembered list that does not fit the file is not used: the archive is walked', async () => {
    const dir = await tmp();
    const path = (await writeImage(dir, sampleLayers, { format: 'docker-archive' })) as string;
    const cache = join(dir, 'cache');
    await open(path, cache);
    const listFile = join(cache, `v${SNAPSHOT_FORMAT_VERSION}`, readdirSync(join(cache, `v${SNAPSHOT_FORMAT_VERSION}`)).find((name) => name.endsWith('.members')) as string);
    const planted = [
      JSON.stringify({ v: 1, members: [['manifest.json', 10 ** 12, 10, 'file', '']] }),
      JSON.stringify({ v: 2, members: [] }),
      JSON.stringify({ v: 1, members: [['manifest.json', 0, 10, 'socket', '']] }),
      'not json',
    ];
    for (const bytes of planted) {
      writeFileSync(listFile, bytes);
      const opened = await open(path, cache);
      expect(opened.walks, bytes).toBe(1);
      expect(opened.layers).toEqual([...sampleLayers]);
    }
  });
});
