/**
 * The built CLI's usage errors, unreadable images, help and version: exit status 2 with one line on
 * stderr (a stack only with IMGFS_DEBUG=1), and nothing on stdout.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imgfs, repoRoot, type CliResult } from './run-cli.js';
import { writeSpecialImage } from './special-image.js';

let dir: string;
let demo: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'imgfs-cli-errors-'));
  demo = join(dir, 'demo.tar');
  execFileSync(process.execPath, [join(repoRoot, 'fixtures/make-demo.js'), demo]);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Exit 2, nothing on stdout, exactly one line on stderr; returns that line. */
function failsWithOneLine(result: CliResult): string {
  expect(result.stdout).toBe('');
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/^imgfs: [^\n]+\n$/);
  return result.stderr.trimEnd();
}

describe('usage errors (exit 2)', () => {
  it.each([
    [[], "imgfs: missing COMMAND (see 'imgfs --help')"],
    [['frob', 'x'], "imgfs: unknown command 'frob' (see 'imgfs --help')"],
    [['ls'], "imgfs: ls: missing IMAGE (see 'imgfs ls --help')"],
    [['ls', '-x', 'img'], "imgfs: ls: unknown option '-x' (see 'imgfs ls --help')"],
    [['ls', '--bogus', 'img'], "imgfs: ls: unknown option '--bogus' (see 'imgfs ls --help')"],
    [['--no-cache', 'find', '--name'], "imgfs: find: option '--name' requires an argument (see 'imgfs find --help')"],
    [['--no-cache', '--ref'], "imgfs: option '--ref' requires an argument (see 'imgfs --help')"],
    [['readlink', 'img'], "imgfs: readlink: missing PATH (see 'imgfs readlink --help')"],
    [['history', 'img'], "imgfs: history: missing PATH (see 'imgfs history --help')"],
    [['layers', 'img', '/etc'], "imgfs: layers: unexpected operand '/etc' (see 'imgfs layers --help')"],
    [['diff', '--layer', 'x', '__DEMO__'], "imgfs: diff: --layer: 'x' is not a layer index (0 to 3) (see 'imgfs diff --help')"],
  ])('imgfs %j', async (args, message) => {
    const result = await imgfs(args.map((arg) => (arg === '__DEMO__' ? demo : arg)));
    expect(failsWithOneLine(result)).toBe(message);
  });
});

describe('images that cannot be read (exit 2, one line)', () => {
  it('a missing file', async () => {
    expect(failsWithOneLine(await imgfs(['ls', join(dir, 'nope.tar')]))).toBe(`imgfs: ${join(dir, 'nope.tar')}: No such file or directory`);
  });

  it('a file that is no image', async () => {
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'hello\n');
    expect(failsWithOneLine(await imgfs(['ls', text]))).toMatch(new RegExp(`^imgfs: ${escape(text)}: E[A-Z]+: `));
  });

  it('an empty directory', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(failsWithOneLine(await imgfs(['find', empty]))).toMatch(new RegExp(`^imgfs: ${escape(empty)}: EIMGFORMAT: `));
  });

  it('a truncated archive', async () => {
    const cut = join(dir, 'cut.tar');
    writeFileSync(cut, readFileSync(demo).subarray(0, 30_000));
    expect(failsWithOneLine(await imgfs(['ls', cut]))).toMatch(new RegExp(`^imgfs: ${escape(cut)}: ETRUNCATED: `));
  });

  it('a layer whose bytes turn out corrupt while a command reads them', async () => {
    // Index a gzip OCI archive into a cache, then damage the big layer: opening still works (the
    // index comes from the cache) and the damage shows only when cat decompresses the file.
    const source = (await writeSpecialImage(join(dir, 'corrupt'), { format: 'oci-archive', compression: 'gzip' })) as string;
    const cache = join(dir, 'corrupt-cache');
    expect((await imgfs(['ls', '--cache-dir', cache, source])).code).toBe(0);
    damageLargestBlob(source);
    const result = await imgfs(['cat', '--cache-dir', cache, source, '/big.bin']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`^imgfs: ${escape(source)}: ECOMPRESSION: [^\\n]+\\n$`));
  });

  it('prints no stack trace unless IMGFS_DEBUG=1', async () => {
    const text = join(dir, 'notes2.txt');
    writeFileSync(text, 'hello\n');
    expect((await imgfs(['ls', text])).stderr).not.toContain('    at ');
    const debug = await imgfs(['ls', text], { IMGFS_DEBUG: '1' });
    expect(debug.code).toBe(2);
    expect(debug.stderr.split('\n')[0]).toMatch(new RegExp(`^imgfs: ${escape(text)}: E[A-Z]+: `));
    expect(debug.stderr).toMatch(/\n {4}at /);
  });
});

describe('help and version', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(await imgfs(['--version'])).toMatchObject({ code: 0, stdout: `imgfs ${version}\n`, stderr: '' });
    expect((await imgfs(['ls', '--version'])).stdout).toBe(`imgfs ${version}\n`);
  });

  it('--help lists every command and the global options', async () => {
    const result = await imgfs(['--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^Usage: imgfs COMMAND \[options\] IMAGE \[PATH\.\.\.\]\n/);
    for (const command of ['ls', 'cat', 'stat', 'readlink', 'realpath', 'find', 'layers', 'history', 'diff', 'export']) {
      expect(result.stdout).toMatch(new RegExp(`\\n  ${command} +\\S`));
    }
    for (const option of ['--ref', '--platform', '--no-cache', '--cache-dir', '--quiet', '--help', '--version']) {
      expect(result.stdout).toContain(option);
    }
  });

  it.each(['ls', 'cat', 'stat', 'readlink', 'realpath', 'find', 'layers', 'history', 'diff', 'export'])(
    '%s --help, without opening any image',
    async (command) => {
      const result = await imgfs([command, '--help', '/no/such/image']);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout.startsWith(`Usage: imgfs ${command} `)).toBe(true);
      expect(result.stdout).toContain('Global options:');
      expect((await imgfs(['help', command])).stdout).toBe(result.stdout);
    },
  );

  it('ls --help names every ls option', async () => {
    const { stdout } = await imgfs(['ls', '--help']);
    for (const option of ['-l', '-a', '-R', '-d', '-n', '--json']) expect(stdout).toContain(option);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Flips 200 bytes in the middle of the largest gzip blob of an OCI archive. */
function damageLargestBlob(archive: string): void {
  const listing = execFileSync('tar', ['-tvf', archive]).toString().trim().split('\n');
  let largest = { name: '', size: 0 };
  for (const line of listing) {
    const fields = line.split(/\s+/);
    const size = Number(fields[2]);
    const name = fields[fields.length - 1] ?? '';
    if (name.startsWith('blobs/') && size > largest.size) largest = { name, size };
  }
  // Find the member's data offset by locating its header name in the archive.
  const bytes = readFileSync(archive);
  const headerAt = bytes.indexOf(Buffer.from(`${largest.name}\0`));
  expect(headerAt).toBeGreaterThanOrEqual(0);
  const at = headerAt + 512 + Math.floor(largest.size / 2);
  const fd = openSync(archive, 'r+');
  try {
    const chunk = Buffer.alloc(200);
    readSync(fd, chunk, 0, chunk.length, at);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (chunk[i] ?? 0) ^ 0x5a;
    writeSync(fd, chunk, 0, chunk.length, at);
  } finally {
    closeSync(fd);
  }
}

describe('--limit', () => {
  it('lowers a safety limit, so a layer over it is ELIMIT with exit 2 and one line naming the option', async () => {
    const result = await imgfs(['ls', '--limit', 'maxEntries=3', '--no-cache', demo, '/']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/ELIMIT: .*more than 3 .*maxEntries/);
  });

  it('raises one (inf turns it off) and still answers', async () => {
    const result = await imgfs(['ls', '--limit', 'maxRatio=inf', '--limit', 'maxEntries=100000', '--no-cache', demo, '/etc']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('passwd');
  });

  it('refuses unknown names and bad values as usage errors', async () => {
    for (const bad of ['maxFoo=3', 'maxEntries=0', 'maxEntries=-1', 'maxEntries', 'maxEntries=3=4', 'maxEntries=lots']) {
      const result = await imgfs(['ls', '--limit', bad, demo, '/']);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^imgfs: ls: --limit: /);
    }
  });
});
