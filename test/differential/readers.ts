/**
 * Three independent readers of a tar, each reduced to the same record per path, so that what imgfs
 * serves can be compared field by field with what GNU tar extracts and what Python's tarfile lists.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nameFromBytes, openImage, type ImageFS } from '../../lib/index.js';

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

/**
 * Files larger than this (Go's 60 GB sparse test files) are compared by size and by the bytes of the
 * data regions imgfs reports, read at the same offsets on every side: hashing 60 GB of holes would
 * take minutes. Python reads them only as a size.
 */
export const BIG_FILE = 64 * 1024 * 1024;

/** Data regions of the big files of the last imgfsTree, for gnuTarTree to read the same bytes. */
export const bigRegions = new Map<string, readonly number[]>();

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
      if (stats.type === 'file') {
        if (stats.size <= BIG_FILE) {
          view.sha256 = sha256(await image.readFile(path));
        } else {
          const regions = stats.dataRegions ?? [0, Math.min(stats.size, 1024 * 1024)];
          const hash = createHash('sha256');
          for (let i = 0; i < regions.length; i += 2) {
            const [start, length] = [regions[i] as number, regions[i + 1] as number];
            if (length > 0) for await (const chunk of image.createReadStream(path, { start, end: start + length - 1 })) hash.update(chunk as Buffer);
          }
          view.sha256 = `regions:${hash.digest('hex')}`;
          bigRegions.set(path, regions);
        }
      }
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
    // Names are read and used as bytes (an archive may hold names that are not UTF-8); the tree's keys
    // are imgfs's string form of them (surrogateescape, nameFromBytes), as Python's tarfile gives them.
    const visit = (rel: Buffer, key: string): void => {
      for (const name of readdirSync(Buffer.concat([Buffer.from(`${dir}/`), rel]), { encoding: 'buffer' }).sort(Buffer.compare)) {
        const relPath = Buffer.concat([rel, Buffer.from('/'), name]);
        const path = `${key}/${nameFromBytes(name)}`;
        const full = Buffer.concat([Buffer.from(dir), relPath]);
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
        if (type === 'symlink') view.target = nameFromBytes(readlinkSync(full, { encoding: 'buffer' }));
        if (type === 'file') view.sha256 = view.size <= BIG_FILE ? sha256(readFileSync(full)) : regionsDigest(full, bigRegions.get(path));
        if (type === 'char' || type === 'block') view.rdev = `${Number(stats.rdev >> 8n) & 0xfff},${Number(stats.rdev & 0xffn)}`;
        tree.set(path, view);
        if (type === 'dir') visit(relPath, path);
      }
    };
    visit(Buffer.alloc(0), '');
    return error === undefined ? { tree } : { tree, error };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The bytes at the given regions of a file on disk (what imgfsTree hashed for a big file). */
function regionsDigest(file: Buffer, regions: readonly number[] | undefined): string {
  if (regions === undefined) return 'regions:unknown';
  const hash = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    for (let i = 0; i < regions.length; i += 2) {
      const buffer = Buffer.alloc(regions[i + 1] as number);
      const read = readSync(fd, buffer, 0, buffer.length, regions[i] as number);
      hash.update(buffer.subarray(0, read));
    }
  } finally {
    closeSync(fd);
  }
  return `regions:${hash.digest('hex')}`;
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
BIG = int(sys.argv[1])
result = {}
for archive in sys.argv[2:]:
    out = []
    try:
        with tarfile.open(archive, 'r:') as tar:
            for m in tar.getmembers():
                item = {'name': m.name, 'type': m.type.decode('latin1'), 'mode': m.mode, 'uid': m.uid, 'gid': m.gid,
                        'uname': m.uname, 'gname': m.gname, 'size': m.size, 'mtime': repr(m.mtime),
                        'pax_mtime': m.pax_headers.get('mtime'), 'linkname': m.linkname,
                        'devmajor': m.devmajor, 'devminor': m.devminor,
                        'xattrs': {k[len('SCHILY.xattr.'):]: base64.b64encode(v.encode('utf-8', 'surrogateescape')).decode()
                                   for k, v in m.pax_headers.items() if k.startswith('SCHILY.xattr.')}}
                if m.isreg() and m.size <= BIG:
                    digest = hashlib.sha256()
                    stream = tar.extractfile(m)
                    for chunk in iter(lambda: stream.read(1 << 20), b''):
                        digest.update(chunk)
                    item['sha256'] = digest.hexdigest()
                out.append(item)
        result[archive] = out
    except Exception as error:
        result[archive] = {'error': repr(error)}
json.dump(result, sys.stdout)
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

/** Python's tarfile listing of archives (members in archive order), one python3 process for all. */
export function pythonMembers(archives: readonly string[]): Map<string, PythonMember[] | { error: string }> {
  const json = execFileSync('python3', ['-c', PYTHON_LISTER, String(BIG_FILE), ...archives], { maxBuffer: 256 * 1024 * 1024 }).toString();
  return new Map(Object.entries(JSON.parse(json) as Record<string, PythonMember[] | { error: string }>));
}
