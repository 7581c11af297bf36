/**
 * The build's V8 code cache of the CLI bundle (dist/imgfs-cli-<node>-<arch>.v8, written by
 * bin/train-code-cache.js): used by runs that keep no cache of the user's (--no-cache), written by no
 * run, ignored when V8 refuses it. Checked on a copy of the program in a scratch directory, trained by
 * the Node running the tests (the shared dist/ may have been built by another Node). V8's
 * --profile-deserialization (which V8 leaves out of the flag hash a cache is checked against) prints
 * each code cache it deserializes with its size, or why it refused one.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, repoRoot } from './run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'imgfs-built-code-cache-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const install = join(scratch, 'install');
const builtCache = join(install, 'dist', `imgfs-cli-${process.version}-${process.arch}.v8`);
const xdg = join(scratch, 'xdg');

/** `node [--profile-deserialization] install/bin/imgfs.js ARGS`, synchronously; stdout holds V8's lines too. */
function imgfs(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--profile-deserialization', join(install, 'bin/imgfs.js'), ...args], {
    env: cliEnv({ XDG_CACHE_HOME: xdg }),
    encoding: 'utf8',
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const deserialized = (stdout: string, bytes: number): boolean => stdout.includes(`[Deserializing from ${bytes} bytes`);

/** The cache file as it is now: its size, digest and mtime (not its bytes: a diff of those would not end). */
function snapshot(file: string): { size: number; sha256: string; mtimeMs: number } {
  const bytes = readFileSync(file);
  return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), mtimeMs: statSync(file).mtimeMs };
}

beforeAll(() => {
  // The installed program's layout: bin/, dist/ with the bundle, and the packages the bundle requires.
  for (const file of ['bin/imgfs.js', 'bin/train-code-cache.js', 'dist/imgfs-cli.js', 'fixtures/demo/demo.tar']) {
    mkdirSync(join(install, file, '..'), { recursive: true });
    copyFileSync(join(repoRoot, file), join(install, file));
  }
  symlinkSync(join(repoRoot, 'node_modules'), join(install, 'node_modules'));
  mkdirSync(xdg, { mode: 0o700 });
  const train = spawnSync(process.execPath, [join(install, 'bin/train-code-cache.js')], { encoding: 'utf8' });
  expect(train.stderr).toBe('');
  expect(train.status).toBe(0);
}, 60_000);

describe('the build code cache', () => {
  it('is made by training runs: it holds what they compiled, not only the top level', () => {
    // What V8 compiles before anything runs (the top level and what it compiles eagerly) makes a cache
    // of ~210 KB; the training runs add what they ran: ~530 KB in all (one cold `cat`: ~400 KB).
    const topLevelOnly = spawnSync(process.execPath, ['-e', `
      const source = require('fs').readFileSync(process.argv[1], 'utf8');
      process.stdout.write(String(new (require('vm').Script)(source).createCachedData().length));`, join(install, 'dist/imgfs-cli.js')], { encoding: 'utf8' });
    expect(Number(topLevelOnly.stdout)).toBeGreaterThan(0);
    expect(statSync(builtCache).size).toBeGreaterThan(2 * Number(topLevelOnly.stdout));
    // Nothing of the training is left anywhere but in dist/.
    expect(readdirSync(join(install, 'dist')).sort()).toEqual(['imgfs-cli.js', `imgfs-cli-${process.version}-${process.arch}.v8`].sort());
  });

  it('is used by a --no-cache run, which writes nothing: not the cache, not anything in the cache directory', () => {
    const before = snapshot(builtCache);
    const result = imgfs(['cat', '--no-cache', 'fixtures/demo/demo.tar', '/etc/os-release']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ID=');
    expect(result.stdout).not.toContain('Cached code failed check');
    expect(deserialized(result.stdout, before.size)).toBe(true);
    expect(snapshot(builtCache)).toEqual(before);
    expect(readdirSync(xdg)).toEqual([]);
  });

  it("is not used by a run that keeps the user's code cache, which holds only what the user's runs compiled", () => {
    const cacheDir = join(scratch, 'own');
    mkdirSync(cacheDir, { mode: 0o700 });
    const built = statSync(builtCache).size;
    const first = imgfs(['cat', '--cache-dir', cacheDir, 'fixtures/demo/demo.tar', '/etc/os-release']);
    expect(first.code).toBe(0);
    expect(deserialized(first.stdout, built)).toBe(false);
    const [written] = readdirSync(join(cacheDir, 'compile'));
    const writtenSize = statSync(join(cacheDir, 'compile', written ?? '')).size;
    const second = imgfs(['cat', '--cache-dir', cacheDir, 'fixtures/demo/demo.tar', '/etc/os-release']);
    expect(second.code).toBe(0);
    expect(deserialized(second.stdout, writtenSize)).toBe(true);
  });

  it('is ignored when the bundle is newer (rebuilt without training: V8 would take a cache of the same length)', () => {
    const bundle = join(install, 'dist/imgfs-cli.js');
    const { atime, mtime } = statSync(bundle);
    try {
      const later = new Date(statSync(builtCache).mtimeMs + 1000);
      utimesSync(bundle, later, later);
      const result = imgfs(['cat', '--no-cache', 'fixtures/demo/demo.tar', '/etc/os-release']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('ID=');
      expect(deserialized(result.stdout, statSync(builtCache).size)).toBe(false);
    } finally {
      utimesSync(bundle, atime, mtime);
    }
  });

  it('is ignored, and left as it is, when V8 refuses it', () => {
    const good = readFileSync(builtCache);
    try {
      // V8 checks a cache's header (version, source length, flags, payload length): a payload cut short fails.
      writeFileSync(builtCache, good.subarray(0, good.length >> 1));
      const before = snapshot(builtCache);
      const result = imgfs(['cat', '--no-cache', 'fixtures/demo/demo.tar', '/etc/os-release']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('ID=');
      expect(result.stdout).toContain('Cached code failed check');
      expect(snapshot(builtCache)).toEqual(before);
    } finally {
      writeFileSync(builtCache, good);
    }
  });
});
