/**
 * Hostile image metadata: manifest.json, index.json, configs and `repositories` that are not JSON,
 * lack fields, or name blobs and layers outside the archive or directory (`../`, absolute paths,
 * symlinks leaving an OCI directory, link loops). Each is one ImgfsError that names the member at fault
 * (and the layer, for a layer's blob); nothing outside the image is ever opened.
 */
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { packTar, sha256Digest, type OuterEntry } from '../helpers/image-builder.js';
import { expectOpenFails, open, put, tempDir, type ExpectedImgfsError } from './hostile-helpers.js';
import { hostileOci, writeOciArchive, writeOciDir, type HostileOciSpec } from './oci-writer.js';

const layer = buildLayer([file('etc/hostname', 'imgfs\n')]);
const layerHex = sha256Digest(layer).slice('sha256:'.length);
const config = JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [sha256Digest(layer)] } });

/** A docker save archive with these members (a sane default for each one not given). */
async function dockerArchive(tmp: string, members: { manifest?: string; config?: string; extra?: OuterEntry[]; layers?: string[] }): Promise<string> {
  const entries: OuterEntry[] = [
    { name: `${layerHex}.tar`, data: layer },
    { name: 'config.json', data: members.config ?? config },
    ...(members.extra ?? []),
    {
      name: 'manifest.json',
      data: members.manifest ?? JSON.stringify([{ Config: 'config.json', RepoTags: ['hostile:latest'], Layers: members.layers ?? [`${layerHex}.tar`] }]),
    },
  ];
  return put(tmp, 'image.tar', await packTar(entries));
}

describe('docker save: manifest.json', () => {
  const cases: Array<[string, Parameters<typeof dockerArchive>[1], ExpectedImgfsError]> = [
    ['is not JSON', { manifest: '[{"Config": ' }, { code: 'EIMGFORMAT', member: 'manifest.json', message: 'manifest.json is not valid JSON' }],
    ['is an object, not an array', { manifest: '{}' }, { code: 'EIMGFORMAT', member: 'manifest.json', message: 'not a JSON array' }],
    ['lists no image', { manifest: '[]' }, { code: 'EIMGFORMAT', member: 'manifest.json', message: 'lists no image' }],
    ['has an entry that is not an object', { manifest: '[42]' }, { code: 'EIMGFORMAT', message: 'entry 0: not a JSON object' }],
    ['has no Config', { manifest: JSON.stringify([{ Layers: [] }]) }, { code: 'EIMGFORMAT', message: 'entry 0: no Config' }],
    ['has no Layers', { manifest: JSON.stringify([{ Config: 'config.json' }]) }, { code: 'EIMGFORMAT', message: 'no Layers array' }],
    ['has Layers that are not strings', { manifest: JSON.stringify([{ Config: 'config.json', Layers: [1] }]) }, { code: 'EIMGFORMAT', message: 'no Layers array' }],
    ['names a layer with ../', { layers: ['../../../etc/passwd'] }, { code: 'EIMGFORMAT', layer: 0, message: 'points outside the archive' }],
    ['names a layer with a ../ inside', { layers: [`x/../../${layerHex}.tar`] }, { code: 'EIMGFORMAT', layer: 0, message: 'points outside the archive' }],
    ['names a layer by an absolute host path', { layers: ['/etc/passwd'] }, { code: 'EIMGFORMAT', layer: 0, message: 'member /etc/passwd is missing' }],
    ['names a missing layer', { layers: ['nope/layer.tar'] }, { code: 'EIMGFORMAT', layer: 0, member: 'nope/layer.tar', message: 'is missing' }],
    [
      'names a layer that is a symlink member leaving the archive',
      { layers: ['id/layer.tar'], extra: [{ name: 'id/layer.tar', type: 'symlink', linkname: '../../etc/passwd' }] },
      { code: 'EIMGFORMAT', layer: 0, message: 'points outside the archive' },
    ],
    [
      'names a layer that is an absolute symlink member',
      { layers: ['id/layer.tar'], extra: [{ name: 'id/layer.tar', type: 'symlink', linkname: '/etc/passwd' }] },
      { code: 'EIMGFORMAT', layer: 0, message: 'points outside the archive' },
    ],
    [
      'names a layer through a symlink loop',
      {
        layers: ['a/layer.tar'],
        extra: [
          { name: 'a', type: 'symlink', linkname: 'b' },
          { name: 'b', type: 'symlink', linkname: 'a' },
        ],
      },
      { code: 'EIMGFORMAT', layer: 0, message: 'more than 40 links' },
    ],
    [
      'names a layer that is a directory',
      { layers: ['dir'], extra: [{ name: 'dir/', type: 'directory' }] },
      { code: 'EIMGFORMAT', layer: 0, message: 'is a directory, not a file' },
    ],
    ['names a config that is not JSON', { config: 'not json' }, { code: 'EIMGFORMAT', member: 'config.json', message: 'not valid JSON' }],
    ['names a config that is an array', { config: '[]' }, { code: 'EIMGFORMAT', member: 'config.json', message: 'not a JSON object' }],
    [
      'names a config of more than 8 MiB',
      { config: JSON.stringify({ pad: 'x'.repeat(9 * 1024 * 1024) }) },
      { code: 'ELIMIT', member: 'config.json', message: 'JSON documents over 8388608 bytes are refused' },
    ],
    [
      'names a config outside the archive',
      { manifest: JSON.stringify([{ Config: '../config.json', Layers: [] }]) },
      { code: 'EIMGFORMAT', message: 'points outside the archive' },
    ],
    [
      'has more layers than diff_ids',
      { layers: [`${layerHex}.tar`, `${layerHex}.tar`] },
      { code: 'EIMGFORMAT', member: 'config.json', message: 'config has 1 rootfs.diff_ids for 2 layers' },
    ],
  ];

  it.each(cases)('%s', async (_name, members, expected) => {
    const tmp = tempDir();
    const path = await dockerArchive(tmp, members);
    await expectOpenFails(path, { ...expected, archive: path });
  });

  it('an unknown ref is ENOREF listing what the archive has', async () => {
    const path = await dockerArchive(tempDir(), {});
    await expectOpenFails(path, { code: 'ENOREF', message: "no image tagged 'other:1'; the archive has 'hostile:latest'" }, { ref: 'other:1' });
  });
});

describe('docker save, legacy v1', () => {
  const id = 'a'.repeat(64);
  const parent = 'b'.repeat(64);
  const legacy = async (entries: OuterEntry[]): Promise<string> => put(tempDir(), 'legacy.tar', await packTar(entries));

  it.each<[string, OuterEntry[], ExpectedImgfsError]>([
    ['repositories is not JSON', [{ name: 'repositories', data: '{' }], { code: 'EIMGFORMAT', member: 'repositories', message: 'not valid JSON' }],
    [
      'repositories names an id with ../',
      [{ name: 'repositories', data: JSON.stringify({ r: { latest: '../../etc' } }) }],
      { code: 'EIMGFORMAT', message: 'invalid layer id "../../etc"' },
    ],
    [
      'a json names a parent with ../',
      [
        { name: 'repositories', data: JSON.stringify({ r: { latest: id } }) },
        { name: `${id}/json`, data: JSON.stringify({ parent: '../x' }) },
        { name: `${id}/layer.tar`, data: layer },
      ],
      { code: 'EIMGFORMAT', message: 'invalid layer id "../x"' },
    ],
    [
      'parents form a cycle',
      [
        { name: 'repositories', data: JSON.stringify({ r: { latest: id } }) },
        { name: `${id}/json`, data: JSON.stringify({ parent }) },
        { name: `${parent}/json`, data: JSON.stringify({ parent: id }) },
      ],
      { code: 'EIMGFORMAT', message: 'layer parents form a cycle' },
    ],
    [
      'a parent is missing',
      [
        { name: 'repositories', data: JSON.stringify({ r: { latest: id } }) },
        { name: `${id}/json`, data: JSON.stringify({ parent }) },
      ],
      { code: 'EIMGFORMAT', message: `names parent ${parent}, which is missing` },
    ],
    [
      'a layer.tar is missing',
      [
        { name: 'repositories', data: JSON.stringify({ r: { latest: id } }) },
        { name: `${id}/json`, data: '{}' },
      ],
      { code: 'EIMGFORMAT', layer: 0, message: `member ${id}/layer.tar is missing` },
    ],
  ])('%s', async (_name, entries, expected) => {
    const path = await legacy(entries);
    await expectOpenFails(path, { ...expected, archive: path });
  });
});

describe('OCI layout: index.json, manifests and descriptors', () => {
  const base: HostileOciSpec = { layers: [{ bytes: layer }] };
  const cases: Array<[string, HostileOciSpec, ExpectedImgfsError]> = [
    ['oci-layout is not JSON', { ...base, layout: 'nope' }, { code: 'EIMGFORMAT', member: 'oci-layout', message: 'not valid JSON' }],
    ['oci-layout has no version', { ...base, layout: '{}' }, { code: 'EIMGFORMAT', member: 'oci-layout', message: 'no imageLayoutVersion' }],
    ['index.json is not JSON', { ...base, index: () => '{"manifests": [' }, { code: 'EIMGFORMAT', member: 'index.json', message: 'not valid JSON' }],
    ['index.json has no manifests', { ...base, index: () => ({ schemaVersion: 2 }) }, { code: 'EIMGFORMAT', member: 'index.json', message: 'no manifests array' }],
    ['index.json is an array', { ...base, index: () => [] }, { code: 'EIMGFORMAT', member: 'index.json', message: 'not a JSON object' }],
    [
      'a descriptor digest climbs out with ../',
      { ...base, index: () => ({ manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:../../../../etc/passwd', size: 1 }] }) },
      { code: 'EIMGFORMAT', member: 'index.json', message: 'invalid descriptor digest "sha256:../../../../etc/passwd"' },
    ],
    [
      'a descriptor digest is an absolute path',
      { ...base, index: () => ({ manifests: [{ digest: '/etc/passwd', size: 1 }] }) },
      { code: 'EIMGFORMAT', message: 'invalid descriptor digest "/etc/passwd"' },
    ],
    [
      'a descriptor size is negative',
      { ...base, index: (i) => ({ manifests: (i['manifests'] as Array<Record<string, unknown>>).map((m) => ({ ...m, size: -1 })) }) },
      { code: 'EIMGFORMAT', message: 'invalid size -1' },
    ],
    [
      'a layer descriptor digest climbs out',
      { ...base, manifest: (m) => ({ ...m, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: 'sha256:../../x', size: 1 }] }) },
      { code: 'EIMGFORMAT', message: 'invalid descriptor digest' },
    ],
    [
      'a layer blob is missing',
      { layers: [{ bytes: layer, statedDigest: `sha256:${'0'.repeat(64)}` }] },
      { code: 'EIMGFORMAT', layer: 0, digest: `sha256:${'0'.repeat(64)}`, member: `blobs/sha256/${'0'.repeat(64)}`, message: 'layer blob is missing' },
    ],
    [
      'a layer blob is smaller than its descriptor says',
      { layers: [{ bytes: layer, statedSize: layer.length + 1 }] },
      { code: 'EIMGFORMAT', layer: 0, digest: true, message: `blob is ${layer.length} bytes but its descriptor says ${layer.length + 1}` },
    ],
    ['the manifest is not JSON', { ...base, manifest: () => 'nope' }, { code: 'EIMGFORMAT', message: 'not valid JSON' }],
    ['the manifest has no layers', { ...base, manifest: (m) => ({ ...m, layers: undefined }) }, { code: 'EIMGFORMAT', message: 'no layers array' }],
    ['the manifest has no config', { ...base, manifest: (m) => ({ ...m, config: undefined }) }, { code: 'EIMGFORMAT', message: 'has no config' }],
    [
      'the config is not an image config',
      { ...base, manifest: (m) => ({ ...m, config: { ...(m['config'] as object), mediaType: 'application/vnd.example.artifact+json' } }) },
      { code: 'EIMGFORMAT', message: 'not a container image' },
    ],
    ['the config is not JSON', { ...base, config: () => 'oops' }, { code: 'EIMGFORMAT', message: 'not valid JSON' }],
    [
      'the config has more diff_ids than layers',
      { ...base, config: (c) => ({ ...c, rootfs: { type: 'layers', diff_ids: ['sha256:1', 'sha256:2'] } }) },
      { code: 'EIMGFORMAT', message: 'config has 2 rootfs.diff_ids for 1 layers' },
    ],
  ];

  it.each(cases)('archive: %s', async (_name, spec, expected) => {
    const path = join(tempDir(), 'oci.tar');
    await writeOciArchive(path, spec);
    await expectOpenFails(path, { ...expected, archive: path });
  });

  it.each(cases)('directory: %s', async (_name, spec, expected) => {
    const root = join(tempDir(), 'oci');
    await writeOciDir(root, spec);
    await expectOpenFails(root, { ...expected, archive: root });
  });

  it('an index that lists itself is refused', async () => {
    // index.json → nested index N → N: written by hand, since N must name its own digest.
    const tmp = tempDir();
    const root = join(tmp, 'oci');
    const oci = hostileOci(base);
    await writeOciDir(root, base);
    // A nested index that lists a (missing) index of the same digest as itself cannot be written; a
    // chain deeper than the limit can.
    let child = oci.entries.find((e) => e.name === 'index.json')?.data as string;
    for (let depth = 0; depth < 10; depth++) {
      const digest = sha256Digest(child);
      put(join(root, 'blobs/sha256'), digest.slice(7), child);
      child = JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest, size: Buffer.byteLength(child) }],
      });
    }
    put(root, 'index.json', child);
    await expectOpenFails(root, { code: 'EIMGFORMAT', message: 'indexes nested deeper than 8' });
  });
});

describe('OCI directory: symlinks that leave the layout', () => {
  it('a layer blob that is a symlink to a file outside', async () => {
    const tmp = tempDir();
    const root = join(tmp, 'oci');
    const oci = await writeOciDir(root, { layers: [{ bytes: layer }] });
    const digest = oci.layerDigests[0] as string;
    const blob = join(root, 'blobs/sha256', digest.slice(7));
    const outside = put(tmp, 'outside.tar', layer);
    const { rmSync } = await import('node:fs');
    rmSync(blob);
    symlinkSync(outside, blob);
    await expectOpenFails(root, { code: 'EIMGFORMAT', layer: 0, digest, message: 'outside the layout directory' });
  });

  it('a blobs directory that is a symlink to a directory outside', async () => {
    const tmp = tempDir();
    const real = join(tmp, 'real');
    await writeOciDir(real, { layers: [{ bytes: layer }] });
    const root = join(tmp, 'oci');
    mkdirSync(root);
    put(root, 'oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const { readFileSync } = await import('node:fs');
    put(root, 'index.json', readFileSync(join(real, 'index.json')));
    symlinkSync(join(real, 'blobs'), join(root, 'blobs'));
    await expectOpenFails(root, { code: 'EIMGFORMAT', message: 'outside the layout directory' });
  });

  it('index.json that is a symlink loop', async () => {
    const tmp = tempDir();
    const root = join(tmp, 'oci');
    await writeOciDir(root, { layers: [{ bytes: layer }] });
    const { rmSync } = await import('node:fs');
    rmSync(join(root, 'index.json'));
    symlinkSync('index.json', join(root, 'index.json'));
    await expectOpenFails(root, { code: 'EIMGFORMAT', message: 'index.json' });
  });

  it('a blob symlinked to another blob inside the layout is followed', async () => {
    const tmp = tempDir();
    const root = join(tmp, 'oci');
    const oci = await writeOciDir(root, { layers: [{ bytes: layer }] });
    const hex = (oci.layerDigests[0] as string).slice(7);
    const { renameSync } = await import('node:fs');
    renameSync(join(root, 'blobs/sha256', hex), join(root, 'blobs/stash'));
    symlinkSync('../stash', join(root, 'blobs/sha256', hex));
    const fs = await open(root);
    expect(await fs.readFile('/etc/hostname', 'utf8')).toBe('imgfs\n');
  });
});

describe('OCI archive: members that leave the archive', () => {
  it('a blob that is a symlink member to ../', async () => {
    const path = join(tempDir(), 'oci.tar');
    const oci = hostileOci({ layers: [{ bytes: layer }] });
    const digest = oci.layerDigests[0] as string;
    const entries = oci.entries.map((e): OuterEntry =>
      e.name === `blobs/sha256/${digest.slice(7)}` ? { name: e.name, type: 'symlink', linkname: '../../../etc/passwd' } : e,
    );
    put(join(path, '..'), 'oci.tar', await packTar(entries));
    await expectOpenFails(path, { code: 'EIMGFORMAT', layer: 0, digest, message: 'points outside the archive' });
  });
});

describe('a bare layer that looks like an image (documented ambiguity)', () => {
  const appLayer = buildLayer([file('manifest.json', '{"name": "my web app", "start_url": "/"}'), file('index.html', '<html>')]);

  it('opened as one path, a layer whose first member is manifest.json is taken for a docker save', async () => {
    const path = put(tempDir(), 'app.tar', appLayer);
    await expectOpenFails(path, { code: 'EIMGFORMAT', member: 'manifest.json', message: 'manifest.json is not a JSON array' });
  });

  it('opened as a list of layers it is served as a layer', async () => {
    const path = put(tempDir(), 'app.tar', appLayer);
    const fs = await open([path]);
    expect(await fs.readdir('/')).toEqual(['index.html', 'manifest.json']);
  });
});
