import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** A scratch directory for archives made by the real GNU tar; `remove()` in afterAll. */
export function scratchDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'imgfs-tar-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs GNU tar in `cwd` to create `out` (relative to `cwd`, or absolute) from `members`; returns its bytes. */
export function gnuTar(cwd: string, out: string, args: string[], members: string[]): Buffer {
  execFileSync('tar', ['-cf', out, ...args, '--', ...members], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  return readFileSync(resolve(cwd, out));
}

/** Sets a (nanosecond) mtime on a path without following symlinks. */
export function touch(path: string, seconds: string): void {
  execFileSync('touch', ['-h', '-d', `@${seconds}`, path]);
}

/** Runs a command, reporting whether it worked (mknod needs root; xattrs need python3 and fs support). */
export function tryRun(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
