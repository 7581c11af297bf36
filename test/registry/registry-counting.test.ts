/**
 * What a question costs on the wire, counted at a proxy in front of a real registry: a file of the top
 * layer never fetches a byte of a lower layer; a cold lookup downloads about the top layer once; with
 * a warm index cache, `cat` of a 1 MB file deep in a compressed layer fetches a few ranges near it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { DEFAULT_CHECKPOINT_SPACING } from '../../lib/source/decompressed-source.js';
import { writeImage } from '../helpers/image-builder.js';
import { buildLayer, dir as dirEntry, file } from '../helpers/layer-tar.js';
import { FaultProxy } from './fault-proxy.js';
import { pushImage, startRegistry, type RunningRegistry } from './registry-server.js';

const MB = 1024 * 1024;
let registry: RunningRegistry;
let proxy: FaultProxy;
let dir: string;
let target: Buffer;
let name: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imgfs-counting-'));
  // Random bytes do not compress: stored sizes are what the files weigh.
  target = randomBytes(MB);
  const layers = [
    buildLayer([file('bottom/big', randomBytes(2 * MB)), file('bottom/small', 'bottom')]),
    buildLayer([file('middle/file', randomBytes(MB))]),
    buildLayer([dirEntry('top/'), file('top/filler', randomBytes(6 * MB)), file('top/target', target), file('top/small', 'top')]),
  ];
  const image = await writeImage(dir, layers, { format: 'oci-dir', compression: 'gzip' });
  registry = await startRegistry();
  await pushImage(`oci:${image}:imgfs-test:latest`, registry.host, 'counting:latest');
  proxy = await FaultProxy.start(registry.port);
  name = `docker://${proxy.host}/counting:latest`;
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => proxy.reset());

describe('bytes and requests of one lookup', () => {
  it('a top-layer file fetches no byte of a lower layer, and the top layer about once', async () => {
    const fs = await openImage(name, { lazy: true, cache: false });
    try {
      expect((await fs.readFile('/top/small')).toString()).toBe('top');
      const [bottom, middle, top] = fs.layers;
      expect(proxy.blobTraffic(bottom?.digest)).toEqual({ requests: 0, bytes: 0 });
      expect(proxy.blobTraffic(middle?.digest)).toEqual({ requests: 0, bytes: 0 });
      const topTraffic = proxy.blobTraffic(top?.digest);
      expect(topTraffic.bytes).toBeLessThanOrEqual(1.05 * (top?.size ?? 0));
      expect(topTraffic.bytes).toBeGreaterThanOrEqual(top?.size ?? 0);
    } finally {
      await fs.close();
    }
  });

  it('with a warm cache, cat of a 1 MB file fetches a range near it in at most 3 requests after the manifest', async () => {
    const cache = join(dir, 'cache');
    const cold = await openImage(name, { cache });
    await cold.close();
    proxy.reset();
    const fs = await openImage(name, { lazy: true, cache });
    try {
      const beforeRead = proxy.log.length;
      expect((await fs.readFile('/top/target')).equals(target)).toBe(true);
      const reads = proxy.log.slice(beforeRead).filter((entry) => entry.range !== undefined);
      const bytes = reads.reduce((sum, entry) => sum + entry.bytes, 0);
      const [bottom, middle] = fs.layers;
      expect(proxy.blobTraffic(bottom?.digest).requests + proxy.blobTraffic(middle?.digest).requests).toBe(0);
      // Issue 11's target: at most 3 requests after the manifest. The config, and the ranged stream from
      // the checkpoint in at most two; no probe of the head (the verified blob's first bytes are kept in
      // the cache, so its compression is sniffed without a request) or of the tail (a layer whose
      // descriptor announces no table of contents is not looked at for one: lib/toc).
      const manifest = proxy.log.findIndex((entry) => entry.path.includes('/manifests/'));
      expect(manifest).toBeGreaterThanOrEqual(0);
      expect(proxy.log.length - manifest - 1).toBeLessThanOrEqual(3);
      expect(reads.length).toBeLessThanOrEqual(2);
      // The file, at most two checkpoint spans (what the decoder passes from the checkpoint before it,
      // and what it decodes ahead), and 64 KiB.
      expect(bytes).toBeLessThanOrEqual(target.length + 2 * DEFAULT_CHECKPOINT_SPACING + 64 * 1024);
    } finally {
      await fs.close();
    }
  });
});
