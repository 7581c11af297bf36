/**
 * Three independent readers of a tar, each reduced to the same record per path, so that what imgfs
 * serves can be compared field by field with what GNU tar extracts and what Python's tarfile lists.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImage, type ImageFS } from '../../lib/index.js';

export type ViewType = 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block' | 'socket';

/** One path as a reader sees it; `mtimeNs` as a decimal string (exact), content by its sha256. */
export interface PathView {
  type: ViewType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: string;
  target?: string;
  sha256?: string;
  rdev?: string;
  xattrs?: Record<string, string>;
}

export type TreeView = Map<string, PathView>;

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** What imgfs serves for a path list of layers (or an image), root excluded; links resolved as served. */
export async function imgfsTree(source: string | string[], fs?: ImageFS): Promise<TreeView> {
  const image = fs ?? (await openImage(source, { cache: false }));
  const tree: TreeView = new Map();
  try {
    for await (const { path, stats } of image.walk('/')) {
      const view: PathView = {
        type: stats.type,
        mode: stats.mode & 0o7777,
        uid: stats.uid,
        gid: stats.gid,
        size: stats.type === 'file' ? stats.size : 0,
        mtimeNs: msToNs(stats.mtimeMs),
      };
      if (stats.type === 'symlink') view.target = stats.target ?? '';
      if (stats.type === 'file') view.sha256 = sha256(await image.readFile(path));
      if (stats.type === 'char' || stats.type === 'block') view.rdev = `${stats.devmajor},${stats.devminor}`;
      if (Object.keys(stats.xattrs).length > 0) {
        view.xattrs = Object.fromEntries(Object.entries(stats.xattrs).map(([k, v]) => [k, v.toString('base64')]));
      }
      tree.set(path, view);
    }
  } finally {
    if (fs === undefined) await image.close();
  }
  return tree;
}

/** Nanoseconds from imgfs's milliseconds (which keep sub-millisecond digits in the fraction). */
export function msToNs(ms: number): string {
  const whole = Math.floor(ms);
  const ns = BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
  return ns.toString();
}

/**
 * GNU tar's extraction as root (owners, modes and mtimes restored), read back with lstat. Returns the
 * tree, or GNU tar's complaint when it exits non-zero (what it extracted before that is kept).
 */
export function gnuTarTree(archive: string): { tree: TreeView; error?: string } {
  const dir = mkdtempSync(join(tmpdir(), 'imgfs-gnutar-'));
  let error: string | undefined;
  try {
    try {
      execFileSync('tar', ['-xf', archive, '-C', dir, '--same-owner', '--same-permissions', '--numeric-owner', '--xattrs', "--xattrs-include=*"], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (failure) {
      error = String((failure as { stderr?: Buffer }).stderr ?? failure).trim();
    }
    const tree: TreeView = new Map();
    const visit = (rel: string): void => {
      for (const name of readdirSync(join(dir, rel)).sort()) {
        const path = `${rel}/${name}`;
        const full = join(dir, path);
        const stats = lstatSync(full, { bigint: true });
        const type = fileType(stats.mode);
        const view: PathView = {
          type,
          mode: Number(stats.mode & 0o7777n),
          uid: Number(stats.uid),
          gid: Number(stats.gid),
          size: type === 'file' ? Number(stats.size) : 0,
          mtimeNs: stats.mtimeNs.toString(),
        };
        if (type === 'symlink') view.target = readlinkSync(full);
        if (type === 'file') view.sha256 = sha256(readFileSync(full));
        if (type === 'char' || type === 'block') view.rdev = `${Number(stats.rdev >> 8n) & 0xfff},${Number(stats.rdev & 0xffn)}`;
        tree.set(path, view);
        if (type === 'dir') visit(path);
      }
    };
    visit('');
    return error === undefined ? { tree } : { tree, error };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function fileType(mode: bigint): ViewType {
  switch (Number(mode & 0o170000n)) {
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o010000:
      return 'fifo';
    case 0o020000:
      return 'char';
    case 0o060000:
      return 'block';
    case 0o140000:
      return 'socket';
    default:
      return 'file';
  }
}

const PYTHON_LISTER = String.raw`
import base64, hashlib, json, sys, tarfile
out = []
with tarfile.open(sys.argv[1], 'r:') as tar:
    members = tar.getmembers()
    by_name = {m.name: m for m in members}
    for m in members:
        target = by_name.get(m.linkname) if m.islnk() else m
        item = {'name': m.name, 'type': m.type.decode('latin1'), 'mode': m.mode, 'uid': m.uid, 'gid': m.gid,
                'uname': m.uname, 'gname': m.gname, 'size': m.size, 'mtime': repr(m.mtime),
                'pax_mtime': m.pax_headers.get('mtime'), 'linkname': m.linkname,
                'devmajor': m.devmajor, 'devminor': m.devminor,
                'xattrs': {k[len('SCHILY.xattr.'):]: base64.b64encode(v.encode('utf-8', 'surrogateescape')).decode()
                           for k, v in m.pax_headers.items() if k.startswith('SCHILY.xattr.')}}
        if m.isreg():
            item['sha256'] = hashlib.sha256(tar.extractfile(m).read()).hexdigest()
        out.append(item)
json.dump(out, sys.stdout)
`;

export interface PythonMember {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  /** Python's float, as repr() prints it. */
  mtime: string;
  /** The PAX mtime record, exact, when there was one. */
  pax_mtime: string | null;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, string>;
  sha256?: string;
}

/** Python's tarfile listing of an archive (members in archive order, hard-link content from the target). */
export function pythonMembers(archive: string): PythonMember[] {
  const json = execFileSync('python3', ['-c', PYTHON_LISTER, archive], { maxBuffer: 256 * 1024 * 1024 }).toString();
  return JSON.parse(json) as PythonMember[];
}
