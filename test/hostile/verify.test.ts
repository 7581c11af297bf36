/**
 * `verify`: every stored blob must hash to the digest its descriptor (or its content-addressed name)
 * states, and every layer's tar stream to the config's diff_id. Honest images pass in every format and
 * compression; a changed byte anywhere along the chain (layer, config, manifest) is one EDIGEST naming
 * what failed.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { compressLayer, packTar, sha256Digest, writeImage, type ImageKind, type LayerCompression } from '../helpers/image-builder.js';
import { checkImgfsError, expectOpenFails, open, put, rejection, tempDir } from './hostile-helpers.js';
import { writeOciArchive, writeOciDir } from './oci-writer.js';

const layers = [buildLayer([file('etc/hostname', 'one\n'), file('data', 'x'.repeat(5000))]), buildLayer([file('etc/hostname', 'two\n')])];
/** Same length as layers[1], one byte different. */
const tampered = buildLayer([file('etc/hostname', 'TWO\n')]);

describe('honest images pass', () => {
  const cases: Array<[ImageKind, LayerCompression, Record<string, unknown>]> = [
    ['oci-archive', 'none', {}],
    ['oci-archive', 'gzip', {}],
    ['oci-dir', 'zstd', {}],
    ['oci-dir', 'gzip', { mediaTypes: 'docker' }],
    ['docker-archive', 'none', {}],
    ['docker-archive', 'none', { symlinkLayers: true }],
    ['docker-archive', 'none', { dockerBlobs: true }],
    ['docker-legacy', 'none', {}],
  ];
  it.each(cases)('%s (%s) %j', async (format, compression, extra) => {
    const image = await writeImage(tempDir(), layers, { format, compression, ...extra });
    const fs = await open(image, { verify: true });
    expect(await fs.readFile('/etc/hostname', 'utf8')).toBe('two\n');
  });

  it('sha512 digests are checked too', async () => {
    const { createHash } = await import('node:crypto');
    const sha512 = (data: Buffer | string): string => `sha512:${createHash('sha512').update(data).digest('hex')}`;
    const tmp = tempDir();
    const root = join(tmp, 'oci');
    await writeOciDir(root, { layers: [{ bytes: layers[0] as Buffer }] });
    // Re-state the layer under its sha512 digest.
    const blob = layers[0] as Buffer;
    put(join(root, 'blobs'), 'sha512', '');
    const { rmSync, mkdirSync } = await import('node:fs');
    rmSync(join(root, 'blobs/sha512'));
    mkdirSync(join(root, 'blobs/sha512'));
    put(join(root, 'blobs/sha512'), sha512(blob).slice(7), blob);
    const replaceLayerDigest = (digest: string): void => {
      const index = JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; size: number }> };
      const manifestPath = join(root, 'blobs/sha256', (index.manifests[0] as { digest: string }).digest.slice(7));
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { layers: Array<{ digest: string }> };
      (manifest.layers[0] as { digest: string }).digest = digest;
      const text = JSON.stringify(manifest);
      put(join(root, 'blobs/sha256'), sha256Digest(text).slice(7), text);
      index.manifests[0] = { ...(index.manifests[0] as { digest: string; size: number }), digest: sha256Digest(text), size: Buffer.byteLength(text) };
      writeFileSync(join(root, 'index.json'), JSON.stringify(index));
    };
    replaceLayerDigest(sha512(blob));
    expect(await (await open(root, { verify: true })).readFile('/etc/hostname', 'utf8')).toBe('one\n');
    // The same blob under a wrong sha512 digest.
    const wrong = `sha512:${'0'.repeat(128)}`;
    put(join(root, 'blobs/sha512'), wrong.slice(7), blob);
    replaceLayerDigest(wrong);
    await expectOpenFails(root, { code: 'EDIGEST', layer: 0, digest: wrong, message: 'blob digest mismatch' }, { verify: true });
  });
});

describe('a changed layer', () => {
  it('OCI: a blob whose bytes do not hash to its descriptor digest', async () => {
    const tmp = tempDir();
    const root = join(tmp, 'oci');
    const oci = await writeOciDir(root, { layers: layers.map((bytes) => ({ bytes })) });
    const digest = oci.layerDigests[1] as string;
    writeFileSync(join(root, 'blobs/sha256', digest.slice(7)), tampered);
    // Without verify the image opens and serves the changed bytes: same size, valid tar.
    expect(await (await open(root)).readFile('/etc/hostname', 'utf8')).toBe('TWO\n');
    const error = await expectOpenFails(root, { code: 'EDIGEST', layer: 1, digest, archive: root, message: `blob digest mismatch: expected ${digest}, content hashes to ${sha256Digest(tampered)}` }, { verify: true });
    expect(error.member).toBe(`blobs/sha256/${digest.slice(7)}`);
  });

  it('OCI: a gzip blob restated with its own digest, but a diff_id that is not its tar', async () => {
    const path = join(tempDir(), 'oci.tar');
    const gz = compressLayer(tampered, 'gzip');
    await writeOciArchive(path, { layers: [{ bytes: layers[0] as Buffer }, { bytes: gz, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', diffId: sha256Digest(layers[1] as Buffer) }] });
    await expectOpenFails(path, { code: 'EDIGEST', layer: 1, digest: sha256Digest(gz), message: `diff_id mismatch: expected ${sha256Digest(layers[1] as Buffer)}` }, { verify: true });
  });

  it('docker save: a layer.tar that is not its diff_id', async () => {
    const tmp = tempDir();
    const path = await writeImage(tmp, layers, { format: 'docker-archive' });
    // Rewrite the archive with the second layer's bytes replaced (same length).
    const { default: tarStream } = await import('tar-stream');
    const extract = tarStream.extract();
    const members: Array<{ name: string; type: 'file' | 'directory' | 'symlink'; data: Buffer; linkname?: string }> = [];
    const done = new Promise<void>((resolve, reject) => {
      extract.on('entry', (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
        stream.on('end', () => {
          const data = Buffer.concat(chunks);
          members.push({ name: header.name, type: header.type === 'directory' ? 'directory' : 'file', data: data.equals(layers[1] as Buffer) ? tampered : data });
          next();
        });
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
    });
    extract.end(readFileSync(path));
    await done;
    writeFileSync(path, await packTar(members));
    await expectOpenFails(path, { code: 'EDIGEST', layer: 1, message: 'diff_id mismatch' }, { verify: true });
  });

  it('bare layers state no digest: verify has nothing to check and says nothing', async () => {
    const paths = await writeImage(tempDir(), layers, { format: 'layers', compression: 'gzip' });
    const fs = await open(paths, { verify: true });
    expect(fs.layers.map((layer) => layer.digest)).toEqual([undefined, undefined]);
  });

  it('with lazy, a layer that fails verify is refused when a question first needs it, never served', async () => {
    const tmp = tempDir();
    const root = join(tmp, 'oci');
    const oci = await writeOciDir(root, { layers: layers.map((bytes) => ({ bytes })) });
    writeFileSync(join(root, 'blobs/sha256', (oci.layerDigests[0] as string).slice(7)), Buffer.alloc((layers[0] as Buffer).length));
    const fs = await open(root, { verify: true, lazy: true });
    for (const question of [() => fs.readFile('/data'), () => fs.readdir('/'), () => fs.stat('/etc/hostname')]) {
      checkImgfsError(await rejection(question()), { code: 'EDIGEST', layer: 0, message: 'blob digest mismatch' });
    }
  });
});

describe('a changed config or manifest', () => {
  it('OCI: a config whose bytes do not hash to the manifest’s config digest', async () => {
    const tmp = tempDir();
    const root = join(tmp, 'oci');
    await writeOciDir(root, { layers: layers.map((bytes) => ({ bytes })) });
    // Find the config blob (the one with rootfs) and change a byte of it, keeping it valid JSON.
    const dir = join(root, 'blobs/sha256');
    const name = readdirSync(dir).find((hex) => readFileSync(join(dir, hex), 'utf8').includes('"rootfs"')) as string;
    const text = readFileSync(join(dir, name), 'utf8');
    writeFileSync(join(dir, name), text.replace('"linux"', '"LINUX"'));
    await expectOpenFails(root, { code: 'EDIGEST', member: `blobs/sha256/${name}`, message: `config digest mismatch: expected sha256:${name}` }, { verify: true });
  });

  it('OCI: a manifest whose bytes do not hash to the index’s digest', async () => {
    const tmp = tempDir();
    const root = join(tmp, 'oci');
    await writeOciDir(root, { layers: layers.map((bytes) => ({ bytes })) });
    const index = JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const hex = (index.manifests[0] as { digest: string }).digest.slice(7);
    const path = join(root, 'blobs/sha256', hex);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"schemaVersion":2', '"schemaVersion":2 '));
    // The size changed by one byte too; keep the descriptor's size right so only the digest is wrong.
    const raw = JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')) as { manifests: Array<{ size: number }> };
    (raw.manifests[0] as { size: number }).size += 1;
    writeFileSync(join(root, 'index.json'), JSON.stringify(raw));
    await expectOpenFails(root, { code: 'EDIGEST', member: `blobs/sha256/${hex}`, message: 'manifest digest mismatch' }, { verify: true });
  });

  it('docker save: a config whose bytes do not hash to its content-addressed name', async () => {
    const tmp = tempDir();
    const layer = layers[0] as Buffer;
    const config = JSON.stringify({ os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest(layer)] } });
    const name = `${sha256Digest(config).slice(7)}.json`;
    const build = async (configText: string): Promise<string> =>
      put(tmp, 'image.tar', await packTar([
        { name: 'layer.tar', data: layer },
        { name, data: configText },
        { name: 'manifest.json', data: JSON.stringify([{ Config: name, Layers: ['layer.tar'] }]) },
      ]));
    await open(await build(config), { verify: true });
    const path = await build(config.replace('linux', 'LINUX'));
    await expectOpenFails(path, { code: 'EDIGEST', member: name, message: 'config digest mismatch' }, { verify: true });
  });
});
