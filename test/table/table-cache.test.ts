import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openImage, type ImageFS } from '../../lib/index.js';
import { buildLayer, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { SNAPSHOT_FORMAT_VERSION } from '../../lib/table/snapshot-codec.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'imgfs-cache-'));
  dirs.push(dir);
  return dir;
}

const lower: LayerEntrySpec[] = [
  { type: 'dir', name: 'etc', mode: 0o755 },
  { type: 'file', name: 'etc/hostname', content: 'base\n', uid: 101, gid: 101, uname: 'nginx', gname: 'nginx' },
  { type: 'file', name: 'etc/attr', content: 'x', xattrs: { 'user.note': 'hello' } },
  { type: 'symlink', name: 'etc/link', target: '/etc/hostname' },
  { type: 'file', name: 'gone', content: 'soon deleted' },
];
const upper: LayerEntrySpec[] = [
  { type: 'file', name: '.wh.gone' },
  { type: 'hardlink', name: 'etc/hard', target: 'etc/hostname' },
];

function writeLayers(dir: string, layers: LayerEntrySpec[][]): string[] {
  return layers.map((specs, i) => {
    const path = join(dir, `l${i}.tar`);
    writeFileSync(path, buildLayer(specs));
    return path;
  });
}

/** Everything an answer depends on, so a cached index must reproduce it exactly. */
async function describeImage(fs: ImageFS): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const { path, stats } of fs.walk('/')) {
    out.push([path, stats.mode, stats.uid, stats.uname, stats.size, stats.mtimeMs, stats.nlink, stats.target, stats.layer, stats.xattrs]);
    if (stats.isFile()) out.push(await fs.readFile(path, 'utf8'));
  }
  return out;
}

async function open(paths: string[], cache: string): Promise<{ fs: ImageFS; warnings: string[] }> {
  const warnings: string[] = [];
  const fs = await openImage(paths, { cache, onWarning: (w) => warnings.push(w.message) });
  return { fs, warnings };
}

function cacheFiles(cache: string): string[] {
  try {
    const dir = join(cache, `v${SNAPSHOT_FORMAT_VERSION}`);
    return readdirSync(dir).map((name) => join(dir, name));
  } catch {
    return [];
  }
}

describe('index cache', () => {
  it('stores one file per layer on a miss and gives identical answers on a hit', async () => {
    const dir = tempDir();
    const cache = tempDir();
    const paths = writeLayers(dir, [lower, upper]);
    const cold = await open(paths, cache);
    const expected = await describeImage(cold.fs);
    await cold.fs.close();
    expect(cacheFiles(cache)).toHaveLength(2);
    const stamps = cacheFiles(cache).map((file) => readFileSync(file));
    const warm = await open(paths, cache);
    expect(await describeImage(warm.fs)).toEqual(expected);
    await warm.fs.close();
    expect(warm.warnings).toEqual([]);
    // A hit reads the cache; it does not rewrite it.
    expect(cacheFiles(cache).map((file) => readFileSync(file))).toEqual(stamps);
  });

  it('rebuilds a corrupt entry (one flipped byte) with a warning and still answers correctly', async () => {
    const dir = tempDir();
    const cache = tempDir();
    const paths = writeLayers(dir, [lower, upper]);
    const first = await open(paths, cache);
    const expected = await describeImage(first.fs);
    await first.fs.close();
    for (const file of cacheFiles(cache)) {
      const bytes = readFileSync(file);
      bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0x40;
      writeFileSync(file, bytes);
    }
    const second = await open(paths, cache);
    expect(await describeImage(second.fs)).toEqual(expected);
    await second.fs.close();
    expect(second.warnings.filter((m) => /unusable \(checksum mismatch\); rebuilding/.test(m))).toHaveLength(2);
    const third = await open(paths, cache);
    await third.fs.close();
    expect(third.warnings).toEqual([]);
  });

  it('rebuilds an intact index of another format version (another layout), with a warning', async () => {
    // Regression: indexes written before the columns were sorted carried the same format version, and
    // binary searches over them answered ENOENT for files that exist. A layout change bumps the
    // version, and a file of another version is never read as this one.
    const dir = tempDir();
    const cache = tempDir();
    const paths = writeLayers(dir, [lower]);
    const first = await open(paths, cache);
    const expected = await describeImage(first.fs);
    await first.fs.close();
    const [file] = cacheFiles(cache) as [string];
    const older = readFileSync(file);
    older.writeUInt32LE(SNAPSHOT_FORMAT_VERSION - 1, 8);
    writeFileSync(file, older);
    const second = await open(paths, cache);
    expect(await describeImage(second.fs)).toEqual(expected);
    await second.fs.close();
    expect(second.warnings.some((m) => new RegExp(`unusable \\(index format ${SNAPSHOT_FORMAT_VERSION - 1}, expected ${SNAPSHOT_FORMAT_VERSION}\\); rebuilding`).test(m))).toBe(true);
  });

  it('treats a replaced layer file (no digest) as a miss, never serving the stale index', async () => {
    const dir = tempDir();
    const cache = tempDir();
    const [path] = writeLayers(dir, [lower]) as [string];
    const first = await open([path], cache);
    expect(await first.fs.readFile('/etc/hostname', 'utf8')).toBe('base\n');
    await first.fs.close();
    writeFileSync(path, buildLayer([{ type: 'file', name: 'etc/hostname', content: 'replaced, longer\n' }]));
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    const second = await open([path], cache);
    expect(await second.fs.readFile('/etc/hostname', 'utf8')).toBe('replaced, longer\n');
    expect(await second.fs.exists('/etc/link')).toBe(false);
    await second.fs.close();
  });

  it('survives concurrent openers of one cache', async () => {
    const dir = tempDir();
    const cache = tempDir();
    const paths = writeLayers(dir, [lower, upper]);
    const reference = await openImage(paths, { cache: false });
    const expected = await describeImage(reference);
    await reference.close();
    const opened = await Promise.all(Array.from({ length: 8 }, () => open(paths, cache)));
    for (const { fs, warnings } of opened) {
      expect(await describeImage(fs)).toEqual(expected);
      expect(warnings).toEqual([]);
      await fs.close();
    }
    expect(cacheFiles(cache).filter((file) => file.endsWith('.tmp'))).toEqual([]);
    expect(cacheFiles(cache)).toHaveLength(2);
  });

  it('writes nothing with cache: false', async () => {
    const dir = tempDir();
    const cache = tempDir();
    const paths = writeLayers(dir, [lower]);
    const fs = await openImage(paths, { cache: false });
    await fs.close();
    expect(readdirSync(cache)).toEqual([]);
  });
});
