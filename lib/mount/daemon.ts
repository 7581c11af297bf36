/**
 * `imgfs mount --daemon`: the command starts itself again in the background, in the foreground
 * mode, and returns once that process says the mount is ready, or with its status and messages when
 * it fails before that. Readiness travels over an extra pipe (fd 3) named in the environment, so the
 * background process needs no other arguments than the ones the user gave.
 */
import { closeSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

/** Set in the environment of the background process: the fd to report readiness on. */
export const READY_FD_VARIABLE = 'IMGFS_MOUNT_READY_FD';
const READY = 'ready\n';

export interface DaemonResult {
  /** 0 once the background mount is ready, else the status the background process exited with. */
  status: number;
}

/**
 * Starts `node SCRIPT ARGS` detached, relaying its stderr to `stderr` until it is ready or has
 * exited. `args` are the user's arguments without the daemon flag.
 */
export async function startDaemon(script: string, args: readonly string[], stderr: Writable): Promise<DaemonResult> {
  // Loaded here, not at start-up: node:child_process costs every command ~5 ms to load.
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [script, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, [READY_FD_VARIABLE]: '3' },
  });
  return new Promise((resolve) => {
    let settled = false;
    const settle = (status: number): void => {
      if (settled) return;
      settled = true;
      // From here on the background process is on its own: later warnings go nowhere.
      child.stderr?.destroy();
      child.stdio[3]?.destroy();
      child.unref();
      resolve({ status });
    };
    child.stderr?.on('data', (chunk: Buffer) => stderr.write(chunk));
    const ready = child.stdio[3];
    let said = '';
    ready?.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      if (said.includes(READY)) settle(0);
    });
    child.on('error', (error) => {
      stderr.write(`imgfs: mount: could not start the background process: ${error.message}\n`);
      settle(2);
    });
    child.on('exit', (code) => settle(code === 0 || code === null ? 2 : code));
  });
}

/** In the background process: tells the waiting parent that the mount is ready. */
export function reportReady(env: Record<string, string | undefined>): void {
  const fd = Number(env[READY_FD_VARIABLE]);
  if (!Number.isInteger(fd) || fd < 3) return;
  try {
    writeSync(fd, READY);
    closeSync(fd);
  } catch {
    // The parent is gone already; the mount serves regardless.
  }
}
