/** `imgfs scan` against the demo image: the catalog equals the merged view's regular files, hashed. */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imgfs, repoRoot } from './run-cli.js';

let dir: string;
let demo: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'imgfs-cli-scan-'));
  demo = join(dir, 'demo.tar');
  execFileSync(process.execPath, [join(repoRoot, 'fixtures/make-demo.js'), demo]);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Row {
  path: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  layer: number;
  mime: string;
  sha256?: string;
}

const rows = (stdout: string): Row[] => stdout.trim().split('\n').map((line) => JSON.parse(line) as Row);

describe('imgfs scan', () => {
  it('lists every visible regular file once, hashed, with what find and cat say', async () => {
    const scanned = await imgfs(['scan', '--json', '--hash', 'sha256', '--no-cache', demo]);
    expect(scanned.stderr).toBe('');
    expect(scanned.code).toBe(0);
    const catalog = rows(scanned.stdout);
    const found = (await imgfs(['find', '--type', 'f', '--no-cache', demo])).stdout.trim().split('\n');
    expect(catalog.map((row) => row.path).sort()).toEqual(found.filter((path) => path !== '').sort());
    // Deleted, hidden and replaced files of the demo never appear (fixtures/README.md).
    for (const gone of ['/etc/motd', '/var/lib/apt/lists/old-index', '/srv/data']) {
      expect(catalog.map((row) => row.path)).not.toContain(gone);
    }
    for (const row of catalog) {
      const bytes = (await imgfs(["cat", "--no-cache", demo, row.path])).raw;
      expect(row.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(row.size).toBe(bytes.length);
    }
    const index = catalog.find((row) => row.path === '/usr/share/nginx/html/index.html');
    expect(index).toMatchObject({ uid: 101, gid: 101, layer: 1, mime: 'text/html' });
    expect(catalog.find((row) => row.path === '/usr/local/bin/entrypoint.sh')).toMatchObject({ mode: 0o755, layer: 3, mime: 'application/x-sh' });
    // Archive order: layer by layer from the bottom.
    const layers = catalog.map((row) => row.layer);
    expect(layers).toEqual([...layers].sort((a, b) => a - b));
  });

  it('filters with --include, --exclude and --max-size, and prints plain lines without --json', async () => {
    const etc = rows((await imgfs(['scan', '--json', '--include', '/etc/**', '--exclude', '*.conf', '--no-cache', demo])).stdout);
    expect(etc.map((row) => row.path).sort()).toEqual(['/etc/group', '/etc/os-release', '/etc/passwd']);
    expect(etc.every((row) => row.sha256 === undefined)).toBe(true);
    const small = rows((await imgfs(['scan', '--json', '--max-size', '40', '--no-cache', demo])).stdout);
    expect(small.length).toBeGreaterThan(0);
    expect(small.every((row) => row.size <= 40)).toBe(true);
    const plain = await imgfs(['scan', '--hash', 'sha256', '--include', '/etc/passwd', '--no-cache', demo]);
    expect(plain.stdout).toMatch(/^[0-9a-f]{64} {2}\d+ {2}0 {2}application\/octet-stream {2}\/etc\/passwd\n$/);
  });

  it('refuses an unknown hash algorithm as a usage error', async () => {
    const result = await imgfs(['scan', '--hash', 'crc32', demo]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^imgfs: scan: --hash: unsupported algorithm 'crc32'/);
  });
});
