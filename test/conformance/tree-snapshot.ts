/**
 * Snapshots of a root filesystem, taken the same way from a real directory (the umoci reference) and
 * from an `ImageFS`, so that the two can be compared field by field.
 *
 * What a snapshot records, and why at that precision:
 * - `type`, `perm` (`mode & 0o7777`, so setuid/setgid/sticky count), `uid`, `gid`: for every entry.
 * - `size` and `sha256`: regular files only (a directory's size is the host filesystem's business; a
 *   symlink's is its target's length, compared through `target`).
 * - `target`: symlinks only, as stored.
 * - `mtimeMs`: files, symlinks and fifos, rounded to whole milliseconds. umoci keeps the tar header's
 *   precision when it applies a layer (utimensat with nanoseconds: a PAX `mtime` of
 *   1700000000.123456789 lands on disk as such), while its own `repack` rounds to whole seconds; both
 *   Node's `Stats` and `ImageStats` state times as a double of milliseconds, so milliseconds is the
 *   finest unit both sides can express exactly, and rounding (not truncating) absorbs the binary
 *   floating-point error of a decimal PAX value. Directories have no `mtimeMs`: umoci extracts layer
 *   after layer into one directory, so a directory's mtime on disk changes whenever a later layer adds
 *   or removes a child without an entry for the directory itself (it then says when `umoci unpack` ran).
 * - `nlink` and `linkGroup`: non-directories only. `linkGroup` is the byte-wise smallest path among
 *   the entries that share the inode, present when more than one does; it makes hard links comparable
 *   although inode numbers are not. Directory link counts depend on the host filesystem.
 * - `xattrs` (base64 values): only when the reference side could read them (python3 on PATH); the host
 *   filesystem's own `security.selinux` label is ignored.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import type { ImageFS } from '../../lib/fs/types.js';
import type { FileType } from '../../lib/fs/image-stats.js';

export interface SnapshotEntry {
  /** Absolute path inside the root, e.g. `/etc/passwd`. */
  path: string;
  type: FileType;
  perm: number;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  target?: string;
  mtimeMs?: number;
  nlink?: number;
  linkGroup?: string;
  xattrs?: Record<string, string>;
}

export interface TreeSnapshot {
  /** Keyed by path. */
  entries: Map<string, SnapshotEntry>;
  /** Paths in the order the source produced them (for the walk-order check). */
  order: string[];
}

/** Byte-wise order of UTF-8 names, as DESIGN.md promises for readdir and walk. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function fileType(mode: number): FileType {
  switch (mode & constants.S_IFMT) {
    case constants.S_IFREG:
      return 'file';
    case constants.S_IFDIR:
      return 'dir';
    case constants.S_IFLNK:
      return 'symlink';
    case constants.S_IFIFO:
      return 'fifo';
    case constants.S_IFCHR:
      return 'char';
    case constants.S_IFBLK:
      return 'block';
    default:
      return 'socket';
  }
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Fills `linkGroup` from inode keys; entries alone on their inode get none. */
function assignLinkGroups(entries: Map<string, SnapshotEntry>, inodes: Map<string, string>): void {
  const groups = new Map<string, string[]>();
  for (const [path, inode] of inodes) {
    const group = groups.get(inode);
    if (group) group.push(path);
    else groups.set(inode, [path]);
  }
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    const first = [...group].sort(compareNames)[0];
    for (const path of group) {
      const entry = entries.get(path);
      if (entry && first !== undefined) entry.linkGroup = first;
    }
  }
}

/**
 * xattrs of every entry under `root` (symlinks not followed), read by one python3 process since Node
 * has no xattr API. Returns undefined when python3 is not available.
 */
export function readXattrs(root: string): Map<string, Record<string, string>> | undefined {
  const script = `
import base64, json, os, sys
root = sys.argv[1]
out = {}
for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames + filenames:
        full = os.path.join(dirpath, name)
        try:
            names = os.listxattr(full, follow_symlinks=False)
        except OSError:
            continue
        values = {}
        for key in names:
            if key == 'security.selinux':
                continue
            values[key] = base64.b64encode(os.getxattr(full, key, follow_symlinks=False)).decode()
        if values:
            out['/' + os.path.relpath(full, root)] = values
json.dump(out, sys.stdout)
`;
  let output: string;
  try {
    output = execFileSync('python3', ['-c', script, root], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
  const parsed = JSON.parse(output) as Record<string, Record<string, string>>;
  return new Map(Object.entries(parsed));
}

/** Snapshot of a real directory tree (lstat semantics), e.g. the rootfs umoci unpacked. */
export async function snapshotDirectory(root: string, options: { xattrs?: boolean } = {}): Promise<TreeSnapshot> {
  const entries = new Map<string, SnapshotEntry>();
  const order: string[] = [];
  const inodes = new Map<string, string>();
  const xattrs = options.xattrs ? readXattrs(root) : undefined;

  async function visit(dir: string, prefix: string): Promise<void> {
    const names = (await readdir(dir)).sort(compareNames);
    for (const name of names) {
      const full = join(dir, name);
      const path = `${prefix}/${name}`;
      const st = await lstat(full, { bigint: true });
      const type = fileType(Number(st.mode));
      const entry: SnapshotEntry = {
        path,
        type,
        perm: Number(st.mode) & 0o7777,
        uid: Number(st.uid),
        gid: Number(st.gid),
      };
      if (type === 'file') {
        const data = await readFile(full);
        entry.size = data.length;
        entry.sha256 = sha256(data);
      }
      if (type === 'symlink') entry.target = await readlink(full);
      if (type !== 'dir') {
        entry.mtimeMs = Math.round(Number(st.mtimeNs) / 1e6);
        entry.nlink = Number(st.nlink);
        inodes.set(path, `${st.dev}:${st.ino}`);
      }
      if (xattrs) entry.xattrs = xattrs.get(path) ?? {};
      entries.set(path, entry);
      order.push(path);
      if (type === 'dir') await visit(full, path);
    }
  }

  await visit(root, '');
  assignLinkGroups(entries, inodes);
  return { entries, order };
}

/** Snapshot of an image's merged view through the public API: `walk('/')`, `readFile`, `readlink`. */
export async function snapshotImage(image: ImageFS, options: { xattrs?: boolean } = {}): Promise<TreeSnapshot> {
  const entries = new Map<string, SnapshotEntry>();
  const order: string[] = [];
  const inodes = new Map<string, string>();

  for await (const { path, stats } of image.walk('/')) {
    const type = stats.type;
    const entry: SnapshotEntry = { path, type, perm: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid };
    if (type === 'file') {
      // Size from the stats, digest from the bytes served: a readFile that returns another length
      // than lstat states shows up as a sha256 difference.
      entry.size = stats.size;
      entry.sha256 = sha256(await image.readFile(path));
    }
    if (type === 'symlink') {
      const target = await image.readlink(path);
      entry.target = stats.target === target ? target : `${target} (but stats.target is ${String(stats.target)})`;
    }
    if (type !== 'dir') {
      entry.mtimeMs = Math.round(stats.mtimeMs);
      entry.nlink = stats.nlink;
      inodes.set(path, String(stats.ino));
    }
    if (options.xattrs) {
      entry.xattrs = Object.fromEntries(
        Object.entries(stats.xattrs).map(([name, value]) => [name, Buffer.from(value).toString('base64')]),
      );
    }
    entries.set(path, entry);
    order.push(path);
  }
  assignLinkGroups(entries, inodes);
  return { entries, order };
}
