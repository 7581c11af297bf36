/**
 * A TOC layer from a registry (docker://): announced by its descriptor's annotations, read through its
 * TOC like a local one, metadata members hidden; pulled lazily (toc-lazy-pull.test.ts counts the bytes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { onPath } from '../helpers/on-path.js';
import { pushImage, startRegistry, type RunningRegistry } from '../registry/registry-server.js';
import { writeEstargz, writeOciLayer, writeZstdChunked, type FixtureEntry } from './toc-writer.js';

const ENTRIES: FixtureEntry[] = [{ name: 'etc/', type: 'dir' }, { name: 'etc/motd', data: 'from a registry\n' }, { name: 'big.bin', data: Buffer.alloc(200_000, 'r') }];
const skip = !onPath('skopeo') || !onPath('docker-registry');
let registry: RunningRegistry | undefined;
const dir = mkdtempSync(join(tmpdir(), 'imgfs-toc-registry-'));

beforeAll(async () => {
  if (skip) return;
  registry = await startRegistry();
  const estargz = writeOciLayer(join(dir, 'estargz'), writeEstargz(ENTRIES, { landmark: true, chunkSize: 64 * 1024 }), 'application/vnd.oci.image.layer.v1.tar+gzip');
  const zstd = writeOciLayer(join(dir, 'zstd'), writeZstdChunked(ENTRIES, { chunkSize: 64 * 1024 }), 'application/vnd.oci.image.layer.v1.tar+zstd');
  await pushImage(`oci:${estargz}`, registry.host, 'toc:estargz', undefined, false, true);
  await pushImage(`oci:${zstd}`, registry.host, 'toc:zstd-chunked', undefined, false, true);
});

afterAll(async () => {
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it.skipIf(skip && process.env.CI !== 'true').each([
  ['estargz', 'toc:estargz'],
  ['zstd:chunked', 'toc:zstd-chunked'],
])('%s from a registry is read through its TOC', async (format, tag) => {
  const fs = await openImage(`docker://${registry?.host}/${tag}`, { cache: false });
  try {
    expect(fs.layers[0]?.compression).toBe(format);
    expect(await fs.readdir('/')).toEqual(['big.bin', 'etc']);
    expect((await fs.readFile('/etc/motd')).toString()).toBe('from a registry\n');
    expect((await fs.readFile('/big.bin')).equals(Buffer.alloc(200_000, 'r'))).toBe(true);
  } finally {
    await fs.close();
  }
});
