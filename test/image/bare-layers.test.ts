import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadImage } from '../../lib/image/load-image.js';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { compressLayer, writeImage } from '../helpers/image-builder.js';
import { expectImgfsError, layerBytes, readAll, sampleLayers, scratch } from './fixtures.js';

const tmp = scratch('bare-layers');

describe('F4 bare layers', () => {
  it.each(['none', 'gzip', 'zstd'] as const)('takes a list of %s layer files bottom first', async (compression) => {
    const paths = await writeImage(await tmp(), sampleLayers, { format: 'layers', compression });
    const image = await loadImage(paths);
    try {
      expect(image.format).toBe('layers');
      expect(image.archive).toBe(paths.join(', '));
      expect(image.config).toBeUndefined();
      expect(image.layers.map((layer) => layer.location)).toEqual(paths);
      expect(image.layers.map((layer) => [layer.index, layer.digest, layer.diffId, layer.mediaType, layer.createdBy])).toEqual([
        [0, undefined, undefined, undefined, undefined],
        [1, undefined, undefined, undefined, undefined],
        [2, undefined, undefined, undefined, undefined],
      ]);
      const stored = sampleLayers.map((layer) => compressLayer(layer, compression));
      expect(image.layers.map((layer) => layer.size)).toEqual(stored.map((blob) => blob.length));
      expect(await layerBytes(image)).toEqual(stored);
    } finally {
      await image.close();
    }
    const reversed = await loadImage([...paths].reverse());
    expect(reversed.layers.map((layer) => layer.location)).toEqual([...paths].reverse());
    await reversed.close();
  });

  it('treats a single file that is a layer tar (plain or compressed) as a one-layer image', async () => {
    const dir = await tmp();
    // A root filesystem may well hold an index.json or a manifest-less oci-free tree: still a layer.
    const layer = buildLayer([file('index.json', '{"manifests":[]}'), file('etc/hostname', 'x')]);
    for (const compression of ['none', 'gzip', 'zstd'] as const) {
      const path = join(dir, `layer-${compression}`);
      await writeFile(path, compressLayer(layer, compression));
      const image = await loadImage(path);
      expect(image.format).toBe('layers');
      expect(image.layers).toHaveLength(1);
      expect(image.layers[0]?.location).toBe(path);
      expect(await readAll(image.layers[0]!.blob)).toEqual(compressLayer(layer, compression));
      await image.close();
      const asList = await loadImage([path]);
      expect(asList.format).toBe('layers');
      await asList.close();
    }
  });

  it('closes every layer file', async () => {
    const image = await loadImage(await writeImage(await tmp(), sampleLayers, { format: 'layers' }));
    await image.close();
    await expectImgfsError(image.layers[1]!.blob.read(0, 1), 'ECLOSED');
  });

  it('refuses an empty list and a directory among layers', async () => {
    const empty = await expectImgfsError(loadImage([]), 'EIMGFORMAT', /^EIMGFORMAT: no layer files given$/);
    expect(empty.archive).toBeUndefined();
    const dir = await tmp();
    const [first] = await writeImage(dir, sampleLayers, { format: 'layers' });
    await expectImgfsError(loadImage([first as string, dir]), 'EIMGFORMAT', /a directory is not a layer tar .*\(layer 1, in /);
  });
});
