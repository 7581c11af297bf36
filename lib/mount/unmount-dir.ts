/**
 * `imgfs umount DIR`: asks the system to unmount a FUSE mount, whoever made it. `fusermount3 -u`
 * works for the user who mounted; root may also use umount(8), which is tried when fusermount3 is
 * not installed.
 */

export interface UnmountResult {
  ok: boolean;
  /** The helper's own message when it failed (e.g. `… not found in /etc/mtab`). */
  message: string;
}

export async function unmountDir(dir: string, options: { lazy?: boolean } = {}): Promise<UnmountResult> {
  const lazy = options.lazy === true;
  const first = await run('fusermount3', lazy ? ['-u', '-z', '--', dir] : ['-u', '--', dir]);
  if (first.code !== 'ENOENT') return { ok: first.ok, message: first.message };
  const second = await run('umount', lazy ? ['-l', '--', dir] : ['--', dir]);
  return { ok: second.ok, message: second.code === 'ENOENT' ? 'neither fusermount3 nor umount is installed (apt-get install fuse3)' : second.message };
}

async function run(command: string, args: string[]): Promise<{ ok: boolean; message: string; code: string | undefined }> {
  // Loaded here, not at start-up: node:child_process costs every command ~5 ms to load.
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile(command, args, (error, _stdout, stderr) => {
      if (error === null) return resolve({ ok: true, message: '', code: undefined });
      const code = typeof error.code === 'string' ? error.code : undefined;
      const text = stderr.trim().split('\n')[0] ?? '';
      resolve({ ok: false, message: text === '' ? error.message : text, code });
    });
  });
}
