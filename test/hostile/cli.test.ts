/**
 * The built CLI on representative hostile images: `imgfs ls IMAGE /` exits 2 with exactly one line on
 * stderr, `imgfs: IMAGE: CODE: reason (layer …, offset …, in …)`, nothing on stdout, in bounded time.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildLayer, file, symlink } from '../helpers/layer-tar.js';
import { packTar, writeImage } from '../helpers/image-builder.js';
import { imgfs, type CliResult } from '../cli/run-cli.js';
import { patch, put, tempDir } from './hostile-helpers.js';
import { writeOciArchive } from './oci-writer.js';
import { rawBlocks, windowDescriptor, zstdFrame } from './zstd-frames.js';

const good = buildLayer([file('etc/hostname', 'cli\n'), file('bin/tool', 'x'.repeat(700))]);
const lower = buildLayer([file('base', 'b')]);

/** Exit 2, nothing on stdout, one line on stderr naming the image; returns the line. */
async function failsWithOneLine(args: string[], image: string): Promise<string> {
  const result: CliResult = await imgfs(args);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^imgfs: [^\n]+\n$/);
  expect(result.code).toBe(2);
  const line = result.stderr.trimEnd();
  expect(line.startsWith(`imgfs: ${image}: `)).toBe(true);
  return line;
}

describe('imgfs ls IMAGE / on hostile images', () => {
  it('a header checksum mismatch in layer 1 of an OCI archive', async () => {
    const tmp = tempDir();
    const image = await writeImage(tmp, [lower, patch(good, 1, 'Z')], { format: 'oci-archive', compression: 'gzip' });
    const line = await failsWithOneLine(['ls', image, '/'], image);
    expect(line).toMatch(
      new RegExp(`^imgfs: ${image}: ETARCORRUPT: header checksum mismatch \\(layer 1 \\(sha256:[a-f0-9]{64}\\), member blobs/sha256/[a-f0-9]{64}, offset 0, in ${image}!blobs/sha256/[a-f0-9]{64}\\)$`),
    );
  });

  it('a gzip layer cut short', async () => {
    const tmp = tempDir();
    const gz = gzipSync(good);
    const image = put(tmp, 'cut.tar.gz', gz.subarray(0, gz.length - 30));
    const line = await failsWithOneLine(['ls', image, '/'], image);
    expect(line).toMatch(/ETRUNCATED: gzip stream truncated \(layer 0, member .*, offset \d+, in .*\)$/);
  });

  it('a manifest.json that is not JSON', async () => {
    const tmp = tempDir();
    const image = put(tmp, 'image.tar', await packTar([{ name: 'manifest.json', data: '[{' }]));
    const line = await failsWithOneLine(['ls', image, '/'], image);
    expect(line).toMatch(/^imgfs: .*: EIMGFORMAT: manifest\.json is not valid JSON: .* \(member manifest\.json, in .*\)$/);
  });

  it('a layer named outside the archive', async () => {
    const tmp = tempDir();
    const image = put(tmp, 'image.tar', await packTar([
      { name: 'c.json', data: '{}' },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', Layers: ['../../etc/passwd'] }]) },
    ]));
    const line = await failsWithOneLine(['ls', image, '/'], image);
    expect(line).toContain('EIMGFORMAT: member ../../etc/passwd points outside the archive (layer 0');
  });

  it('a zstd frame asking for a 1 GiB window', async () => {
    const tmp = tempDir();
    const image = join(tmp, 'oci.tar');
    await writeOciArchive(image, { layers: [{ bytes: zstdFrame({ windowDescriptor: windowDescriptor(30), blocks: rawBlocks(good) }), mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', diffId: undefined }] });
    const line = await failsWithOneLine(['ls', image, '/'], image);
    expect(line).toMatch(/ELIMIT: zstd frame at compressed offset 0 needs a 1024 MiB window, more than the 128 MiB allowed .* \(layer 0 \(sha256:/);
  });

  it('--verify with a layer that is not its descriptor digest', async () => {
    const tmp = tempDir();
    const root = await writeImage(tmp, [good], { format: 'oci-dir' });
    const { readdirSync, readFileSync } = await import('node:fs');
    const blobs = join(root, 'blobs/sha256');
    const layerBlob = readdirSync(blobs).find((name) => readFileSync(join(blobs, name)).equals(good)) as string;
    writeFileSync(join(blobs, layerBlob), patch(good, 512, 'C'));
    const line = await failsWithOneLine(['ls', '--verify', root, '/'], root);
    expect(line).toContain(`EDIGEST: blob digest mismatch: expected sha256:${layerBlob}`);
    // Without --verify the same image is served.
    const served = await imgfs(['ls', root, '/']);
    expect(served.code).toBe(0);
  });

  it('a path error inside a readable image is exit 1, not 2, and the other paths are served', async () => {
    const tmp = tempDir();
    const image = put(tmp, 'loop.tar', buildLayer([symlink('loop', 'loop'), file('ok', 'fine')]));
    const result = await imgfs(['cat', image, '/loop', '/ok']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('fine');
    expect(result.stderr).toMatch(/^imgfs: cat: \/loop: Too many levels of symbolic links\n$/);
  });
});
