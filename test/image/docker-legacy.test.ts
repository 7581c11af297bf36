import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadImage } from '../../lib/image/load-image.js';
import { CREATED, hostArchitecture, packTar, writeImage, type OuterEntry } from '../helpers/image-builder.js';
import { expectImgfsError, layerBytes, sampleLayers, scratch } from './fixtures.js';

const tmp = scratch('docker-legacy');
const id = (n: number): string => n.toString(16).padStart(2, '0').repeat(32);

interface V1Layer {
  id: string;
  parent?: string;
  cmd?: string[];
  layer?: Buffer | null;
  extra?: Record<string, unknown>;
}

/** A legacy save from explicit v1 layers (`layer: null` leaves out layer.tar). */
async function legacyArchive(layers: V1Layer[], repositories?: unknown): Promise<string> {
  const entries: OuterEntry[] = [];
  for (const v1 of layers) {
    entries.push({ name: `${v1.id}/`, type: 'directory' }, { name: `${v1.id}/VERSION`, data: '1.0' });
    const json = { id: v1.id, parent: v1.parent, container_config: v1.cmd === undefined ? undefined : { Cmd: v1.cmd }, ...v1.extra };
    entries.push({ name: `${v1.id}/json`, data: JSON.stringify(json) });
    if (v1.layer !== null) entries.push({ name: `${v1.id}/layer.tar`, data: v1.layer ?? (sampleLayers[0] as Buffer) });
  }
  if (repositories !== undefined) entries.push({ name: 'repositories', data: JSON.stringify(repositories) });
  const path = join(await tmp(), 'legacy.tar');
  await writeFile(path, await packTar(entries));
  return path;
}

describe('F2 docker-legacy (repositories, <id>/json parents)', () => {
  it('walks parents from the tagged top to the root and lists layers bottom first', async () => {
    const path = await writeImage(await tmp(), sampleLayers, { format: 'docker-legacy' });
    const image = await loadImage(path);
    try {
      expect(image.format).toBe('docker-legacy');
      expect(image.layers).toHaveLength(3);
      expect(image.layers.every((layer) => /^[a-f0-9]{64}\/layer\.tar$/.test(layer.location))).toBe(true);
      expect(image.layers.map((layer) => [layer.digest, layer.diffId, layer.mediaType])).toEqual([
        [undefined, undefined, undefined],
        [undefined, undefined, undefined],
        [undefined, undefined, undefined],
      ]);
      expect(image.layers.map((layer) => layer.size)).toEqual(sampleLayers.map((layer) => layer.length));
      expect(image.layers.map((layer) => layer.createdBy)).toEqual([0, 1, 2].map((i) => `/bin/sh -c #(nop) ADD layer-${i}.tar in /`));
      expect(await layerBytes(image)).toEqual(sampleLayers);
      expect(image.config).toMatchObject({
        architecture: hostArchitecture(),
        os: 'linux',
        created: CREATED,
        config: { Cmd: ['/bin/sh'], WorkingDir: '/' },
      });
      expect(image.config?.history?.map((entry) => entry.created_by)).toEqual(image.layers.map((layer) => layer.createdBy));
    } finally {
      await image.close();
    }
  });

  it('orders by parent links, not by member order', async () => {
    const [a, b, c] = sampleLayers as [Buffer, Buffer, Buffer];
    const path = await legacyArchive(
      [
        { id: id(3), parent: id(1), layer: c, cmd: ['top'] },
        { id: id(1), parent: id(2), layer: b, cmd: ['/bin/sh', '-c', 'middle'] },
        { id: id(2), layer: a, cmd: [] },
      ],
      { app: { latest: id(3) } },
    );
    const image = await loadImage(path);
    try {
      expect(image.layers.map((layer) => layer.location)).toEqual([`${id(2)}/layer.tar`, `${id(1)}/layer.tar`, `${id(3)}/layer.tar`]);
      expect(image.layers.map((layer) => layer.createdBy)).toEqual([undefined, '/bin/sh -c middle', 'top']);
      expect(await layerBytes(image)).toEqual([a, b, c]);
    } finally {
      await image.close();
    }
  });

  it('chooses the top layer by repo:tag ref, and lists the tags otherwise', async () => {
    const path = await legacyArchive(
      [
        { id: id(1), cmd: ['base'] },
        { id: id(2), parent: id(1), cmd: ['two'], layer: sampleLayers[1] },
        { id: id(3), parent: id(1), cmd: ['three'], layer: sampleLayers[2] },
      ],
      { app: { two: id(2) }, 'example.com/app': { three: id(3) } },
    );
    await expectImgfsError(loadImage(path), 'ENOREF', /2 images; choose one with a ref: 'app:two', 'example\.com\/app:three'/);
    const three = await loadImage(path, { ref: 'example.com/app:three' });
    expect(three.layers.map((layer) => layer.createdBy)).toEqual(['base', 'three']);
    await three.close();
    const two = await loadImage(path, { ref: 'docker.io/library/app:two' });
    expect(two.layers.map((layer) => layer.createdBy)).toEqual(['base', 'two']);
    await two.close();
    await expectImgfsError(loadImage(path, { ref: 'app:one' }), 'ENOREF', /no image tagged 'app:one'/);
  });

  it('without repositories, takes the one layer that is nobody’s parent', async () => {
    const path = await legacyArchive([{ id: id(1) }, { id: id(2), parent: id(1), cmd: ['top'] }]);
    const image = await loadImage(path);
    expect(image.format).toBe('docker-legacy');
    expect(image.layers.map((layer) => layer.createdBy)).toEqual([undefined, 'top']);
    await image.close();
    const forked = await legacyArchive([{ id: id(1) }, { id: id(2), parent: id(1) }, { id: id(3), parent: id(1) }]);
    await expectImgfsError(loadImage(forked), 'ENOREF', /2 top layers/);
  });

  it('detects a parent cycle', async () => {
    const path = await legacyArchive(
      [
        { id: id(1), parent: id(3) },
        { id: id(2), parent: id(1) },
        { id: id(3), parent: id(2) },
      ],
      { app: { latest: id(3) } },
    );
    const err = await expectImgfsError(loadImage(path), 'EIMGFORMAT', /parents form a cycle at/);
    expect(err.archive).toBe(path);
    const untagged = await legacyArchive([
      { id: id(1), parent: id(2) },
      { id: id(2), parent: id(1) },
    ]);
    await expectImgfsError(loadImage(untagged), 'EIMGFORMAT', /cycle/);
  });

  it('names a missing parent, a missing layer.tar and a bad id', async () => {
    const orphan = await legacyArchive([{ id: id(2), parent: id(9) }], { app: { latest: id(2) } });
    await expectImgfsError(loadImage(orphan), 'EIMGFORMAT', new RegExp(`layer ${id(2)} names parent ${id(9)}, which is missing.*member ${id(9)}/json`));
    const noLayer = await legacyArchive([{ id: id(1), layer: null }], { app: { latest: id(1) } });
    await expectImgfsError(loadImage(noLayer), 'EIMGFORMAT', new RegExp(`member ${id(1)}/layer.tar is missing \\(layer 0`));
    const escape = await legacyArchive([{ id: id(1) }], { app: { latest: '../../etc' } });
    await expectImgfsError(loadImage(escape), 'EIMGFORMAT', /invalid layer id "..\/..\/etc"/);
    const badParent = await legacyArchive([{ id: id(1), parent: '../x' }], { app: { latest: id(1) } });
    await expectImgfsError(loadImage(badParent), 'EIMGFORMAT', /invalid layer id/);
  });

  it('rejects a repositories file that is not JSON', async () => {
    const path = await legacyArchive([{ id: id(1) }], undefined);
    const bad = path.replace('legacy.tar', 'bad.tar');
    await writeFile(bad, await packTar([{ name: 'repositories', data: '{"app":' }, { name: `${id(1)}/json`, data: '{}' }]));
    await expectImgfsError(loadImage(bad), 'EIMGFORMAT', /repositories is not valid JSON.*member repositories/);
  });
});

describe('F2 platform option', () => {
  it('accepts the top layer’s platform and refuses another', async () => {
    const path = await legacyArchive([{ id: id(1), extra: { os: 'linux', architecture: 'arm64' } }], { app: { latest: id(1) } });
    const image = await loadImage(path, { platform: 'linux/arm64/v8' });
    expect(image.config?.architecture).toBe('arm64');
    await image.close();
    await expectImgfsError(loadImage(path, { platform: 'linux/amd64' }), 'ENOREF', /no image for platform linux\/amd64; the archive has linux\/arm64/);
  });
});
