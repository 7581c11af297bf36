import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadImage } from '../../lib/image/load-image.js';
import { openDecompressed } from '../../lib/source/codec.js';
import { compressLayer, packTar, sha256Digest, writeImage, type ImageKind } from '../helpers/image-builder.js';
import { expectImgfsError, layerBytes, readAll, sampleLayers, scratch } from './fixtures.js';

const tmp = scratch('load-image');
const diffIds = sampleLayers.map((layer) => sha256Digest(layer));

describe('loadImage recognises each format written from the same layers', () => {
  it.each(['docker-archive', 'docker-legacy', 'oci-dir', 'oci-archive', 'layers'] as const)('%s', async (format: ImageKind) => {
    const path = await writeImage(await tmp(), sampleLayers, { format });
    const image = await loadImage(path);
    try {
      expect(image.format).toBe(format);
      expect(image.layers.map((layer) => layer.index)).toEqual([0, 1, 2]);
      expect(await layerBytes(image)).toEqual(sampleLayers);
      if (format !== 'layers' && format !== 'docker-legacy') expect(image.layers.map((layer) => layer.diffId)).toEqual(diffIds);
    } finally {
      await image.close();
    }
  });
});

describe('loadImage on compressed image archives', () => {
  it.each(['docker-archive', 'oci-archive', 'docker-legacy'] as const)('reads a gzip- or zstd-compressed %s through its decompressed bytes', async (format) => {
    const dir = await tmp();
    const plain = await writeImage(dir, sampleLayers, { format });
    const bytes = await readFile(plain);
    for (const [name, data] of [['image.tar.gz', gzipSync(bytes)], ['image.tar.zst', compressLayer(bytes, 'zstd')]] as const) {
      const path = join(dir, name);
      await writeFile(path, data);
      const image = await loadImage(path);
      try {
        expect(image.format).toBe(format);
        expect(await layerBytes(image)).toEqual(sampleLayers);
      } finally {
        await image.close();
      }
    }
  });

  it('a compressed layer tar is still a layer, not decompressed here', async () => {
    const path = join(await tmp(), 'layer.tar.gz');
    await writeFile(path, gzipSync(sampleLayers[0] as Buffer));
    const image = await loadImage(path);
    expect(image.format).toBe('layers');
    const { source } = await openDecompressed(image.layers[0]!.blob);
    expect(await readAll(source)).toEqual(sampleLayers[0]);
    await source.close();
    await image.close();
  });
});

describe('loadImage errors', () => {
  it('refuses a file that is neither an image nor a tar, and an empty file', async () => {
    const dir = await tmp();
    await writeFile(join(dir, 'notes.txt'), 'hello, this is not a tar archive at all\n'.repeat(20));
    await expectImgfsError(loadImage(join(dir, 'notes.txt')), 'EIMGFORMAT', /neither an image archive nor a layer tar/);
    await writeFile(join(dir, 'empty'), '');
    await expectImgfsError(loadImage(join(dir, 'empty')), 'EIMGFORMAT', /the file is empty/);
  });

  it('lets a missing path fail as the file system says', async () => {
    await expect(loadImage(join(await tmp(), 'nope.tar'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('names index.json when an OCI archive has only oci-layout', async () => {
    const path = join(await tmp(), 'half.tar');
    await writeFile(path, await packTar([{ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }]));
    const err = await expectImgfsError(loadImage(path), 'EIMGFORMAT', /index\.json is missing/);
    expect(err.member).toBe('index.json');
    expect(err.archive).toBe(path);
  });

  it('refuses a manifest.json over 8 MiB (ELIMIT)', async () => {
    const path = join(await tmp(), 'huge.tar');
    await writeFile(path, await packTar([{ name: 'manifest.json', data: Buffer.alloc(8 * 1024 * 1024 + 1, 0x20) }]));
    await expectImgfsError(loadImage(path), 'ELIMIT', /manifest\.json is 8388609 bytes/);
  });

  it('reads an OCI directory given with a trailing slash', async () => {
    const dir = await writeImage(await tmp(), sampleLayers, { format: 'oci-dir' });
    await mkdir(join(dir, 'extra'));
    const image = await loadImage(`${dir}/`);
    expect(image.format).toBe('oci-dir');
    await image.close();
  });
});
