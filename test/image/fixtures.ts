/** Shared by the image-format tests: sample layers, a scratch directory, and error expectations. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { LoadedImage } from '../../lib/image/loaded-image.js';
import type { ByteSource } from '../../lib/source/byte-source.js';
import { buildLayer, dir, file, whiteout } from '../helpers/layer-tar.js';

/** Three small layers, bottom first; the third is big enough that offsets in an outer tar matter. */
export const sampleLayers: readonly Buffer[] = [
  buildLayer([dir('etc'), file('etc/os-release', 'ID=imgfs\n'), dir('bin'), file('bin/sh', '#!sh\n')]),
  buildLayer([file('etc/hostname', 'box\n')]),
  buildLayer([whiteout('etc/hostname'), dir('app'), file('app/main.js', 'x'.repeat(5000))]),
];

/** A fresh directory under the OS temp dir, removed after the test file. */
export function scratch(prefix: string): () => Promise<string> {
  const made: string[] = [];
  afterAll(async () => {
    await Promise.all(made.map((path) => rm(path, { recursive: true, force: true })));
  });
  return async () => {
    const path = await mkdtemp(join(tmpdir(), `imgfs-${prefix}-`));
    made.push(path);
    return path;
  };
}

/** All bytes of a source. */
export async function readAll(source: ByteSource): Promise<Buffer> {
  return source.read(0, source.size ?? Number.MAX_SAFE_INTEGER);
}

/** Every layer's stored bytes, bottom first, read through `LayerBlob.blob`. */
export async function layerBytes(image: LoadedImage): Promise<Buffer[]> {
  return Promise.all(image.layers.map((layer) => readAll(layer.blob)));
}

export { expectImgfsError } from '../helpers/expect-imgfs-error.js';
