/**
 * One layer, one table (DESIGN F5): a layer indexed from a registry serves a local copy of the same
 * image from the index cache, and the other way round, because the indexing pass checks the blob and
 * the tar stream against the digests the image states and then keeps the table under the diff_id. The
 * local copy is made by skopeo from the registry, as a user would.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openImage } from '../../lib/index.js';
import { DecompressedSource } from '../../lib/source/decompressed-source.js';
import { FileSource } from '../../lib/source/file-source.js';
import { writeImage } from '../helpers/image-builder.js';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { FaultProxy } from './fault-proxy.js';
import { pushImage, startRegistry, type RunningRegistry } from './registry-server.js';

let registry: RunningRegistry;
let proxy: FaultProxy;
let dir: string;
let localCopy: string;
let name: string;
const bottom = randomBytes(300 * 1024);
const top = randomBytes(200 * 1024);

async function skopeoCopy(source: string, destination: string): Promise<void> {
  const child = spawn('skopeo', ['copy', '--quiet', '--insecure-policy', '--src-tls-verify=false', source, destination], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`skopeo copy: ${Buffer.concat(stderr).toString()}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imgfs-shared-'));
  const layers = [buildLayer([file('bottom/data', bottom), file('bottom/small', 'bottom')]), buildLayer([file('top/data', top)])];
  const image = await writeImage(join(dir, 'built'), layers, { format: 'oci-dir', compression: 'gzip' });
  registry = await startRegistry();
  await pushImage(`oci:${image}:imgfs-test:latest`, registry.host, 'shared:latest');
  proxy = await FaultProxy.start(registry.port);
  name = `docker://${proxy.host}/shared:latest`;
  localCopy = join(dir, 'copy');
  await skopeoCopy(`docker://${registry.host}/shared:latest`, `oci:${localCopy}:shared`);
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Counts the reads of decompressed layer bytes (a tar walk reads views, file reads read) from now on. */
function countDecodedReads(): { count: () => number; stop: () => void } {
  const reads = vi.spyOn(DecompressedSource.prototype, 'read');
  const views = vi.spyOn(DecompressedSource.prototype, 'readView');
  return {
    count: () => reads.mock.calls.length + views.mock.calls.length,
    stop: () => {
      reads.mockRestore();
      views.mockRestore();
    },
  };
}

/** Opens and indexes every layer; returns how many decompressed reads that took, and the two files' bytes. */
async function indexAll(image: string, cache: string): Promise<{ decodedReads: number; bottom: Buffer; top: Buffer }> {
  const counted = countDecodedReads();
  const fs = await openImage(image, { cache });
  const decodedReads = counted.count();
  counted.stop();
  try {
    return { decodedReads, bottom: await fs.readFile('/bottom/data'), top: await fs.readFile('/top/data') };
  } finally {
    await fs.close();
  }
}

describe('tables shared by the registry and a local copy of the image', () => {
  it('indexed from the registry, the local copy opens without decoding a layer', async () => {
    const cache = join(dir, 'cache-registry-first');
    const remote = await indexAll(name, cache);
    expect(remote.decodedReads).toBeGreaterThan(0);
    const local = await indexAll(localCopy, cache);
    expect(local.decodedReads).toBe(0);
    expect(local.bottom.equals(bottom) && local.top.equals(top)).toBe(true);
  });

  it('indexed from the local copy, the registry image opens without a blob request', async () => {
    const cache = join(dir, 'cache-local-first');
    const local = await indexAll(localCopy, cache);
    expect(local.decodedReads).toBeGreaterThan(0);
    proxy.reset();
    const fs = await openImage(name, { cache });
    try {
      const [first, second] = fs.layers;
      expect(proxy.blobTraffic(first?.digest)).toEqual({ requests: 0, bytes: 0 });
      expect(proxy.blobTraffic(second?.digest)).toEqual({ requests: 0, bytes: 0 });
      expect(fs.layers.every((layer) => layer.entries !== undefined && layer.entries > 0)).toBe(true);
      expect((await fs.readFile('/bottom/data')).equals(bottom)).toBe(true);
    } finally {
      await fs.close();
    }
  });

  it('the local copy named as skopeo names it (oci:DIR:REF) is cached under its files, as its directory is', async () => {
    const cache = join(dir, 'cache-prefixed-name');
    expect((await indexAll(`oci:${localCopy}:shared`, cache)).decodedReads).toBeGreaterThan(0);
    // Found under the identity of its blob files: neither decoded nor hashed again. Opening reads only
    // the few bytes that tell each blob's compression.
    const reads = vi.spyOn(FileSource.prototype, 'read');
    const into = vi.spyOn(FileSource.prototype, 'readInto');
    const intoSync = vi.spyOn(FileSource.prototype, 'readIntoSync');
    const streams = vi.spyOn(FileSource.prototype, 'createReadStream');
    const counted = countDecodedReads();
    const fs = await openImage(`oci:${localCopy}:shared`, { cache });
    try {
      expect(counted.count()).toBe(0);
      const bytesAsked =
        reads.mock.calls.reduce((sum, [, length]) => sum + length, 0) +
        [...into.mock.calls, ...intoSync.mock.calls].reduce((sum, [target]) => sum + target.length, 0);
      expect(bytesAsked).toBeLessThan(64 * 1024);
      expect(streams).not.toHaveBeenCalled();
      expect((await fs.readFile('/bottom/data')).equals(bottom)).toBe(true);
    } finally {
      counted.stop();
      await fs.close();
    }
  });

  it('a local blob that is not the blob whose table was shared is indexed from its own bytes', async () => {
    const cache = join(dir, 'cache-changed-blob');
    await indexAll(name, cache);
    // The local copy's bottom blob changed in place (same size): its manifest still states the old
    // digest and its config the old diff_id, but the shared table is used only once the blob hashes to
    // that digest. Indexed from its own bytes, the damage shows.
    const reference = await openImage(localCopy, { cache: false });
    const bottomDigest = reference.layers[0]?.digest ?? '';
    await reference.close();
    const path = join(localCopy, 'blobs', 'sha256', bottomDigest.slice('sha256:'.length));
    const saved = readFileSync(path);
    try {
      const changed = Buffer.from(saved);
      randomBytes(4096).copy(changed, 100 * 1024);
      writeFileSync(path, changed);
      const counted = countDecodedReads();
      await expect(openImage(localCopy, { cache })).rejects.toMatchObject({ code: expect.stringMatching(/^E(COMPRESSION|TRUNCATED|TARCORRUPT)$/) });
      expect(counted.count()).toBeGreaterThan(0);
    } finally {
      writeFileSync(path, saved);
    }
  });
});
