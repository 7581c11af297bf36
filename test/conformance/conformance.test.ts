/**
 * Differential test of imgfs against umoci (issue "conformance").
 *
 * fixtures/conformance/build-images.sh builds one image with umoci (six `repack` layers over Debian
 * packages plus one hand-written layer), exports it with skopeo in every format imgfs reads, and
 * unpacks it with umoci as root into a reference rootfs. Every export, opened with imgfs, must show
 * the same tree as the reference: type, permission bits, owners, size and sha256 of files, symlink
 * targets, mtimes of non-directories, hard-link groups and link counts, and xattrs when python3 can
 * read them from the reference. Allowances, both explained where they are defined:
 * - implicit directories (R6): compare-trees.ts, found from the layer tars by layer-entries.ts;
 * - umoci's departures from DESIGN.md: known-departures.ts and NOTES.md.
 *
 * Needs umoci, skopeo and root. Without them the test is skipped with a warning, except in CI
 * (CI=true), where their absence fails it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onPath } from '../helpers/on-path.js';
import { openImage } from '../../lib/index.js';
import type { Compression, TocFormat } from '../../lib/fs/types.js';
import { checkWalkOrder, compareTrees, formatDifferences } from './compare-trees.js';
import { KNOWN_DEPARTURES, type Expectation } from './known-departures.js';
import { explicitDirectories } from './layer-entries.js';
import { pushImage, startRegistry, type RunningRegistry } from '../registry/registry-server.js';
import { snapshotDirectory, snapshotImage, type SnapshotEntry, type TreeSnapshot } from './tree-snapshot.js';

const execFileAsync = promisify(execFile);
const BUILD_SCRIPT = fileURLToPath(new URL('../../fixtures/conformance/build-images.sh', import.meta.url));
/** Layers of the conformance image: six from `umoci repack`, one hand-written. */
const LAYER_COUNT = 7;

/** Checks one side of a known departure; returns a message, or undefined when it holds. */
function unmet(entry: SnapshotEntry | undefined, expectation: Expectation): string | undefined {
  if (expectation === 'absent') return entry ? `present: ${JSON.stringify(entry)}` : undefined;
  if (!entry) return 'absent';
  const wrong = Object.entries(expectation).filter(
    ([field, value]) => JSON.stringify(entry[field as keyof SnapshotEntry]) !== JSON.stringify(value),
  );
  return wrong.length > 0 ? `expected ${JSON.stringify(expectation)}, got ${JSON.stringify(entry)}` : undefined;
}


const missing = ['umoci', 'skopeo'].filter((tool) => !onPath(tool));
if (process.getuid?.() !== 0) missing.push('root (umoci unpack must keep owners)');
const inCI = process.env.CI === 'true';
const skip = missing.length > 0 && !inCI;
if (skip) {
  const bar = '!'.repeat(100);
  console.warn(
    `\n${bar}\n!! imgfs conformance test SKIPPED: missing ${missing.join(', ')}.\n` +
      `!! Install with: apt-get install -y umoci skopeo zstd (as root). In CI (CI=true) this is a failure.\n${bar}\n`,
  );
}

interface Export {
  name: string;
  /** Relative to the build directory. */
  source: string;
  ref?: string;
  compression: Compression;
  /** Pushed by skopeo (from `source`, `ref`) to a registry started for it, and opened as docker://. */
  registry?: boolean;
}

const EXPORTS: readonly Export[] = [
  { name: 'docker-archive (skopeo)', source: 'docker.tar', compression: 'none' },
  { name: 'docker legacy v1 (no manifest.json)', source: 'legacy.tar', compression: 'none' },
  { name: 'oci-archive, gzip layers', source: 'oci.tar', compression: 'gzip' },
  { name: 'oci dir, zstd layers', source: 'oci-zstd', compression: 'zstd' },
  { name: 'oci dir holding two tags, chosen by ref', source: 'oci', ref: 'conf', compression: 'gzip' },
  { name: 'registry (docker://, pushed by skopeo from the oci dir)', source: 'oci', ref: 'conf', compression: 'gzip', registry: true },
];

describe.skipIf(skip)('conformance: imgfs agrees with umoci unpack', () => {
  let dir = '';
  let reference: TreeSnapshot;
  let implicitDirs: Set<string>;
  let withXattrs = false;

  beforeAll(async () => {
    if (missing.length > 0) {
      throw new Error(`conformance: CI=true but missing ${missing.join(', ')}; CI must apt-get install -y umoci skopeo zstd`);
    }
    dir = await mkdtemp(join(tmpdir(), 'imgfs-conformance-'));
    try {
      await execFileAsync('bash', [BUILD_SCRIPT, dir], { maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      const stderr = (error as { stderr?: unknown }).stderr;
      throw new Error(`build-images.sh failed:\n${typeof stderr === 'string' ? stderr : String(error)}`);
    }
    const rootfs = join(dir, 'ref', 'rootfs');
    withXattrs = onPath('python3');
    if (!withXattrs) console.info('conformance: python3 not found (Node cannot read xattrs), xattrs are not compared');
    reference = await snapshotDirectory(rootfs, { xattrs: withXattrs });
    const explicit = await explicitDirectories(join(dir, 'oci'), 'conf');
    implicitDirs = new Set(
      [...reference.entries.values()].filter((e) => e.type === 'dir' && !explicit.has(e.path)).map((e) => e.path),
    );
  }, 240_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('builds a reference that holds what the comparison relies on', () => {
    const entries = reference.entries;
    expect(entries.size).toBeGreaterThan(300);
    const expectations: Array<[string, Partial<Record<string, unknown>>]> = [
      ['/srv/big/blob.bin', { type: 'file', size: 3 * 1024 * 1024 }],
      ['/srv/links/escape', { type: 'symlink', target: '../../../etc/passwd' }],
      ['/srv/app/fifo', { type: 'fifo' }],
      ['/srv/app/owned.txt', { uid: 101, gid: 101 }],
      ['/srv/raw/subsec.txt', { mtimeMs: 1_700_000_000_123 }],
      ['/srv/raw/hl-lower', { linkGroup: '/srv/links/lowtarget.txt' }],
      ['/srv/wh/x', { type: 'file' }],
    ];
    for (const [path, fields] of expectations) expect(entries.get(path), path).toMatchObject(fields);
    for (const path of ['/srv/opaque/old1.txt', '/srv/wh/z', '/srv/app/olddir/a.txt', '/usr/share/zoneinfo/right']) {
      expect(entries.has(path), `${path} is deleted`).toBe(false);
    }
    expect(implicitDirs.has('/srv/raw/deep/no/parents')).toBe(true);
    for (const departure of KNOWN_DEPARTURES) {
      for (const { path, umoci } of departure.expect) {
        expect(unmet(entries.get(path), umoci), `umoci side of ${departure.name} at ${path}`).toBeUndefined();
      }
    }
    if (withXattrs) expect(entries.get('/srv/raw/xattr.txt')?.xattrs).toEqual({ 'user.test': Buffer.from('hello').toString('base64') });
  });

  describe.each(EXPORTS)('$name', (exp) => {
    let snapshot: TreeSnapshot;
    let compressions: Array<Compression | TocFormat> = [];
    const warnings: string[] = [];
    let registry: RunningRegistry | undefined;

    afterAll(async () => {
      await registry?.stop();
    });

    beforeAll(async () => {
      let location = join(dir, exp.source);
      if (exp.registry === true) {
        registry = await startRegistry();
        await pushImage(`oci:${location}:${exp.ref ?? ''}`, registry.host, 'conformance:latest');
        location = `docker://${registry.host}/conformance:latest`;
      }
      const image = await openImage(location, {
        cache: false,
        onWarning: (warning) => warnings.push(warning.message),
        ...(exp.ref && exp.registry !== true ? { ref: exp.ref } : {}),
      });
      try {
        compressions = image.layers.map((layer) => layer.compression);
        snapshot = await snapshotImage(image, { xattrs: withXattrs });
      } finally {
        await image.close();
      }
    }, 120_000);

    it(`has ${LAYER_COUNT} layers, compression detected`, () => {
      expect(compressions).toEqual(Array.from({ length: LAYER_COUNT }, () => exp.compression));
    });

    it('walks in pre-order with children sorted by name bytes', () => {
      expect(checkWalkOrder(snapshot.order)).toBeUndefined();
    });

    it("matches umoci's rootfs", () => {
      const differences = compareTrees(reference, snapshot, {
        implicitDirs,
        excluded: KNOWN_DEPARTURES.flatMap((departure) => departure.excluded),
      });
      expect(differences.length, formatDifferences(differences)).toBe(0);
    });

    it.each(KNOWN_DEPARTURES)('departs from umoci only as documented: $name ($rule)', (departure) => {
      for (const { path, imgfs } of departure.expect) {
        expect(unmet(snapshot.entries.get(path), imgfs), `imgfs at ${path}`).toBeUndefined();
      }
      const words = departure.imgfsWarning;
      if (words) {
        expect(warnings.some((w) => words.every((word) => w.includes(word))), `a warning naming ${words.join(' and ')}; got ${JSON.stringify(warnings)}`).toBe(true);
      }
    });
  });
});
