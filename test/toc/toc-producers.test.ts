/**
 * zstd:chunked and eStargz layers made by the real producers (fixtures/toc/build-toc-images.sh):
 * podman 4.3 `push --compression-format zstd:chunked`, and stargz-snapshotter's `ctr-remote image
 * convert --estargz` / `--zstdchunked` on a containerd the script starts on its own root and socket.
 * Each is read through its table of contents and must equal umoci's unpack of the same image pushed
 * as plain gzip, with the formats' metadata members absent; its TOC table must equal the table a
 * plain pass builds, but for where the data lies; one file read decodes one run and reads a sliver
 * of the blob; `verify` holds the TOC against the tar stream and passes.
 *
 * Needs root, podman, umoci, skopeo, containerd and ctr-remote; skipped with a warning without them,
 * except in CI (CI=true), where their absence fails it.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onPath } from '../helpers/on-path.js';
import { openImage } from '../../lib/index.js';
import { openDecompressed } from '../../lib/source/codec.js';
import { FileSource } from '../../lib/source/file-source.js';
import { LayerTable, type TableEntry } from '../../lib/table/layer-table.js';
import type { TarEntry } from '../../lib/tar/tar-entry.js';
import { walkTar } from '../../lib/tar/walk-tar.js';
import { TocLayer } from '../../lib/toc/toc-layer.js';
import { isTocMetadataName } from '../../lib/toc/toc-metadata.js';
import { verifyTocAgainstTar } from '../../lib/toc/verify-toc.js';
import { compareTrees, formatDifferences } from '../conformance/compare-trees.js';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { estargzFooter, zstdChunkedFooterFrame } from './toc-writer.js';
import { snapshotDirectory, snapshotImage, type TreeSnapshot } from '../conformance/tree-snapshot.js';
import { ObservedSource } from '../helpers/observed-source.js';

const execFileAsync = promisify(execFile);
const BUILD_SCRIPT = fileURLToPath(new URL('../../fixtures/toc/build-toc-images.sh', import.meta.url));
const TOOLS = ['podman', 'umoci', 'skopeo', 'containerd', 'ctr', 'ctr-remote'];

const missing = TOOLS.filter((tool) => !onPath(tool));
if (process.getuid?.() !== 0) missing.push('root (podman on its own vfs root, containerd, umoci unpack keeping owners)');
const inCI = process.env.CI === 'true';
const skip = missing.length > 0 && !inCI;
if (skip) console.warn(`\n!! imgfs TOC producer test SKIPPED: missing ${missing.join(', ')} (a failure in CI)\n`);

/** The images the script makes, with the format their layer must be read as. */
/**
 * podman 4.3 (containers/storage 1.43) leaves the tar's zero padding after its last end block out of a
 * zstd:chunked blob (fixed in containers/storage on 2023-12-12, "chunked: flush the input tarball to
 * the output"), so the blob's tar stream does not hash to the config's diff_id: `verify` must say so.
 */
const IMAGES = [
  { name: 'podman zstd:chunked (40-byte footer, io.containers.* annotations)', dir: 'oci-zstd-chunked', format: 'zstd:chunked', diffIdBug: true },
  { name: 'ctr-remote eStargz', dir: 'oci-estargz', format: 'estargz', diffIdBug: false },
  { name: "ctr-remote zstd:chunked (stargz-snapshotter's writer, landmarks in the tar)", dir: 'oci-ctr-zstdchunked', format: 'zstd:chunked', diffIdBug: false },
  { name: 'ctr-remote eStargz exported by containerd, as a docker archive (footer only, no annotations)', dir: 'estargz.tar', format: 'estargz', diffIdBug: false },
] as const;
const METADATA = ['/stargz.index.json', '/.prefetch.landmark', '/.no.prefetch.landmark'];

/** The single layer blob of an OCI layout and its descriptor's annotations. */
function layerOf(layout: string): { path: string; annotations: Record<string, string> } {
  const blob = (digest: string): string => join(layout, 'blobs', ...digest.split(':'));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { layers: Array<{ digest: string; annotations?: Record<string, string> }> };
  const layer = manifest.layers[0]!;
  return { path: blob(layer.digest), annotations: layer.annotations ?? {} };
}

async function* withoutTocMetadata(members: AsyncIterable<TarEntry>): AsyncGenerator<TarEntry> {
  for await (const member of members) if (!isTocMetadataName(member.name)) yield member;
}

/** A table's entries without where their data lies (the TOC's data space is not the tar's offsets). */
function withoutOffsets(table: LayerTable): Array<Omit<TableEntry, 'dataOffset'>> {
  return [...table.allEntries()].map(({ dataOffset: _ignored, ...rest }) => rest).sort((a, b) => (a.path < b.path ? -1 : 1));
}

describe.skipIf(skip)('TOC layers from the real producers', () => {
  let dir = '';
  let reference: TreeSnapshot;

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`CI=true but missing ${missing.join(', ')}`);
    dir = await mkdtemp(join(tmpdir(), 'imgfs-toc-'));
    try {
      await execFileAsync('bash', [BUILD_SCRIPT, dir], { maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      const stderr = (error as { stderr?: unknown }).stderr;
      throw new Error(`build-toc-images.sh failed:\n${typeof stderr === 'string' ? stderr : String(error)}`);
    }
    reference = await snapshotDirectory(join(dir, 'ref', 'rootfs'), { xattrs: onPath('python3') });
  }, 180_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('builds a reference holding what the comparison relies on', () => {
    expect(reference.entries.get('/opt/data/big.txt')).toMatchObject({ type: 'file', size: 9_000_000, uid: 101, gid: 102 });
    expect(reference.entries.get('/usr/bin/tool')).toMatchObject({ perm: 0o4755 });
    expect(reference.entries.get('/var/fifo')).toMatchObject({ type: 'fifo' });
    expect(reference.entries.get('/usr/lib/hello-hard')).toMatchObject({ linkGroup: '/etc/hello.txt' });
  });

  describe.each(IMAGES)('$name', (image) => {
    it(`reads the layer as ${image.format}, equal to umoci's unpack, metadata members absent`, async () => {
      const warnings: string[] = [];
      const fs = await openImage(join(dir, image.dir), { cache: false, onWarning: (warning) => warnings.push(warning.message) });
      try {
        expect(fs.layers.map((layer) => layer.compression)).toEqual([image.format]);
        const snapshot = await snapshotImage(fs, { xattrs: onPath('python3') });
        const differences = compareTrees(reference, snapshot, { implicitDirs: new Set(), excluded: [] });
        expect(differences.length, formatDifferences(differences)).toBe(0);
        for (const path of METADATA) expect(await fs.exists(path), path).toBe(false);
        expect((await fs.readFile('/etc/hello.txt')).toString()).toBe('hello from the bottom layer\n');
        expect(warnings).toEqual([]);
      } finally {
        await fs.close();
      }
    }, 60_000);

    it(image.diffIdBug ? "verify: EDIGEST, the producer's tar stream is not its diff_id" : 'verify: digests hold and every TOC entry agrees with the tar stream', async () => {
      const opening = openImage(join(dir, image.dir), { cache: false, verify: true });
      if (image.diffIdBug) {
        await expect(opening).rejects.toMatchObject({ code: 'EDIGEST', message: expect.stringContaining('diff_id mismatch') as unknown });
      } else {
        await (await opening).close();
      }
    }, 60_000);
  });

  describe.each(IMAGES.filter((image) => !image.dir.endsWith('.tar')))('$name, layer by layer', (image) => {
    it("builds from the TOC the table a plain pass builds, but for the data's offsets", async () => {
      const { path, annotations } = layerOf(join(dir, image.dir));
      const blob = await FileSource.open(path);
      try {
        const opening = await TocLayer.open(blob, (await stat(path)).size, annotations);
        expect(opening.problem).toBeUndefined();
        expect(opening.layer?.toc.checkedDigest).toMatch(/^sha256:/);
        const fromToc = await opening.layer!.table();
        const { source } = await openDecompressed(blob);
        const plain = await LayerTable.build(withoutTocMetadata(walkTar(source)));
        expect(withoutOffsets(fromToc)).toEqual(withoutOffsets(plain));
        expect(fromToc.memberCount).toBe(plain.memberCount);
        // And every TOC entry, content included, agrees with the tar stream (verify's check, on its own).
        await verifyTocAgainstTar(opening.layer!, walkTar(source), source);
        await source.close();
      } finally {
        await blob.close();
      }
    });

    it("ends with the footer toc-writer.ts writes for the same TOC (the fixture writer follows the producers)", async () => {
      const { path, annotations } = layerOf(join(dir, image.dir));
      const blob = readFileSync(path);
      const location = (await TocLayer.open(new BufferSource(blob, path), blob.length, annotations)).layer!.toc.location;
      const expected =
        image.format === 'estargz'
          ? estargzFooter(location.tocOffset)
          : zstdChunkedFooterFrame(location.tocOffset, location.tocLength, location.tocUncompressedLength ?? -1);
      expect(blob.subarray(blob.length - expected.length).equals(expected)).toBe(true);
    });

    it('opens with one read of footer and TOC, and one file read decodes only its run (< 2% of the blob)', async () => {
      const { path, annotations } = layerOf(join(dir, image.dir));
      const size = (await stat(path)).size;
      const blob = new ObservedSource(await FileSource.open(path));
      try {
        const layer = (await TocLayer.open(blob, size, annotations)).layer!;
        const table = await layer.table();
        const hello = table.get('etc/hello.txt')!;
        expect((await layer.content.read(hello.dataOffset, hello.size)).toString()).toBe('hello from the bottom layer\n');
        expect(layer.content.stats.runsDecoded).toBe(1);
        expect(blob.bytesRead / size).toBeLessThan(0.02);
        // The middle of a multi-run file: one run decoded, not the runs before it.
        const big = table.get('opt/data/big.txt')!;
        const middle = await layer.content.read(big.dataOffset + 5_000_000, 29);
        expect(middle.toString()).toMatch(/imgfs table of contents line|line\nimgfs/);
        expect(layer.content.stats.runsDecoded).toBe(2);
      } finally {
        await blob.close();
      }
    });
  });
});
