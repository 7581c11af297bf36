/**
 * A lazy pull of TOC layers from a real registry (Debian's docker-registry), filled with the zstd:chunked
 * and eStargz images the real producers make (fixtures/toc/build-toc-images.sh: podman, ctr-remote),
 * counted at the fault proxy in front of it: a cold `cat` of one file fetches the footer, the TOC and
 * that file's chunk (well under 2% of the layer, never the blob from its start); a file's chunks side by
 * side come in one request; the merged view equals
 * umoci's unpack; a registry that serves a changed chunk gives EDIGEST naming registry, repository,
 * digest and path; a warm open fetches no TOC again.
 *
 * Needs root, podman, umoci, skopeo, containerd, ctr-remote and docker-registry; skipped with a warning
 * without them, except in CI (CI=true), where their absence fails it.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { constants, crc32, deflateRawSync, gunzipSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { TocLayer } from '../../lib/toc/toc-layer.js';
import type { TocChunk } from '../../lib/toc/toc-model.js';
import { compareTrees, formatDifferences } from '../conformance/compare-trees.js';
import { snapshotDirectory, snapshotImage, type TreeSnapshot } from '../conformance/tree-snapshot.js';
import { expectImgfsError } from '../helpers/expect-imgfs-error.js';
import { onPath } from '../helpers/on-path.js';
import { FaultProxy } from '../registry/fault-proxy.js';
import { startRegistry, type RunningRegistry } from '../registry/registry-server.js';

const execFileAsync = promisify(execFile);
const BUILD_SCRIPT = fileURLToPath(new URL('../../fixtures/toc/build-toc-images.sh', import.meta.url));
const TOOLS = ['podman', 'umoci', 'skopeo', 'containerd', 'ctr', 'ctr-remote', 'docker-registry'];
const missing = TOOLS.filter((tool) => !onPath(tool));
if (process.getuid?.() !== 0) missing.push('root (podman on its own vfs root, containerd, umoci unpack keeping owners)');
const skip = missing.length > 0 && process.env.CI !== 'true';
if (skip) console.warn(`\n!! imgfs TOC lazy-pull test SKIPPED: missing ${missing.join(', ')} (a failure in CI)\n`);

const IMAGES = [
  // podman 4.3 stores the 9 MB text file in one chunk; ctr-remote cuts it into 1 MiB chunks (9).
  // podman 4.3's blob lacks the tar's trailing padding, so its tar stream is not its diff_id (see toc-producers).
  { name: 'podman zstd:chunked', dir: 'oci-zstd-chunked', format: 'zstd:chunked', repository: 'lazy/podman-zstd-chunked', bigChunks: 1, diffIdBug: true },
  { name: 'ctr-remote eStargz', dir: 'oci-estargz', format: 'estargz', repository: 'lazy/estargz', bigChunks: 9, diffIdBug: false },
  { name: 'ctr-remote zstd:chunked', dir: 'oci-ctr-zstdchunked', format: 'zstd:chunked', repository: 'lazy/ctr-zstd-chunked', bigChunks: 9, diffIdBug: false },
] as const;
const HELLO = 'hello from the bottom layer\n';

interface LayerFacts {
  digest: string;
  size: number;
  blob: Buffer;
  /** The one chunk of /etc/hello.txt, from the TOC. */
  hello: TocChunk;
  /** The chunks of /opt/data/big.txt (9 MB of text: several chunks side by side). */
  big: readonly TocChunk[];
  /** The Range header of the lazy pull's TOC request. */
  tocRange: string;
}

/** The single layer of an OCI layout, and where /etc/hello.txt's chunk lies in it. */
async function layerFacts(layout: string): Promise<LayerFacts> {
  const path = (digest: string): string => join(layout, 'blobs', ...digest.split(':'));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(readFileSync(path(index.manifests[0]!.digest), 'utf8')) as {
    layers: Array<{ digest: string; size: number; annotations?: Record<string, string> }>;
  };
  const layer = manifest.layers[0]!;
  const blob = readFileSync(path(layer.digest));
  const toc = (await TocLayer.open(new BufferSource(blob, layer.digest), blob.length, layer.annotations ?? {})).layer!;
  const entry = (path: string) => toc.toc.entries.find((candidate) => candidate.name.replace(/^\.?\//, '') === path)!;
  expect(entry('etc/hello.txt').chunks).toHaveLength(1);
  const { location } = toc.toc;
  // zstd:chunked's TOC is read with its skippable frame's 8-byte header.
  const tocStart = location.format === 'zstd:chunked' ? location.tocOffset - 8 : location.tocOffset;
  const tocRange = `bytes=${tocStart}-${location.tocOffset + location.tocLength - 1}`;
  return { digest: layer.digest, size: layer.size, blob, hello: entry('etc/hello.txt').chunks[0]!, big: entry('opt/data/big.txt').chunks, tocRange };
}

/**
 * The chunk's stored bytes with its content changed ("hello" → "HELLO") but still well-formed and of the
 * same length: a new gzip member whose header's extra field takes up the room left, or a new zstd frame
 * (of whichever level and flags fit) followed by a skippable frame filling the rest.
 */
function changedChunk(original: Buffer, format: string, chunk: TocChunk): Buffer {
  const decoded = format === 'estargz' ? gunzipSync(original) : zstdDecompressSync(original);
  const content = Buffer.from(decoded);
  content.write('HELLO', chunk.innerOffset);
  for (let level = 1; level <= 19; level++) {
    if (format === 'estargz') {
      if (level > 9) break;
      const deflated = deflateRawSync(content, { level });
      const room = original.length - (10 + 2 + deflated.length + 8);
      if (room < 0) continue;
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(crc32(content), 0);
      trailer.writeUInt32LE(content.length, 4);
      const header = Buffer.from([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, room & 0xff, room >> 8]);
      return Buffer.concat([header, Buffer.alloc(room), deflated, trailer]);
    }
    for (const checksum of [0, 1]) {
      const frame = zstdCompressSync(content, { params: { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_checksumFlag]: checksum } });
      const room = original.length - frame.length;
      if (room !== 0 && room < 8) continue;
      const padding = Buffer.alloc(room);
      if (room > 0) {
        padding.writeUInt32LE(0x184d2a50, 0);
        padding.writeUInt32LE(room - 8, 4);
      }
      return Buffer.concat([frame, padding]);
    }
  }
  throw new Error(`no ${format} encoding of the changed chunk fits its ${original.length} bytes`);
}

describe.skipIf(skip)('lazy pull of TOC layers from a registry', () => {
  let dir = '';
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let reference: TreeSnapshot;
  const facts = new Map<string, LayerFacts>();

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`CI=true but missing ${missing.join(', ')}`);
    dir = await mkdtemp(join(tmpdir(), 'imgfs-toc-lazy-'));
    await execFileAsync('bash', [BUILD_SCRIPT, join(dir, 'images')], { maxBuffer: 16 * 1024 * 1024 });
    reference = await snapshotDirectory(join(dir, 'images', 'ref', 'rootfs'), { xattrs: onPath('python3') });
    registry = await startRegistry();
    for (const image of IMAGES) {
      // --preserve-digests: skopeo's blob-info cache must not substitute a blob it saw before with the
      // same content (another image's zstd:chunked or plain layer) for the one pushed.
      await execFileAsync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--preserve-digests', `oci:${join(dir, 'images', image.dir)}:toc`, `docker://${registry.host}/${image.repository}:toc`], {
        env: { ...process.env, REGISTRY_AUTH_FILE: join(dir, 'no-auth.json') },
      });
      facts.set(image.dir, await layerFacts(join(dir, 'images', image.dir)));
    }
    proxy = await FaultProxy.start(registry.port);
  }, 180_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  beforeEach(() => proxy?.reset());

  describe.each(IMAGES)('$name', (image) => {
    const name = (): string => `docker://${proxy.host}/${image.repository}:toc`;

    it('a cold cat of one file fetches the footer, the TOC and its chunk: well under 2% of the layer', async () => {
      const layer = facts.get(image.dir)!;
      const fs = await openImage(name(), { cache: false });
      try {
        expect((await fs.readFile('/etc/hello.txt')).toString()).toBe(HELLO);
        expect(fs.layers[0]?.compression).toBe(image.format);
        const traffic = proxy.blobTraffic(layer.digest);
        expect(traffic.bytes / layer.size).toBeLessThan(0.02);
        // Footer, TOC, chunk: every one a range, none from the blob's start.
        const requests = proxy.log.filter((entry) => entry.path.endsWith(layer.digest));
        expect(requests.length).toBeLessThanOrEqual(4);
        for (const request of requests) expect(request.range, JSON.stringify(request)).toMatch(/^bytes=[1-9]\d*-\d+$/);
        expect(requests.map((request) => request.range)).toContain(`bytes=${layer.hello.compressedOffset}-${layer.hello.compressedEnd - 1}`);
      } finally {
        await fs.close();
      }
    });

    it("a file of several chunks side by side is fetched by one request, each chunk checked", async () => {
      const layer = facts.get(image.dir)!;
      expect(layer.big.length).toBe(image.bigChunks);
      const fs = await openImage(name(), { cache: false });
      try {
        const big = await fs.readFile('/opt/data/big.txt');
        expect(big.length).toBe(9_000_000);
        expect(big.subarray(0, 29).toString()).toBe('imgfs table of contents line\n');
        const first = layer.big[0]!;
        const last = layer.big.at(-1)!;
        const ranges = proxy.log.filter((entry) => entry.path.endsWith(layer.digest)).map((entry) => entry.range);
        expect(ranges).toContain(`bytes=${first.compressedOffset}-${last.compressedEnd - 1}`);
        // Footer and TOC, and that one request.
        expect(ranges.length).toBeLessThanOrEqual(3);
      } finally {
        await fs.close();
      }
    });

    it("the merged view equals umoci's unpack, the formats' metadata members absent", async () => {
      const fs = await openImage(name(), { cache: false });
      try {
        const snapshot = await snapshotImage(fs, { xattrs: onPath('python3') });
        const differences = compareTrees(reference, snapshot, { implicitDirs: new Set(), excluded: [] });
        expect(differences.length, formatDifferences(differences)).toBe(0);
        for (const path of ['/stargz.index.json', '/.prefetch.landmark', '/.no.prefetch.landmark']) expect(await fs.exists(path), path).toBe(false);
        // A whole read of the layer's files still never asked for the blob from its start.
        const layer = facts.get(image.dir)!;
        const requests = proxy.log.filter((entry) => entry.path.endsWith(layer.digest));
        for (const request of requests) expect(request.range).not.toMatch(/^bytes=0-/);
      } finally {
        await fs.close();
      }
    }, 60_000);

    it('a registry serving a changed chunk: EDIGEST naming registry, repository, digest and path', async () => {
      const layer = facts.get(image.dir)!;
      const { compressedOffset, compressedEnd } = layer.hello;
      proxy.reset((_n, incoming) =>
        incoming.headers.range === `bytes=${compressedOffset}-${compressedEnd - 1}` ? { kind: 'replace', change: (body) => changedChunk(body, image.format, layer.hello) } : undefined,
      );
      const fs = await openImage(name(), { cache: false });
      try {
        await expectImgfsError(fs.readFile('/etc/hello.txt'), {
          code: 'EDIGEST',
          archive: `${proxy.host}/${image.repository}`,
          digest: layer.digest,
          message: '/etc/hello.txt',
        });
        expect(proxy.log.some((entry) => entry.fault === 'replace')).toBe(true);
        // The other files are still served.
        expect((await fs.readFile('/etc/passwd')).toString()).toContain('root:x:0:0');
      } finally {
        await fs.close();
      }
    });

    it('verify still checks everything: the whole blob against its digest, the tar against the diff_id, the TOC against the tar', async () => {
      const layer = facts.get(image.dir)!;
      const opening = openImage(name(), { cache: false, verify: true }).then(async (fs) => {
        try {
          return (await fs.readFile('/etc/hello.txt')).toString();
        } finally {
          await fs.close();
        }
      });
      if (image.diffIdBug) {
        await expect(opening).rejects.toMatchObject({ code: 'EDIGEST', message: expect.stringContaining('diff_id mismatch') as unknown });
      } else {
        expect(await opening).toBe(HELLO);
        // The verifying pass streamed the blob from its start, whole.
        const whole = proxy.log.filter((entry) => entry.path.endsWith(layer.digest) && (entry.range === undefined || entry.range.startsWith('bytes=0-')));
        expect(whole.reduce((sum, entry) => sum + entry.bytes, 0)).toBe(layer.size);
      }
    });

    it('a TOC range answered with other bytes is not used: the layer is read by the whole-blob pass instead', async () => {
      const layer = facts.get(image.dir)!;
      proxy.reset((_n, incoming) => (incoming.headers.range === layer.tocRange ? { kind: 'corrupt' } : undefined));
      const fs = await openImage(name(), { cache: false });
      try {
        expect((await fs.readFile('/etc/hello.txt')).toString()).toBe(HELLO);
        const requests = proxy.log.filter((entry) => entry.path.endsWith(layer.digest));
        expect(requests.some((entry) => entry.fault === 'corrupt')).toBe(true);
        expect(requests.some((entry) => entry.range === undefined || entry.range.startsWith('bytes=0-'))).toBe(true);
      } finally {
        await fs.close();
      }
    });

    it('a registry failing the TOC request is that error, not a silent download of the whole blob', async () => {
      const layer = facts.get(image.dir)!;
      proxy.reset((_n, incoming) => (incoming.headers.range === layer.tocRange ? { kind: 'status', status: 404 } : undefined));
      // The layer is indexed as the image opens (not lazy): the open itself fails.
      const reading = openImage(name(), { cache: false }).then(async (fs) => {
        try {
          return await fs.readFile('/etc/hello.txt');
        } finally {
          await fs.close();
        }
      });
      await expectImgfsError(reading, { code: 'ENOTFOUND', archive: `${proxy.host}/${image.repository}`, digest: layer.digest, message: 'HTTP 404' });
      const requests = proxy.log.filter((entry) => entry.path.endsWith(layer.digest));
      expect(requests.some((entry) => entry.range === undefined || entry.range.startsWith('bytes=0-'))).toBe(false);
    });

    it('a warm open fetches neither footer nor TOC again: one request, the chunk', async () => {
      const layer = facts.get(image.dir)!;
      const cache = await mkdtemp(join(tmpdir(), 'imgfs-toc-lazy-cache-'));
      try {
        const cold = await openImage(name(), { cache });
        expect((await cold.readFile('/etc/hello.txt')).toString()).toBe(HELLO);
        await cold.close();
        proxy.reset();
        const warm = await openImage(name(), { cache });
        try {
          expect((await warm.readFile('/etc/hello.txt')).toString()).toBe(HELLO);
          const requests = proxy.log.filter((entry) => entry.path.endsWith(layer.digest));
          expect(requests.map((request) => request.range)).toEqual([`bytes=${layer.hello.compressedOffset}-${layer.hello.compressedEnd - 1}`]);
        } finally {
          await warm.close();
        }
      } finally {
        await rm(cache, { recursive: true, force: true });
      }
    });
  });
});
