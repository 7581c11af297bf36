/**
 * A snapshot of a directory tree taken only with ordinary tools, as a scanner would see it: GNU find
 * (`-printf` of type, mode, owners, size, link target, mtime, link count), `sha256sum` run by eight
 * readers at once, and `getfattr -d`. Taken the same way from umoci's unpacked rootfs and from the
 * mount, the two are compared with the conformance test's rules (compare-trees.ts).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { FileType } from '../../lib/fs/image-stats.js';
import { compareNames } from '../conformance/tree-snapshot.js';
import type { SnapshotEntry, TreeSnapshot } from '../conformance/tree-snapshot.js';

const execFileAsync = promisify(execFile);
const BIG = 256 * 1024 * 1024;

const types: Record<string, FileType> = { f: 'file', d: 'dir', l: 'symlink', p: 'fifo', c: 'char', b: 'block', s: 'socket' };

export async function sh(script: string): Promise<string> {
  const { stdout } = await execFileAsync('bash', ['-c', `set -o pipefail\n${script}`], { maxBuffer: BIG, encoding: 'utf8' });
  return stdout;
}

/** Hard links are compared as the names that share an inode number (`find -printf %i`). */
export async function snapshotWithTools(root: string): Promise<TreeSnapshot & { nlinks: Map<string, number> }> {
  const entries = new Map<string, SnapshotEntry>();
  const nlinks = new Map<string, number>();
  const namesByInode = new Map<string, string[]>();
  const order: string[] = [];
  const listing = await sh(`find '${root}' -mindepth 1 -printf '%P\\0%y\\0%m\\0%U\\0%G\\0%s\\0%l\\0%T@\\0%n\\0%i\\0'`);
  const fields = listing.split('\0');
  for (let i = 0; i + 10 <= fields.length; i += 10) {
    const [rel, y, mode, uid, gid, size, target, mtime, nlink, inode] = fields.slice(i, i + 10) as string[];
    const path = `/${rel}`;
    const type = types[y as string] ?? 'socket';
    const entry: SnapshotEntry = { path, type, perm: parseInt(mode as string, 8), uid: Number(uid), gid: Number(gid) };
    if (type === 'file') entry.size = Number(size);
    if (type === 'symlink') entry.target = target as string;
    if (type !== 'dir') {
      // %T@ is seconds with ten decimals; whole milliseconds as the conformance snapshot keeps them.
      const [seconds, fraction = ''] = (mtime as string).split('.');
      entry.mtimeMs = Number(seconds) * 1000 + Math.round(Number(`0.${fraction}`) * 1000);
      entry.nlink = Number(nlink);
      nlinks.set(path, Number(nlink));
      namesByInode.set(inode as string, [...(namesByInode.get(inode as string) ?? []), path]);
    }
    entries.set(path, entry);
    order.push(path);
  }
  // Eight readers at once, as a parallel scanner reads.
  const sums = await sh(`cd '${root}' && find . -type f -print0 | xargs -0 -P8 -n16 sha256sum`);
  for (const line of sums.split('\n')) {
    const match = /^([0-9a-f]{64}) {2}\.(\/.*)$/.exec(line);
    if (match === null) continue;
    const entry = entries.get(match[2] as string);
    if (entry !== undefined) entry.sha256 = match[1];
  }
  for (const [path, values] of await xattrsWithGetfattr(root)) {
    const entry = entries.get(path);
    if (entry !== undefined) entry.xattrs = values;
  }
  for (const entry of entries.values()) entry.xattrs ??= {};
  for (const names of namesByInode.values()) {
    if (names.length < 2) continue;
    // The group's name is its smallest member, as the conformance snapshot names it.
    const first = [...names].sort(compareNames)[0];
    for (const name of names) (entries.get(name) as SnapshotEntry).linkGroup = first;
  }
  return { entries, order, nlinks };
}

/** `getfattr -R -d -h -m - -e base64`: every attribute (symlinks not followed), values in base64. */
async function xattrsWithGetfattr(root: string): Promise<Map<string, Record<string, string>>> {
  const output = await sh(`cd '${root}' && getfattr -R -d -h -m - -e base64 . 2>/dev/null || true`);
  const result = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const line of output.split('\n')) {
    if (line.startsWith('# file: ')) {
      const path = `/${line.slice('# file: '.length).replace(/^\.\//, '')}`;
      current = {};
      result.set(path, current);
    } else if (current !== undefined && line.includes('=')) {
      const at = line.indexOf('=');
      const name = line.slice(0, at);
      if (name === 'security.selinux') continue;
      current[name] = line.slice(at + 1).replace(/^0s/, '');
    }
  }
  return result;
}
