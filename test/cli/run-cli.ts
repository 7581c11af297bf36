/**
 * Runs the built CLI (`node bin/imgfs.js …`) as a child process and collects what it printed. dist/ is
 * built once per run, before any test file starts, by vitest's globalSetup (test/build-dist.ts).
 */
import { spawn } from 'node:child_process';
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

/** Runs the CLI and asserts success (exit 0, nothing on stderr); returns stdout. */
export async function ok(args: readonly string[]): Promise<string> {
  const result = await imgfs(args);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout;
}
