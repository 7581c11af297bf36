/**
 * The launcher keeps V8's compiled code for the CLI bundle in imgfs's own cache directory, and nowhere
 * else: not with --no-cache, not before that directory exists, not where others could write to it.
 * It is written after a run (so that it holds the functions the run compiled), at most twice per bundle.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, imgfs, repoRoot, sh } from './run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'imgfs-compile-cache-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const demo = 'fixtures/demo/demo.tar';

async function catTwice(args: string[], env: Record<string, string> = {}): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const result = await imgfs(['cat', ...args, demo, '/etc/os-release'], env);
    expect(result.code).toBe(0);
  }
}

describe.skipIf(typeof process.getuid !== 'function')('compile cache', () => {
  it('is kept under compile/ of the cache directory once that directory exists', async () => {
    const cache = join(scratch, 'own');
    mkdirSync(cache, { mode: 0o700 });
    await catTwice(['--cache-dir', cache]);
    expect(readdirSync(cache)).toContain('compile');
    expect(readdirSync(join(cache, 'compile'), { recursive: true }).length).toBeGreaterThan(0);
  });

  it('is written after a run (generation 1), once more by the first run that used it (2), then left alone; a rejected one is rewritten', async () => {
    const cache = join(scratch, 'generations');
    mkdirSync(cache, { mode: 0o700 });
    const files = (): string[] => readdirSync(join(cache, 'compile')).sort();
    const cat = async (): Promise<void> => {
      const result = await imgfs(['cat', '--cache-dir', cache, demo, '/etc/os-release']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('ID=');
    };
    // Named after Node and the bundle (its size and mtime).
    const built = statSync(join(repoRoot, 'dist/imgfs-cli.js'));
    const name = `imgfs-cli-${process.version}-${process.arch}-${built.size}-${Math.floor(built.mtimeMs)}`;
    await cat();
    expect(files()).toEqual([`${name}.1.v8`]);
    await cat();
    const second = `${name}.2.v8`;
    expect(files()).toEqual([second]);
    const written = statSync(join(cache, 'compile', second)).mtimeMs;
    const bytes = readFileSync(join(cache, 'compile', second));
    await cat();
    expect(statSync(join(cache, 'compile', second)).mtimeMs).toBe(written);
    // What V8 refuses (here: damaged) is not used; the run compiles afresh and writes generation 1 again.
    writeFileSync(join(cache, 'compile', second), bytes.subarray(0, 100));
    await cat();
    expect(files()).toEqual([`${name}.1.v8`]);
  });

  it('is accepted by the next start after a run that changed a V8 flag (a cold `find` tunes the young generation)', async () => {
    // V8 stamps a code cache with a hash of its flags and refuses it under other flags; a cache written
    // while --semi-space-growth-factor was changed was refused by every later start and rewritten at
    // generation 1 forever. Generation 2 is only written by a run that V8 let use generation 1.
    const cache = join(scratch, 'flags');
    mkdirSync(cache, { mode: 0o700 });
    for (let i = 0; i < 2; i++) {
      const result = await imgfs(['find', '--cache-dir', cache, demo, '/etc']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('/etc/os-release');
    }
    expect(readdirSync(join(cache, 'compile')).map((file) => file.slice(-5))).toEqual(['.2.v8']);
  });

  // A flag the user set on Node's command line is left as the user set it. Put back to V8's default
  // instead, it would differ from the next start's and V8 refuse the cache. Without Maglev a start has
  // TurboFan's threshold at 3 000, not the 10 000 a cold run would put back, so such a run leaves it alone.
  it.each([
    ['the young generation', '--semi-space-growth-factor=3', 'user-flag'],
    ['Maglev (TurboFan then starts at another threshold)', '--no-maglev', 'no-maglev'],
  ])("is accepted after a cold run when the user set %s on Node's command line", async (_what, flag, dir) => {
    const cache = join(scratch, dir);
    mkdirSync(cache, { mode: 0o700 });
    for (let i = 0; i < 2; i++) {
      const result = await sh(`'${process.execPath}' ${flag} '${bin}' find --cache-dir '${cache}' ${demo} /etc`);
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain('/etc/os-release');
    }
    expect(readdirSync(join(cache, 'compile')).map((file) => file.slice(-5))).toEqual(['.2.v8']);
  });

  it("removes other builds' caches not written for a week when it writes a new one", async () => {
    const cache = join(scratch, 'prune');
    mkdirSync(join(cache, 'compile'), { recursive: true, mode: 0o700 });
    const old = join(cache, 'compile', 'imgfs-cli-v0-x64-1-1.2.v8');
    const recent = join(cache, 'compile', 'imgfs-cli-v0-x64-2-2.2.v8');
    writeFileSync(old, 'x');
    writeFileSync(recent, 'x');
    const weekAgo = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    utimesSync(old, weekAgo, weekAgo);
    await catTwice(['--cache-dir', cache]);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(recent)).toBe(true);
  });

  it('is not written with --no-cache', async () => {
    const xdg = join(scratch, 'xdg');
    mkdirSync(xdg, { mode: 0o700 });
    await catTwice(['--no-cache'], { XDG_CACHE_HOME: xdg });
    expect(readdirSync(xdg)).toEqual([]);
  });

  it('is not kept in a cache directory that others can write to', async () => {
    const shared = join(scratch, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    await catTwice(['--cache-dir', shared]);
    expect(existsSync(join(shared, 'compile'))).toBe(false);
    // The index cache itself is still used there (its files are checked, never run).
    expect(readdirSync(shared).length).toBeGreaterThan(0);
  });
});
