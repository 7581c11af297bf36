/**
 * Runs the built CLI (`node bin/imgfs.js …`) as a child process and collects what it printed.
 * `npm test` builds before vitest runs; when the tests are run alone, `ensureBuilt` rebuilds dist/
 * if any source under lib/ is newer than it (one build at a time, across test files).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const bin = join(repoRoot, 'bin/imgfs.js');

export interface CliResult {
  /** Exit status; null when killed by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout as bytes, for binary output (cat, export). */
  raw: Buffer;
}

/** The environment every run gets: UTC dates, no debug stacks, no index cache in $HOME. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', ...extra };
  if (extra.IMGFS_DEBUG === undefined) delete env.IMGFS_DEBUG;
  return env;
}

/** `imgfs ARGS...`, `--no-cache` added unless the args say otherwise about the cache. */
export function imgfs(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  const cacheSaid = args.some((arg) => arg === '--no-cache' || arg.startsWith('--cache-dir'));
  return run(process.execPath, [bin, ...args, ...(cacheSaid ? [] : ['--no-cache'])], env);
}

/** A bash script (with `set -o pipefail`), for pipelines such as `imgfs cat … | head -c 10`. */
export function sh(script: string, env: Record<string, string> = {}): Promise<CliResult> {
  return run('bash', ['-c', `set -o pipefail\n${script}`], { IMGFS: `${process.execPath} ${bin}`, ...env });
}

function run(command: string, args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const raw = Buffer.concat(out);
      resolvePromise({ code, raw, stdout: raw.toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Rebuilds dist/ when it is missing or older than a source file under lib/. */
export function ensureBuilt(): void {
  if (!isStale()) return;
  const lock = join(repoRoot, 'dist.build-lock');
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another test file is building; wait for it, then check again.
      if (Date.now() > deadline) throw new Error(`${lock} is held for too long; remove it if no build runs`);
      spawnSync('sleep', ['0.2']);
      if (!isStale()) return;
    }
  }
  try {
    if (!isStale()) return;
    const build = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, encoding: 'utf8' });
    // tsc still emits when some other file has a type error; only a missing CLI is fatal here.
    if (build.status !== 0 && isStale()) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
  } finally {
    rmdirSync(lock);
  }
}

function isStale(): boolean {
  let built: number;
  try {
    built = statSync(join(repoRoot, 'dist/imgfs-cli.js')).mtimeMs;
  } catch {
    return true;
  }
  return newestSource(join(repoRoot, 'lib')) > built;
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Runs the CLI and asserts success (exit 0, nothing on stderr); returns stdout. */
export async function ok(args: readonly string[]): Promise<string> {
  const result = await imgfs(args);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout;
}
