/**
 * vitest globalSetup: builds dist/ once for the whole run, before any test file starts, when it is
 * missing or older than a source under lib/ (the CLI tests run dist/imgfs-cli.js through bin/imgfs.js;
 * the table tests load dist/table/plain-member-kernel.wasm).
 * One build per run, in one process: no test file builds, and none waits for another.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export default function buildDist(): void {
  if (!isStale()) return;
  const build = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, encoding: 'utf8' });
  // tsc still emits when some other file has a type error; only a missing or stale CLI is fatal here.
  if (build.status !== 0 && isStale()) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
}

function isStale(): boolean {
  let built: number;
  try {
    // The CLI, and the plain-member lane's WebAssembly kernel that the table tests load from dist/.
    built = Math.min(statSync(join(repoRoot, 'dist/imgfs-cli.js')).mtimeMs, statSync(join(repoRoot, 'dist/table/plain-member-kernel.wasm')).mtimeMs);
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
