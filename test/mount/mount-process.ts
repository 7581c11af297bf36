/**
 * Runs `imgfs mount` as a real foreground process for the mount tests, waits for it to say the mount
 * is ready (the readiness pipe `--daemon` uses, IMGFS_MOUNT_READY_FD), and always takes it down
 * again: `fusermount3 -u`, then `umount -l` as a last resort, so a failing test leaves no stale mount
 * behind.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { READY_FD_VARIABLE } from '../../lib/mount/daemon.js';
import { bin, cliEnv, repoRoot } from '../cli/run-cli.js';

const execFileAsync = promisify(execFile);
const READY_TIMEOUT_MS = 30_000;
const POLL_MS = 20;

export interface MountProcess {
  dir: string;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves once stderr holds `text` (on the process's own output, not by polling). */
  stderrIncludes(text: string): Promise<void>;
  /** Resolves with the exit status (null when killed by a signal). */
  exited: Promise<number | null>;
}

/** Whether the kernel lists `dir` as a mount point (the field after the root in mountinfo). */
export function isMounted(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === dir);
}

/** The per-mount options the kernel lists for `dir` (e.g. `ro`, `nosuid`), empty when not mounted. */
export function mountOptions(dir: string): string[] {
  const line = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((candidate) => candidate.split(' ')[4] === dir);
  return line === undefined ? [] : (line.split(' ')[5] ?? '').split(',');
}

/**
 * A bounded poll, for the one wait with no event to listen to: the end of a detached background
 * process that is not this test's child (`--daemon`). Everything else waits on the process's own
 * output (startMount, stderrIncludes).
 */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * `imgfs mount --no-cache ARGS... IMAGE DIR` in the foreground; resolves once it says DIR is mounted.
 * `env` is added to its environment (`DEBUG=fuse-napi` has libfuse log every request to stderr).
 * `cli` is the `bin/imgfs.js` to run: the project's, or an installation's (prebuilt-install.ts).
 */
export async function startMount(
  image: string,
  dir: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
  cli: string = bin,
): Promise<MountProcess> {
  const child = spawn(process.execPath, [cli, 'mount', '--no-cache', ...args, image, dir], {
    cwd: repoRoot,
    env: { ...cliEnv(), ...env, [READY_FD_VARIABLE]: '3' },
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const watchers: Array<{ text: string; found: () => void }> = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const watcher of watchers.filter(({ text }) => stderr.includes(text))) {
      watchers.splice(watchers.indexOf(watcher), 1);
      watcher.found();
    }
  });
  const stderrIncludes = (text: string): Promise<void> =>
    stderr.includes(text) ? Promise.resolve() : new Promise((found) => watchers.push({ text, found }));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const handle: MountProcess = { dir, child, stderr: () => stderr, stderrIncludes, exited };
  const readiness = child.stdio[3] as Readable;
  let said = '';
  const ready = new Promise<void>((resolve, reject) => {
    readiness.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      if (said.includes('ready')) resolve();
    });
    void exited.then((code) => reject(new Error(`imgfs mount exited with ${String(code)} before mounting:\n${stderr}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  const tooLong = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${dir} to be mounted:\n${stderr}`)), READY_TIMEOUT_MS);
  });
  try {
    await Promise.race([ready, tooLong]);
  } catch (error) {
    await stopMount(handle);
    throw error;
  } finally {
    clearTimeout(timer);
    readiness.destroy();
  }
  return handle;
}

/** Unmounts (if still mounted) and ends the process; safe to call twice. */
export async function stopMount(mount: MountProcess): Promise<void> {
  if (isMounted(mount.dir)) await execFileAsync('fusermount3', ['-u', '-z', mount.dir]).catch(() => undefined);
  if (isMounted(mount.dir)) await execFileAsync('umount', ['-l', mount.dir]).catch(() => undefined);
  if (mount.child.exitCode === null && mount.child.signalCode === null) {
    mount.child.kill('SIGKILL');
    await mount.exited;
  }
}

/** What a bash command that must fail wrote to stderr, or `succeeded` when it did not fail. */
export function stderrOfFailure(command: string): Promise<string> {
  return execFileAsync('bash', ['-c', command]).then(
    () => 'succeeded',
    (error: { stderr?: string }) => error.stderr ?? '',
  );
}

/**
 * Eight `sha256sum` readers at once over every file under `dir`; resolves once they are busy (the
 * first checksum is out), with a promise of their end.
 */
export async function startBusyReaders(dir: string): Promise<{ done: Promise<void> }> {
  const readers = spawn('bash', ['-c', `find '${dir}' -type f -print0 | xargs -0 -P8 -n1 sha256sum`], { stdio: ['ignore', 'pipe', 'ignore'] });
  const done = new Promise<void>((resolve) => readers.on('exit', () => resolve()));
  await new Promise<void>((resolve) => readers.stdout.once('data', () => resolve()));
  readers.stdout.resume();
  return { done };
}

/** Why the mount tests cannot run here, or an empty list. */
export async function missingForMount(tools: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  if (!existsSync('/dev/fuse')) missing.push('/dev/fuse');
  try {
    await import('fuse-napi' as string);
  } catch {
    missing.push('the fuse-napi binding (npm ci under Node 22, 24 or 26)');
  }
  for (const tool of ['fusermount3', ...tools]) {
    try {
      await execFileAsync('sh', ['-c', `command -v ${tool}`]);
    } catch {
      missing.push(tool);
    }
  }
  return missing;
}

/**
 * Whether the binding was built by bin/build-fuse-binding.sh (npm run build:fuse), which sets
 * libfuse's use_ino and passes names as bytes: only then do hard links show as one inode and names that
 * are not UTF-8 keep their bytes. The package's prebuilds do neither.
 */
export function bindingBuiltForImgfs(): boolean {
  return existsSync(`${repoRoot}/node_modules/fuse-napi/build/Release/imgfs-build.json`);
}

/** Skips loudly outside CI; in CI (CI=true) a missing piece fails the suite instead. */
export function reportMissing(name: string, missing: readonly string[]): boolean {
  if (missing.length === 0) return false;
  if (process.env.CI === 'true') return false;
  const bar = '!'.repeat(100);
  console.warn(`\n${bar}\n!! ${name} SKIPPED: missing ${missing.join(', ')}. In CI (CI=true) this is a failure.\n${bar}\n`);
  return true;
}
