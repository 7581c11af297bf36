import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { digestFromName } from '../../lib/image/docker-archive.js';
import { loadImage } from '../../lib/image/load-image.js';
import { CREATED, EMPTY_LAYER_CREATED_BY, hostArchitecture, packTar, REF_LABEL, sha256Digest, writeImage, type OuterEntry } from '../helpers/image-builder.js';
import { expectImgfsError, layerBytes, readAll, sampleLayers, scratch } from './fixtures.js';

const tmp = scratch('docker-archive');
const diffIds = sampleLayers.map((layer) => sha256Digest(layer));
const hex = (digest: string): string => digest.slice(7);

async function archiveOf(entries: OuterEntry[]): Promise<string> {
  const path = join(await tmp(), 'custom.tar');
  await writeFile(path, await packTar(entries));
  return path;
}

const configJson = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffIds[0]] }, ...extra });

describe('F1 docker-archive (manifest.json)', () => {
  it('lists the layers bottom first with diff ids, history and config, read in place', async () => {
    const path = await writeImage(await tmp(), sampleLayers, { format: 'docker-archive' });
    const image = await loadImage(path);
    try {
      expect(image.format).toBe('docker-archive');
      expect(image.archive).toBe(path);
      expect(image.layers.map((layer) => layer.index)).toEqual([0, 1, 2]);
      expect(image.layers.map((layer) => layer.diffId)).toEqual(diffIds);
      // `<id>/layer.tar`: the id is a v1 compatibility id, not a content digest.
      expect(image.layers.map((layer) => layer.digest)).toEqual([undefined, undefined, undefined]);
      expect(image.layers.every((layer) => /^[a-f0-9]{64}\/layer\.tar$/.test(layer.location))).toBe(true);
      expect(image.layers.map((layer) => layer.mediaType)).toEqual([undefined, undefined, undefined]);
      expect(image.layers.map((layer) => layer.size)).toEqual(sampleLayers.map((layer) => layer.length));
      expect(image.layers.map((layer) => layer.createdBy)).toEqual([0, 1, 2].map((i) => `/bin/sh -c #(nop) ADD layer-${i}.tar in /`));
      expect(image.config).toMatchObject({
        architecture: hostArchitecture(),
        os: 'linux',
        created: CREATED,
        config: { Cmd: ['/bin/sh'], WorkingDir: '/', Labels: { [REF_LABEL]: 'imgfs-test:latest' } },
        rootfs: { type: 'layers', diff_ids: diffIds },
      });
      expect(image.config?.history?.[1]).toEqual({ created: CREATED, created_by: EMPTY_LAYER_CREATED_BY, empty_layer: true });
      expect(await layerBytes(image)).toEqual(sampleLayers);
      expect(image.layers[2]?.blob.name).toBe(`${path}!${image.layers[2]?.location}`);
    } finally {
      await image.close();
    }
  });

  it('follows <id>/layer.tar symlink members to ../<hex>.tar, which names the digest', async () => {
    const layers = [...sampleLayers, sampleLayers[1] as Buffer]; // a repeated layer is stored once
    const path = await writeImage(await tmp(), layers, { format: 'docker-archive', symlinkLayers: true });
    const image = await loadImage(path);
    try {
      const ids = layers.map((layer) => sha256Digest(layer));
      expect(image.layers.map((layer) => layer.digest)).toEqual(ids);
      expect(image.layers.map((layer) => layer.diffId)).toEqual(ids);
      expect(image.layers.every((layer) => layer.location.endsWith('/layer.tar'))).toBe(true);
      expect(image.layers[3]?.blob.name).toBe(`${path}!${hex(ids[1] as string)}.tar`);
      expect(await layerBytes(image)).toEqual(layers);
    } finally {
      await image.close();
    }
  });

  it('reads the Docker ≥ 25 layout (blobs/sha256/… in manifest.json) as docker-archive', async () => {
    const path = await writeImage(await tmp(), sampleLayers, { format: 'docker-archive', dockerBlobs: true });
    const image = await loadImage(path);
    try {
      expect(image.format).toBe('docker-archive');
      expect(image.layers.map((layer) => layer.location)).toEqual(diffIds.map((id) => `blobs/sha256/${hex(id)}`));
      expect(image.layers.map((layer) => layer.digest)).toEqual(diffIds);
      expect(image.layers.map((layer) => layer.createdBy)).toEqual([0, 1, 2].map((i) => `/bin/sh -c #(nop) ADD layer-${i}.tar in /`));
      expect(await layerBytes(image)).toEqual(sampleLayers);
    } finally {
      await image.close();
    }
  });

  it('reads GNU tar’s rendering of the same directory tree (./ names, real symlinks)', async () => {
    const root = await tmp();
    const helperTar = await writeImage(root, sampleLayers, { format: 'docker-archive', symlinkLayers: true });
    const tree = join(root, 'tree');
    await mkdir(tree);
    execFileSync('tar', ['-xf', helperTar, '-C', tree]);
    const gnuTar = join(root, 'gnu.tar');
    execFileSync('tar', ['-cf', gnuTar, '-C', tree, '.']);
    const image = await loadImage(gnuTar);
    try {
      expect(image.format).toBe('docker-archive');
      expect(image.layers.map((layer) => layer.digest)).toEqual(diffIds);
      expect(await layerBytes(image)).toEqual(sampleLayers);
    } finally {
      await image.close();
    }
  });

  it('chooses among several images by RepoTags, and lists the tags when no ref is given', async () => {
    const path = await writeImage(await tmp(), sampleLayers, { format: 'docker-archive', refs: ['one:1', 'registry.example:5000/two/app:2'] });
    const err = await expectImgfsError(loadImage(path), 'ENOREF', /2 images; choose one with a ref: 'one:1'; 'registry\.example:5000\/two\/app:2'/);
    expect(err.archive).toBe(path);
    const two = await loadImage(path, { ref: 'registry.example:5000/two/app:2' });
    expect(two.config?.config?.Labels).toEqual({ [REF_LABEL]: 'registry.example:5000/two/app:2' });
    await two.close();
    // A familiar name matches its full form, and a missing tag means latest.
    const one = await loadImage(path, { ref: 'docker.io/library/one:1' });
    expect(one.config?.config?.Labels).toEqual({ [REF_LABEL]: 'one:1' });
    await one.close();
    await expectImgfsError(loadImage(path, { ref: 'three:3' }), 'ENOREF', /no image tagged 'three:3'; the archive has 'one:1'; 'registry/);
  });

  it('matches a ref without tag to :latest, and refuses a ref the only image lacks', async () => {
    const path = await writeImage(await tmp(), sampleLayers, { format: 'docker-archive' });
    const image = await loadImage(path, { ref: 'imgfs-test' });
    await image.close();
    await expectImgfsError(loadImage(path, { ref: 'other:latest' }), 'ENOREF', /'imgfs-test:latest'/);
  });

  it('names a missing layer member and its layer', async () => {
    const path = await archiveOf([
      { name: 'cfg.json', data: configJson() },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'cfg.json', RepoTags: null, Layers: ['abc/layer.tar'] }]) },
    ]);
    const err = await expectImgfsError(loadImage(path), 'EIMGFORMAT', /member abc\/layer\.tar is missing \(layer 0, member abc\/layer\.tar, in /);
    expect(err.member).toBe('abc/layer.tar');
  });

  it('names a missing config member', async () => {
    const path = await archiveOf([{ name: 'manifest.json', data: JSON.stringify([{ Config: 'nope.json', Layers: [] }]) }]);
    await expectImgfsError(loadImage(path), 'EIMGFORMAT', /member nope\.json is missing/);
  });

  it('rejects manifest.json that is not JSON or not an array of entries', async () => {
    await expectImgfsError(loadImage(await archiveOf([{ name: 'manifest.json', data: '[{"Config": ' }])), 'EIMGFORMAT', /manifest\.json is not valid JSON/);
    await expectImgfsError(loadImage(await archiveOf([{ name: 'manifest.json', data: '{}' }])), 'EIMGFORMAT', /not a JSON array/);
    await expectImgfsError(loadImage(await archiveOf([{ name: 'manifest.json', data: '[{"Config":"c"}]' }])), 'EIMGFORMAT', /entry 0: no Layers/);
    await expectImgfsError(loadImage(await archiveOf([{ name: 'manifest.json', data: '[]' }])), 'EIMGFORMAT', /lists no image/);
  });

  it('refuses a config whose diff_ids disagree with the layer count', async () => {
    const path = await archiveOf([
      { name: 'l.tar', data: sampleLayers[0] as Buffer },
      { name: 'cfg.json', data: configJson({ rootfs: { type: 'layers', diff_ids: [] } }) },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'cfg.json', Layers: ['l.tar'] }]) },
    ]);
    await expectImgfsError(loadImage(path), 'EIMGFORMAT', /0 rootfs\.diff_ids for 1 layers/);
  });

  it('takes the media type from LayerSources, and the digest from HEX/layer.tar only when HEX is the diff id', async () => {
    const diffId = diffIds[0] as string;
    const path = await archiveOf([
      { name: `${hex(diffId)}/layer.tar`, data: sampleLayers[0] as Buffer },
      { name: 'cfg.json', data: configJson() },
      {
        name: 'manifest.json',
        data: JSON.stringify([
          {
            Config: 'cfg.json',
            Layers: [`${hex(diffId)}/layer.tar`],
            LayerSources: { [diffId]: { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', size: 1, digest: diffId } },
          },
        ]),
      },
    ]);
    const image = await loadImage(path);
    try {
      expect(image.layers[0]).toMatchObject({ digest: diffId, diffId, mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip' });
      expect(await readAll(image.layers[0]!.blob)).toEqual(sampleLayers[0]);
    } finally {
      await image.close();
    }
  });

  it('closes the outer file on close()', async () => {
    const image = await loadImage(await writeImage(await tmp(), sampleLayers, { format: 'docker-archive' }));
    await image.close();
    await expectImgfsError(image.layers[0]!.blob.read(0, 10), 'ECLOSED');
    await image.close(); // idempotent
  });
});

describe('digestFromName', () => {
  const h = 'a'.repeat(64);
  it.each([
    [`blobs/sha256/${h}`, undefined, `sha256:${h}`],
    [`blobs/sha256/${h}/x`, undefined, undefined],
    ['blobs/sha256/short', undefined, undefined],
    [`${h}.tar`, undefined, `sha256:${h}`],
    [`${h}/layer.tar`, undefined, undefined],
    [`${h}/layer.tar`, `sha256:${'b'.repeat(64)}`, undefined],
    [`${h}/layer.tar`, `sha256:${h}`, `sha256:${h}`],
    ['layer.tar', undefined, undefined],
  ])('%s (diff id %s) → %s', (name, diffId, expected) => {
    expect(digestFromName(name, diffId)).toBe(expected);
  });
});

describe('F1 platform option', () => {
  it('narrows several images by their configs’ platform, and refuses one that is not there', async () => {
    const entries: OuterEntry[] = [{ name: 'l.tar', data: sampleLayers[0] as Buffer }];
    const manifest = [];
    for (const [tag, architecture, variant] of [['app:arm', 'arm64', 'v8'], ['app:amd', 'amd64', undefined]] as const) {
      entries.push({ name: `${tag.slice(4)}.json`, data: configJson({ architecture, variant }) });
      manifest.push({ Config: `${tag.slice(4)}.json`, RepoTags: [tag], Layers: ['l.tar'] });
    }
    entries.push({ name: 'manifest.json', data: JSON.stringify(manifest) });
    const path = await archiveOf(entries);
    const arm = await loadImage(path, { platform: 'linux/arm64' });
    expect(arm.config?.architecture).toBe('arm64');
    await arm.close();
    const amd = await loadImage(path, { platform: 'linux/amd64', ref: 'app:amd' });
    expect(amd.config?.architecture).toBe('amd64');
    await amd.close();
    await expectImgfsError(loadImage(path, { platform: 'linux/s390x' }), 'ENOREF', /no image for platform linux\/s390x; the archive has 'app:arm' linux\/arm64\/v8; 'app:amd' linux\/amd64/);
    await expectImgfsError(loadImage(path, { platform: 'linux/arm64', ref: 'app:amd' }), 'ENOREF', /no image for platform linux\/arm64/);
    await expectImgfsError(loadImage(path), 'ENOREF', /2 images/);
  });
});
