/**
 * Errors for paths inside the image are Node-style (DESIGN.md "Public contracts"): `code` (ENOENT,
 * ENOTDIR, EISDIR, ELOOP, EINVAL), `path` (as the caller gave it), `syscall`, and a message such as
 * `ENOENT: no such file or directory, stat '/etc/nope'`.
 *
 * The syscall names are Node's own (`readdir` → `scandir`, `readFile` → `open`, reading a directory →
 * `read`); a differential check runs every row against `node:fs/promises` on an equivalent real tree,
 * and must agree on `code` and `syscall`. One deliberate difference: Node's EISDIR from `readFile`
 * carries no path; the image's carries one, as the contract says every error does.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, promises as nodeFs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsError, type ImageFS } from '../../lib/index.js';
import { dir, file, symlink } from '../helpers/layer-tar.js';
import { openLayers, type OpenedLayers } from '../helpers/open-layers.js';
import { expectFsError, nodeMessage, type ExpectedFsError } from '../helpers/expect-fs-error.js';

type Call = 'stat' | 'lstat' | 'readdir' | 'readFile' | 'readlink' | 'realpath';

const rows: Array<[call: Call, path: string, code: ExpectedFsError['code'], syscall: string]> = [
  ['stat', '/etc/nope', 'ENOENT', 'stat'],
  ['lstat', '/etc/nope', 'ENOENT', 'lstat'],
  ['stat', '/nope/deeper', 'ENOENT', 'stat'],
  ['stat', '/etc/passwd/x', 'ENOTDIR', 'stat'],
  ['lstat', '/etc/passwd/x', 'ENOTDIR', 'lstat'],
  ['stat', '/dangling', 'ENOENT', 'stat'],
  ['stat', '/loop-a', 'ELOOP', 'stat'],
  ['lstat', '/loop-a/x', 'ELOOP', 'lstat'],
  ['readdir', '/nope', 'ENOENT', 'scandir'],
  ['readdir', '/etc/passwd', 'ENOTDIR', 'scandir'],
  ['readdir', '/file-link', 'ENOTDIR', 'scandir'],
  ['readdir', '/dangling', 'ENOENT', 'scandir'],
  ['readdir', '/loop-a', 'ELOOP', 'scandir'],
  ['readFile', '/nope', 'ENOENT', 'open'],
  ['readFile', '/etc/passwd/x', 'ENOTDIR', 'open'],
  ['readFile', '/loop-a', 'ELOOP', 'open'],
  ['readFile', '/etc', 'EISDIR', 'read'],
  ['readFile', '/dir-link', 'EISDIR', 'read'],
  ['readlink', '/etc/passwd', 'EINVAL', 'readlink'],
  ['readlink', '/etc', 'EINVAL', 'readlink'],
  ['readlink', '/', 'EINVAL', 'readlink'],
  ['readlink', '/nope', 'ENOENT', 'readlink'],
  ['readlink', '/loop-a/x', 'ELOOP', 'readlink'],
  ['realpath', '/nope', 'ENOENT', 'realpath'],
  ['realpath', '/dangling', 'ENOENT', 'realpath'],
  ['realpath', '/etc/passwd/x', 'ENOTDIR', 'realpath'],
  ['realpath', '/loop-a', 'ELOOP', 'realpath'],
];

function callAsync(fs: ImageFS, call: Call, path: string): Promise<unknown> {
  switch (call) {
    case 'stat':
      return fs.stat(path);
    case 'lstat':
      return fs.lstat(path);
    case 'readdir':
      return fs.readdir(path);
    case 'readFile':
      return fs.readFile(path);
    case 'readlink':
      return fs.readlink(path);
    case 'realpath':
      return fs.realpath(path);
  }
}

function callSync(fs: ImageFS, call: Call, path: string): unknown {
  switch (call) {
    case 'stat':
      return fs.statSync(path);
    case 'lstat':
      return fs.lstatSync(path);
    case 'readdir':
      return fs.readdirSync(path);
    case 'readFile':
      // readFile has no Sync form in the contract; the async form is checked above.
      return undefined;
    case 'readlink':
      return fs.readlinkSync(path);
    case 'realpath':
      return fs.realpathSync(path);
  }
}

describe('fs errors', () => {
  let opened: OpenedLayers;
  let real: string;

  beforeAll(async () => {
    opened = await openLayers(
      [
        [
          dir('etc/'),
          file('etc/passwd', 'root:x:0:0\n'),
          symlink('loop-a', 'loop-b'),
          symlink('loop-b', 'loop-a'),
          symlink('dangling', '/nowhere-imgfs-test'),
          symlink('file-link', 'etc/passwd'),
          symlink('dir-link', 'etc'),
        ],
      ],
      { cleanup: 'manual' },
    );
    // The same tree on the real filesystem, for the differential check against Node.
    real = mkdtempSync(join(tmpdir(), 'imgfs-errors-real-'));
    mkdirSync(join(real, 'etc'));
    writeFileSync(join(real, 'etc/passwd'), 'root:x:0:0\n');
    symlinkSync('loop-b', join(real, 'loop-a'));
    symlinkSync('loop-a', join(real, 'loop-b'));
    symlinkSync(join(real, 'nowhere-imgfs-test'), join(real, 'dangling'));
    symlinkSync('etc/passwd', join(real, 'file-link'));
    symlinkSync('etc', join(real, 'dir-link'));
  });
  afterAll(async () => {
    await opened.dispose();
    rmSync(real, { recursive: true, force: true });
  });

  it.each(rows)('%s(%j) rejects with %s (%s)', async (call, path, code, syscall) => {
    await expectFsError(() => callAsync(opened.fs, call, path), { code, syscall, path });
  });

  it.each(rows.filter(([call]) => call !== 'readFile'))('%sSync(%j) throws %s (%s)', async (call, path, code, syscall) => {
    await expectFsError(() => callSync(opened.fs, call, path), { code, syscall, path });
  });

  it.each(rows)('%s(%j): Node gives the same code and syscall on a real tree', async (call, path, code, syscall) => {
    let thrown: unknown;
    try {
      const nodeCall: Record<Call, (p: string) => Promise<unknown>> = {
        stat: (p) => nodeFs.stat(p),
        lstat: (p) => nodeFs.lstat(p),
        readdir: (p) => nodeFs.readdir(p),
        readFile: (p) => nodeFs.readFile(p),
        readlink: (p) => nodeFs.readlink(p),
        realpath: (p) => nodeFs.realpath(p),
      };
      await nodeCall[call](join(real, path));
    } catch (error) {
      thrown = error;
    }
    const { code: nodeCode, syscall: nodeSyscall } = thrown as { code?: string; syscall?: string };
    expect({ code: nodeCode, syscall: nodeSyscall }).toEqual({ code, syscall });
  });

  it('errors are FsError instances of Error, with the path as given', async () => {
    let thrown: unknown;
    try {
      await opened.fs.stat('/etc/nope');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(FsError);
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message).toBe("ENOENT: no such file or directory, stat '/etc/nope'");
  });

  it('createReadStream reports ENOENT and EISDIR as stream errors, like fs.createReadStream', async () => {
    const errorOf = (path: string): Promise<unknown> =>
      new Promise((resolve) => {
        const stream = opened.fs.createReadStream(path);
        stream.on('error', resolve);
        stream.on('end', () => resolve(undefined));
        stream.resume();
      });
    for (const [path, expected] of [
      ['/nope', { code: 'ENOENT', syscall: 'open', path: '/nope' }],
      ['/etc', { code: 'EISDIR', syscall: 'read', path: '/etc' }],
      ['/loop-a', { code: 'ELOOP', syscall: 'open', path: '/loop-a' }],
    ] as const) {
      const error = await errorOf(path);
      expect(error).toBeInstanceOf(FsError);
      const { code, syscall, path: errorPath, message } = error as FsError;
      expect({ code, syscall, path: errorPath, message }).toEqual({ ...expected, message: nodeMessage(expected) });
    }
  });

  it('exists never throws', async () => {
    for (const path of ['/nope', '/etc/passwd/x', '/loop-a', '/loop-a/x']) {
      expect(await opened.fs.exists(path)).toBe(false);
      expect(opened.fs.existsSync(path)).toBe(false);
    }
    expect(await opened.fs.exists('/etc/passwd')).toBe(true);
  });
});
