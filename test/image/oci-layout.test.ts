import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadImage } from '../../lib/image/load-image.js';
import { blobPath } from '../../lib/image/oci-layout.js';
import {
  compressLayer,
  CREATED,
  hostArchitecture,
  packTar,
  REF_LABEL,
  sha256Digest,
  writeImage,
  type LayerCompression,
  type OuterEntry,
} from '../helpers/image-builder.js';
import { expectImgfsError, layerBytes, sampleLayers, scratch } from './fixtures.js';

const tmp = scratch('oci-layout');
const diffIds = sampleLayers.map((layer) => sha256Digest(layer));
const createdBy = [0, 1, 2].map((i) => `/bin/sh -c #(nop) ADD layer-${i}.tar in /`);
const ociLayerType = { none: 'application/vnd.oci.image.layer.v1.tar', gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' };
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const CONFIG = 'application/vnd.oci.image.config.v1+json';
const host = hostArchitecture();

describe.each(['oci-dir', 'oci-archive'] as const)('F3 %s', (format) => {
  it.each(['none', 'gzip', 'zstd'] as const)('lists %s layers with descriptor digests, sizes and media types', async (compression) => {
    const path = await writeImage(await tmp(), sampleLayers, { format, compression });
    const stored = sampleLayers.map((layer) => compressLayer(layer, compression));
    const image = await loadImage(path);
    try {
      expect(image.format).toBe(format);
      expect(image.layers.map((layer) => layer.digest)).toEqual(stored.map((blob) => sha256Digest(blob)));
      expect(image.layers.map((layer) => layer.location)).toEqual(stored.map((blob) => `blobs/sha256/${sha256Digest(blob).slice(7)}`));
      expect(image.layers.map((layer) => layer.diffId)).toEqual(diffIds);
      expect(image.layers.map((layer) => layer.mediaType)).toEqual([0, 1, 2].map(() => ociLayerType[compression]));
      expect(image.layers.map((layer) => layer.size)).toEqual(stored.map((blob) => blob.length));
      expect(image.layers.map((layer) => layer.createdBy)).toEqual(createdBy);
      expect(image.config).toMatchObject({ os: 'linux', architecture: host, created: CREATED, rootfs: { diff_ids: diffIds } });
      expect(await layerBytes(image)).toEqual(stored);
    } finally {
      await image.close();
    }
  });

  it('chooses by ref.name annotation and lists the refs when it is not there', async () => {
    const path = await writeImage(await tmp(), sampleLayers, { format, refs: ['v1', 'v2'] });
    await expectImgfsError(loadImage(path), 'ENOREF', /several images match platform linux\/.*'v1'.*'v2'.*choose one with a ref/);
    const v2 = await loadImage(path, { ref: 'v2' });
    expect(v2.config?.config?.Labels).toEqual({ [REF_LABEL]: 'v2' });
    await v2.close();
    await expectImgfsError(loadImage(path, { ref: 'v3' }), 'ENOREF', /no image named 'v3'; the layout has 'v1', 'v2'/);
  });

  it('chooses by platform in a nested index (default: linux on the host architecture)', async () => {
    const platforms = [...new Set(['linux/amd64', 'linux/arm64/v8', 'linux/arm/v7', `linux/${host}`])];
    const path = await writeImage(await tmp(), sampleLayers, { format, platforms, refs: ['multi'] });
    const chosen = async (platform?: string): Promise<unknown> => {
      const image = await loadImage(path, { platform });
      await image.close();
      expect(image.layers.map((layer) => layer.diffId)).toEqual(diffIds);
      return [image.config?.os, image.config?.architecture, image.config?.variant];
    };
    expect(await chosen()).toEqual(['linux', host, host === 'arm64' ? 'v8' : host === 'arm' ? 'v7' : undefined]);
    expect(await chosen('linux/arm64')).toEqual(['linux', 'arm64', 'v8']);
    expect(await chosen('linux/aarch64')).toEqual(['linux', 'arm64', 'v8']);
    expect(await chosen('linux/arm')).toEqual(['linux', 'arm', 'v7']);
    expect(await chosen('linux/arm/v7')).toEqual(['linux', 'arm', 'v7']);
    expect(await chosen('linux/x86_64')).toEqual(['linux', 'amd64', undefined]);
    await expectImgfsError(loadImage(path, { platform: 'linux/s390x' }), 'ENOREF', /no image for platform linux\/s390x; the layout has: 'multi' linux\/amd64 sha256:.*linux\/arm\/v7/);
    await expectImgfsError(loadImage(path, { platform: 'linux/arm/v6' }), 'ENOREF', /no image for platform linux\/arm\/v6/);
    await expectImgfsError(loadImage(path, { platform: 'linux' }), 'ENOREF', /not os\/arch/);
    const byRef = await loadImage(path, { ref: 'multi', platform: 'linux/amd64' });
    expect(byRef.config?.architecture).toBe('amd64');
    await byRef.close();
  });

  it('reads Docker v2 schema 2 media types and manifest lists', async () => {
    const path = await writeImage(await tmp(), sampleLayers, { format, mediaTypes: 'docker', compression: 'gzip', platforms: ['linux/amd64', 'linux/arm64'] });
    const image = await loadImage(path, { platform: 'linux/arm64' });
    try {
      expect(image.config?.architecture).toBe('arm64');
      expect(image.layers.map((layer) => layer.mediaType)).toEqual([0, 1, 2].map(() => 'application/vnd.docker.image.rootfs.diff.tar.gzip'));
      expect(await layerBytes(image)).toEqual(sampleLayers.map((layer) => compressLayer(layer, 'gzip')));
    } finally {
      await image.close();
    }
  });

  it('refuses a platform the only image does not have', async () => {
    const path = await writeImage(await tmp(), sampleLayers, { format });
    const other = host === 'amd64' ? 'linux/arm64' : 'linux/amd64';
    await expectImgfsError(loadImage(path, { platform: other }), 'ENOREF', new RegExp(`no image for platform ${other}; the layout has: 'imgfs-test:latest' linux/${host}`));
  });
});

describe('F3 oci-archive specifics', () => {
  it('reads GNU tar’s rendering of a layout directory (./ member names)', async () => {
    const root = await tmp();
    const dir = await writeImage(root, sampleLayers, { format: 'oci-dir', compression: 'zstd' });
    const archive = join(root, 'gnu.tar');
    execFileSync('tar', ['-cf', archive, '-C', dir, '.']);
    const image = await loadImage(archive);
    try {
      expect(image.format).toBe('oci-archive');
      expect(image.layers[0]?.blob.name).toBe(`${archive}!${image.layers[0]?.location}`);
      expect(await layerBytes(image)).toEqual(sampleLayers.map((layer) => compressLayer(layer, 'zstd')));
    } finally {
      await image.close();
    }
  });

  it('follows blob symlink members inside the archive, and refuses one that leaves it', async () => {
    const layout = await customLayout();
    const manifest = await layout.image([sampleLayers[0] as Buffer]);
    await layout.index([manifest]);
    const layerDigest = sha256Digest(sampleLayers[0] as Buffer);
    const entries = await layout.entries();
    const linked = entries.map((entry): OuterEntry =>
      entry.name === blobPath(layerDigest) ? { name: entry.name, type: 'symlink', linkname: '../../elsewhere' } : entry,
    );
    const root = await tmp();
    const ok = join(root, 'ok.tar');
    await writeFile(ok, await packTar([...linked, { name: 'elsewhere', data: sampleLayers[0] as Buffer }]));
    const image = await loadImage(ok);
    expect(await layerBytes(image)).toEqual([sampleLayers[0]]);
    await image.close();

    const bad = join(root, 'bad.tar');
    await writeFile(
      bad,
      await packTar(entries.map((entry): OuterEntry => (entry.name === blobPath(layerDigest) ? { name: entry.name, type: 'symlink', linkname: '../../../etc/passwd' } : entry))),
    );
    await expectImgfsError(loadImage(bad), 'EIMGFORMAT', /points outside the archive/);
  });
});

/** A hand-made OCI layout directory, for documents the builder never writes. */
async function customLayout(): Promise<{
  root: string;
  blob(data: Buffer | string, mediaType: string, extra?: Record<string, unknown>): Promise<Record<string, unknown>>;
  image(layers: Buffer[], options?: { config?: Record<string, unknown>; layerExtra?: Record<string, unknown>; manifest?: Record<string, unknown> }): Promise<Record<string, unknown>>;
  index(manifests: unknown[]): Promise<void>;
  entries(): Promise<OuterEntry[]>;
}> {
  const root = join(await tmp(), 'layout');
  await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const written = new Set<string>();
  const blob = async (data: Buffer | string, mediaType: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> => {
    const digest = sha256Digest(data);
    await writeFile(join(root, blobPath(digest) as string), data);
    written.add(blobPath(digest) as string);
    return { mediaType, digest, size: Buffer.byteLength(data), ...extra };
  };
  return {
    root,
    blob,
    async image(layers, options = {}) {
      const config = await blob(
        JSON.stringify({ architecture: host, os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256Digest(l)) }, ...options.config }),
        CONFIG,
      );
      const descriptors = [];
      for (const layer of layers) descriptors.push(await blob(layer, ociLayerType.none, options.layerExtra));
      return blob(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config, layers: descriptors, ...options.manifest }), MANIFEST);
    },
    async index(manifests) {
      await writeFile(join(root, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
    },
    async entries() {
      const out: OuterEntry[] = [
        { name: 'oci-layout', data: await readFile(join(root, 'oci-layout')) },
        { name: 'index.json', data: await readFile(join(root, 'index.json')) },
      ];
      for (const name of written) out.push({ name, data: await readFile(join(root, name)) });
      return out;
    },
  };
}

describe('F3 documents and blobs', () => {
  it('refuses a digest that would leave blobs/ (../, / in the algorithm, bad hex)', async () => {
    for (const digest of ['sha256:../../../etc/passwd', 'sha256/../..:abc', `sha256:${'A'.repeat(64)}`, 'sha256:abc', `md5/x:${'a'.repeat(32)}`, 'nodigest']) {
      const layout = await customLayout();
      await layout.index([{ mediaType: MANIFEST, digest, size: 10 }]);
      await expectImgfsError(loadImage(layout.root), 'EIMGFORMAT', /invalid descriptor digest.*member index\.json/);
    }
    expect(blobPath(`sha512:${'a'.repeat(128)}`)).toBe(`blobs/sha512/${'a'.repeat(128)}`);
    expect(blobPath('vendor+x.y:Zm9v_-=')).toBe('blobs/vendor+x.y/Zm9v_-=');
    expect(blobPath('a..b:abc')).toBeUndefined();
  });

  it('refuses a blob that is a symlink resolving outside the layout directory', async () => {
    const layout = await customLayout();
    await layout.index([await layout.image([sampleLayers[0] as Buffer])]);
    const layerPath = join(layout.root, blobPath(sha256Digest(sampleLayers[0] as Buffer)) as string);
    const outside = join(layout.root, '..', 'outside.tar');
    await writeFile(outside, sampleLayers[0] as Buffer);
    await rm(layerPath);
    await symlink(outside, layerPath);
    await expectImgfsError(loadImage(layout.root), 'EIMGFORMAT', /resolves to .*outside\.tar, outside the layout directory/);

    // A symlink that stays inside is just another name for the bytes.
    await rm(layerPath);
    await writeFile(join(layout.root, 'inside.tar'), sampleLayers[0] as Buffer);
    await symlink('../../inside.tar', layerPath);
    const image = await loadImage(layout.root);
    expect(await layerBytes(image)).toEqual([sampleLayers[0]]);
    await image.close();
  });

  it('refuses a blob whose size is not the descriptor’s, and names missing blobs', async () => {
    const layout = await customLayout();
    await layout.index([await layout.image([sampleLayers[0] as Buffer], { layerExtra: { size: 3 } })]);
    await expectImgfsError(loadImage(layout.root), 'EIMGFORMAT', new RegExp(`blob is ${sampleLayers[0]?.length} bytes but its descriptor says 3 \\(layer 0`));

    const missing = await customLayout();
    const manifest = await missing.image([sampleLayers[1] as Buffer]);
    await missing.index([manifest]);
    const layerPath = blobPath(sha256Digest(sampleLayers[1] as Buffer)) as string;
    await rm(join(missing.root, layerPath));
    const err = await expectImgfsError(loadImage(missing.root), 'EIMGFORMAT', /layer blob is missing/);
    expect(err.member).toBe(layerPath);

    await missing.index([{ mediaType: MANIFEST, digest: sha256Digest('nothing'), size: 7 }]);
    await expectImgfsError(loadImage(missing.root), 'EIMGFORMAT', /is missing/);
  });

  it('says a foreign layer with urls is not present', async () => {
    const layout = await customLayout();
    const manifest = await layout.image([sampleLayers[0] as Buffer], {
      layerExtra: { mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', urls: ['https://example.com/layer'] },
    });
    await layout.index([manifest]);
    await rm(join(layout.root, blobPath(sha256Digest(sampleLayers[0] as Buffer)) as string));
    await expectImgfsError(loadImage(layout.root), 'EIMGFORMAT', /foreign layer not present \(it is at https:\/\/example\.com\/layer\)/);
  });

  it('names what a directory lacks to be a layout', async () => {
    const empty = await tmp();
    await expectImgfsError(loadImage(empty), 'EIMGFORMAT', /not an OCI image layout: oci-layout and index\.json missing/);
    const layout = await customLayout();
    await expectImgfsError(loadImage(layout.root), 'EIMGFORMAT', /index\.json missing.*member index\.json/);
  });

  it('rejects bad documents: index.json not JSON, unknown layout version, schema 1, artifacts, diff_ids count', async () => {
    const layout = await customLayout();
    await writeFile(join(layout.root, 'index.json'), '{"manifests": [');
    await expectImgfsError(loadImage(layout.root), 'EIMGFORMAT', /index\.json is not valid JSON/);

    await writeFile(join(layout.root, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await layout.index([]);
    await expectImgfsError(loadImage(layout.root), 'EIMGFORMAT', /unsupported imageLayoutVersion 2\.0\.0/);
    await writeFile(join(layout.root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await expectImgfsError(loadImage(layout.root), 'ENOREF', /no image manifest/);

    const schema1 = await layout.blob('{"schemaVersion":1}', 'application/vnd.docker.distribution.manifest.v1+prettyjws');
    await layout.index([schema1]);
    await expectImgfsError(loadImage(layout.root), 'EIMGFORMAT', /schema 1 is not supported/);

    const chart = await layout.image([sampleLayers[0] as Buffer], {
      manifest: { config: await layout.blob('{}', 'application/vnd.cncf.helm.config.v1+json') },
    });
    await layout.index([chart]);
    await expectImgfsError(loadImage(layout.root), 'EIMGFORMAT', /not a container image: config media type application\/vnd\.cncf\.helm/);

    const mismatch = await layout.image([sampleLayers[0] as Buffer], { config: { rootfs: { type: 'layers', diff_ids: [] } } });
    await layout.index([mismatch]);
    await expectImgfsError(loadImage(layout.root), 'EIMGFORMAT', /0 rootfs\.diff_ids for 1 layers/);
  });

  it('skips attestation manifests, sniffs descriptors without mediaType, and stops index cycles', async () => {
    const layout = await customLayout();
    // Not this host's architecture: were the attestation a candidate, the platform rule would refuse both.
    const architecture = host === 's390x' ? 'mips64le' : 's390x';
    const manifest = await layout.image([sampleLayers[0] as Buffer, sampleLayers[1] as Buffer], { config: { architecture } });
    const attestation = await layout.image([], {});
    await layout.index([
      { digest: manifest['digest'], size: manifest['size'] },
      { ...attestation, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
    ]);
    const image = await loadImage(layout.root);
    expect(image.layers.map((layer) => layer.diffId)).toEqual(diffIds.slice(0, 2));
    expect(image.layers.map((layer) => layer.createdBy)).toEqual([undefined, undefined]);
    expect(image.config?.architecture).toBe(architecture);
    await image.close();

    // An index blob stored under a digest that is not its hash, listing that digest: a loop.
    const fake = `sha256:${'f'.repeat(64)}`;
    const body = JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [{ mediaType: INDEX, digest: fake, size: 0 }] });
    await writeFile(join(layout.root, blobPath(fake) as string), body);
    await layout.index([{ mediaType: INDEX, digest: fake }]);
    await expectImgfsError(loadImage(layout.root), 'EIMGFORMAT', /contains itself/);
  });

  it('bounds the descriptors visited when one nested index is listed many times (ELIMIT)', async () => {
    const layout = await customLayout();
    const manifest = await layout.image([sampleLayers[0] as Buffer]);
    const nested = await layout.blob(JSON.stringify({ schemaVersion: 2, manifests: Array.from({ length: 400 }, () => manifest) }), INDEX);
    await layout.index(Array.from({ length: 400 }, () => nested));
    await expectImgfsError(loadImage(layout.root), 'ELIMIT', /more than 100000 descriptors/);
    await layout.index(Array.from({ length: 3 }, () => nested));
    const image = await loadImage(layout.root);
    expect(image.layers).toHaveLength(1);
    await image.close();
  });

  it('also matches the io.containerd.image.name annotation, by full name or familiar name', async () => {
    const layout = await customLayout();
    const manifest = await layout.image([sampleLayers[0] as Buffer]);
    await layout.index([{ ...manifest, annotations: { 'io.containerd.image.name': 'docker.io/library/app:1.0', 'org.opencontainers.image.ref.name': '1.0' } }]);
    for (const ref of ['docker.io/library/app:1.0', 'app:1.0', '1.0']) {
      const image = await loadImage(layout.root, { ref });
      expect(image.layers).toHaveLength(1);
      await image.close();
    }
    await expectImgfsError(loadImage(layout.root, { ref: 'app:2.0' }), 'ENOREF', /the layout has '1\.0', 'docker\.io\/library\/app:1\.0'/);
  });

  it('opens its layers at once: a blob listed twice is one source, and the lowest failing layer is the error', async () => {
    const [a, b, c] = sampleLayers as [Buffer, Buffer, Buffer];
    const twice = await customLayout();
    await twice.index([await twice.image([a, b, a])]);
    const image = await loadImage(twice.root);
    expect(image.layers[0]?.blob).toBe(image.layers[2]?.blob);
    expect(await layerBytes(image)).toEqual([a, b, a]);
    await image.close();
    await expectImgfsError(image.layers[2]?.blob.read(0, 1) ?? Promise.resolve(), 'ECLOSED');

    // Layers 1 and 3 missing: whichever fails first in time, layer 1 is named.
    const broken = await customLayout();
    await broken.index([await broken.image([a, b, c, Buffer.concat([c, Buffer.alloc(512)])])]);
    for (const gone of [b, Buffer.concat([c, Buffer.alloc(512)])]) await rm(join(broken.root, blobPath(sha256Digest(gone)) as string));
    const err = await expectImgfsError(loadImage(broken.root), 'EIMGFORMAT', /layer blob is missing/);
    expect(err.layer?.index).toBe(1);
  });

  it('closes every blob it opened', async () => {
    const path = await writeImage(await tmp(), sampleLayers, { format: 'oci-dir' });
    const image = await loadImage(path);
    await image.close();
    for (const layer of image.layers) await expectImgfsError(layer.blob.read(0, 1), 'ECLOSED');
  });
});
