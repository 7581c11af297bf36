/**
 * "Nothing is extracted" (DESIGN.md): opening an image and reading all of it with `cache: false`
 * writes no file anywhere.
 *
 * Two independent checks:
 * 1. Snapshots (path, size, mtime of every file and directory) of the image's own temp dir, the
 *    working directory, `os.tmpdir()`, `$HOME/.cache` and `$XDG_CACHE_HOME`, before and after. So
 *    that other test files running in parallel cannot disturb them, the process is moved to fresh
 *    empty directories first: `process.chdir`, and `TMPDIR`, `HOME`, `XDG_CACHE_HOME` pointed at
 *    fresh dirs (`os.tmpdir()` and `os.homedir()` read them on every call). The user's real
 *    `$HOME/.cache` is snapshotted too.
 * 2. Every `node:fs` function that can create or modify a file is wrapped (and the ESM named exports
 *    re-synced with `syncBuiltinESMExports`) to record calls made while the image is open and read.
 */
import * as nodeFs from 'node:fs';
import fsModule from 'node:fs';
import fsPromisesModule from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { writeImage as writeOciImage } from '../helpers/image-builder.js';
import { pushImage, startRegistry } from '../registry/registry-server.js';
import { buildLayer, dir, file, hardlink, opaque, symlink, whiteout } from '../helpers/layer-tar.js';

type Snapshot = Record<string, string>;

/** Every path under `root` with its type, size and mtime (`{}` when `root` does not exist). */
function snapshot(root: string): Snapshot {
  const out: Snapshot = {};
  const visit = (path: string): void => {
    let stats: nodeFs.Stats;
    try {
      stats = nodeFs.lstatSync(path);
    } catch {
      return;
    }
    out[path] = `${stats.isDirectory() ? 'd' : stats.isSymbolicLink() ? 'l' : 'f'} ${stats.size} ${stats.mtimeMs}`;
    if (stats.isDirectory()) {
      for (const name of nodeFs.readdirSync(path)) visit(join(path, name));
    }
  };
  visit(root);
  return out;
}

function layers(): Buffer[] {
  const big = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
  return [
    buildLayer([dir('etc/'), file('etc/passwd', 'root:x:0:0\n'), file('etc/motd', 'hi'), file('big.bin', big), dir('var/lib/'), file('var/lib/a', 'a')]),
    gzipSync(buildLayer([whiteout('etc/motd'), opaque('var/lib'), file('var/lib/b', 'b'), symlink('link', '/etc/passwd'), hardlink('hl', 'etc/passwd')])),
    gzipSync(buildLayer([file('big.bin', big.subarray(0, 1024 * 1024)), file('deep/x/y/z', 'z')])),
  ];
}

/** Opens the image and reads everything: walk, stat, lstat, readdir, readlink, realpath, readFile, streams. */
async function readEverything(paths: string | string[]): Promise<number> {
  const fs = await openImage(paths, { cache: false });
  let bytes = 0;
  try {
    for await (const { path, stats } of fs.walk('/')) {
      await fs.lstat(path);
      if (stats.isDirectory()) {
        await fs.readdir(path, { withFileTypes: true });
      } else if (stats.isSymbolicLink()) {
        await fs.readlink(path);
        await fs.realpath(path);
      } else if (stats.isFile()) {
        bytes += (await fs.readFile(path)).length;
        await new Promise<void>((resolve, reject) => {
          fs.createReadStream(path, { start: 0, end: Math.max(0, stats.size - 1) })
            .on('data', (chunk: Buffer) => void (bytes += chunk.length))
            .on('end', resolve)
            .on('error', reject);
        });
      }
    }
    fs.history('/etc/motd');
  } finally {
    await fs.close();
  }
  return bytes;
}

describe('no writes', () => {
  const restore: Array<() => void> = [];
  afterEach(() => {
    for (const undo of restore.splice(0).reverse()) undo();
  });

  /** Fresh empty cwd, TMPDIR, HOME, XDG_CACHE_HOME for the duration of the test. */
  function isolate(): { base: string; dirs: string[] } {
    const base = nodeFs.mkdtempSync(join(tmpdir(), 'imgfs-no-writes-'));
    const dirs = ['cwd', 'tmp', 'home', 'xdg-cache'].map((name) => join(base, name));
    for (const path of dirs) nodeFs.mkdirSync(path);
    const [cwd, tmp, home, xdg] = dirs as [string, string, string, string];
    const saved = { cwd: process.cwd(), TMPDIR: process.env.TMPDIR, HOME: process.env.HOME, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };
    process.chdir(cwd);
    process.env.TMPDIR = tmp;
    process.env.HOME = home;
    process.env.XDG_CACHE_HOME = xdg;
    restore.push(() => {
      process.chdir(saved.cwd);
      for (const key of ['TMPDIR', 'HOME', 'XDG_CACHE_HOME'] as const) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
      nodeFs.rmSync(base, { recursive: true, force: true });
    });
    return { base, dirs };
  }

  function writeImage(): { dir: string; paths: string[] } {
    const imageDir = nodeFs.mkdtempSync(join(tmpdir(), 'imgfs-no-writes-image-'));
    restore.push(() => nodeFs.rmSync(imageDir, { recursive: true, force: true }));
    const paths = layers().map((bytes, index) => {
      const path = join(imageDir, `l${index}.tar${index === 0 ? '' : '.gz'}`);
      nodeFs.writeFileSync(path, bytes);
      return path;
    });
    return { dir: imageDir, paths };
  }

  it('leaves the image dir, cwd, tmpdir and cache dirs exactly as they were', async () => {
    const realCache = join(homedir(), '.cache');
    const image = writeImage();
    const { dirs } = isolate();
    expect(tmpdir()).toBe(dirs[1]);
    expect(homedir()).toBe(dirs[2]);
    const watched = [image.dir, process.cwd(), tmpdir(), join(homedir(), '.cache'), homedir(), process.env.XDG_CACHE_HOME ?? '', realCache];
    const before = watched.map(snapshot);
    const bytes = await readEverything(image.paths);
    // Each file read twice (readFile + stream): passwd, hl (its hard link), var/lib/b, big.bin (1 MiB), deep/x/y/z.
    expect(bytes).toBe(2 * (11 + 11 + 1 + 1024 * 1024 + 1));
    const after = watched.map(snapshot);
    for (const [index, path] of watched.entries()) expect({ path, files: after[index] }).toEqual({ path, files: before[index] });
  });

  it('a docker:// image (fetched by range from a real registry) leaves them as they were too', async () => {
    const source = nodeFs.mkdtempSync(join(tmpdir(), 'imgfs-no-writes-oci-'));
    const registry = await startRegistry();
    try {
      // The same layers, pushed by skopeo from an OCI layout (gzip) to the registry.
      const tars = layers().map((bytes) => (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes));
      const layout = await writeOciImage(source, tars, { format: 'oci-dir', compression: 'gzip' });
      await pushImage(`oci:${layout}:imgfs-test:latest`, registry.host, 'no-writes:latest');
      const { dirs } = isolate();
      const watched = [...dirs, join(homedir(), '.cache'), join(homedir(), '.docker')];
      const before = watched.map(snapshot);
      const bytes = await readEverything(`docker://${registry.host}/no-writes:latest`);
      expect(bytes).toBe(2 * (11 + 11 + 1 + 1024 * 1024 + 1));
      const after = watched.map(snapshot);
      for (const [index, path] of watched.entries()) expect({ path, files: after[index] }).toEqual({ path, files: before[index] });
    } finally {
      await registry.stop();
      nodeFs.rmSync(source, { recursive: true, force: true });
    }
  });

  it('calls no node:fs function that creates or changes a file', async () => {
    const image = writeImage();
    isolate();
    const calls: string[] = [];
    // The CommonJS objects behind `node:fs` and `node:fs/promises` are mutable; the ESM namespaces are
    // refreshed from them by syncBuiltinESMExports().
    const mutable = fsModule as unknown as Record<string, unknown>;
    const promises = fsPromisesModule as unknown as Record<string, unknown>;
    const writeFlag = (flags: unknown): boolean =>
      typeof flags === 'number'
        ? (flags & (nodeFs.constants.O_WRONLY | nodeFs.constants.O_RDWR | nodeFs.constants.O_CREAT | nodeFs.constants.O_TRUNC | nodeFs.constants.O_APPEND)) !== 0
        : typeof flags === 'string' && /[wa+]/.test(flags);
    const wrap = (target: Record<string, unknown>, name: string, isWrite: (args: unknown[]) => boolean): void => {
      const original = target[name];
      if (typeof original !== 'function') return;
      const wrapped = function (this: unknown, ...args: unknown[]): unknown {
        if (isWrite(args)) calls.push(`${name}(${String(args[0])})`);
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      };
      target[name] = wrapped;
      restore.push(() => {
        target[name] = original;
        syncBuiltinESMExports();
      });
    };
    const always = (): boolean => true;
    const openIsWrite = (args: unknown[]): boolean => writeFlag(args[1]);
    const streamIsWrite = (): boolean => true;
    for (const name of ['open', 'openSync']) wrap(mutable, name, openIsWrite);
    for (const name of [
      'writeFile', 'writeFileSync', 'appendFile', 'appendFileSync', 'mkdir', 'mkdirSync', 'mkdtemp', 'mkdtempSync',
      'rename', 'renameSync', 'copyFile', 'copyFileSync', 'cp', 'cpSync', 'symlink', 'symlinkSync', 'link', 'linkSync',
      'truncate', 'truncateSync', 'unlink', 'unlinkSync', 'rm', 'rmSync', 'rmdir', 'rmdirSync', 'utimes', 'utimesSync',
      'chmod', 'chmodSync', 'chown', 'chownSync', 'write', 'writeSync', 'writev', 'writevSync',
    ]) {
      wrap(mutable, name, always);
    }
    wrap(mutable, 'createWriteStream', streamIsWrite);
    wrap(promises, 'open', openIsWrite);
    for (const name of ['writeFile', 'appendFile', 'mkdir', 'mkdtemp', 'rename', 'copyFile', 'cp', 'symlink', 'link', 'truncate', 'unlink', 'rm', 'rmdir', 'utimes', 'chmod', 'chown']) {
      wrap(promises, name, always);
    }
    syncBuiltinESMExports();

    // The instrumentation sees writes made through ESM named imports and the promises API.
    const probe = join(tmpdir(), 'probe');
    nodeFs.writeFileSync(probe, 'x');
    await nodeFs.promises.open(probe, 'r+').then((handle) => handle.close());
    nodeFs.closeSync(nodeFs.openSync(probe, nodeFs.constants.O_RDONLY));
    expect(calls).toEqual([`writeFileSync(${probe})`, `open(${probe})`]);
    calls.length = 0;

    await readEverything(image.paths);
    // Undo the wrappers before asserting, so the assertion machinery itself is not recorded.
    for (const undo of restore.splice(0).reverse()) undo();
    expect(calls).toEqual([]);
  });
});
