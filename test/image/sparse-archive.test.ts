/**
 * An image archive re-packed with `tar --sparse` stores the zero runs of its layer tars as holes:
 * the layer members are then read through their sparse maps, in place.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { writeImage } from '../helpers/image-builder.js';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { scratch } from './fixtures.js';

const tmp = scratch('sparse-archive');

describe('a docker archive re-packed with tar --sparse', () => {
  it('serves its layers through the members’ sparse maps', async () => {
    const dir = await tmp();
    const zeros = Buffer.alloc(2 * 1024 * 1024);
    const tail = Buffer.from('after two mebibytes of zeros\n');
    const original = await writeImage(dir, [buildLayer([file('zeros.bin', zeros), file('tail.txt', tail)])], { format: 'docker-archive' });
    const unpacked = join(dir, 'unpacked');
    await mkdir(unpacked);
    execFileSync('tar', ['-xf', original, '-C', unpacked]);
    // Make the layer tars sparse on disk, as a filesystem that dedups zero blocks would keep them.
    const layers = execFileSync('find', [unpacked, '-name', '*.tar', '-size', '+1M']).toString().trim().split('\n');
    expect(layers.length).toBeGreaterThan(0);
    for (const layer of layers) {
      execFileSync('cp', ['--sparse=always', layer, `${layer}.sparse`]);
      execFileSync('mv', [`${layer}.sparse`, layer]);
    }
    const sparse = join(dir, 'sparse.tar');
    execFileSync('tar', ['-cf', sparse, '--sparse', '--format=posix', '-C', unpacked, '.']);
    // The zero run of the layer tar became a hole: the repacked archive is far smaller.
    expect((await readFile(sparse)).length).toBeLessThan(256 * 1024);

    const fs = await openImage(sparse, { cache: false });
    try {
      expect(fs.layers).toHaveLength(1);
      expect((await fs.readFile('/zeros.bin')).equals(zeros)).toBe(true);
      expect(await fs.readFile('/tail.txt')).toEqual(tail);
    } finally {
      await fs.close();
    }
  });
});
