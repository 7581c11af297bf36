/**
 * `ImageStats` as libfuse wants a `struct stat`: the merged view's own numbers, with only what a
 * kernel needs added (block counts in 512-byte units, a timespec with nanoseconds).
 */
import { typeBits, type ImageStats, type FileType } from '../fs/image-stats.js';
import type { FuseDirentStats, FuseStats, FuseTimespec } from './fuse-binding.js';

/** The I/O size the kernel is told to prefer: one readahead-sized request. */
const PREFERRED_IO_SIZE = 128 * 1024;

/** `-o uid=N,gid=N`: every entry shown as owned by these ids instead of the image's. */
export interface OwnerMapping {
  uid?: number | undefined;
  gid?: number | undefined;
}

export function fuseStats(stats: ImageStats, owners: OwnerMapping = {}): FuseStats {
  const mtime = timespec(stats.mtimeMs);
  return {
    // ImageStats already shows a symlink as 0777, as Linux does, whatever its tar header says.
    mode: stats.mode,
    uid: owners.uid ?? stats.uid,
    gid: owners.gid ?? stats.gid,
    size: stats.size,
    nlink: stats.nlink,
    ino: stats.ino,
    rdev: stats.rdev,
    blksize: PREFERRED_IO_SIZE,
    blocks: stats.blocks,
    // A tar member has one time; access and change times show it too, as `tar -x` would leave them.
    atime: mtime,
    mtime,
    ctime: mtime,
  };
}

/**
 * Milliseconds (a double, as `ImageStats` keeps them) as seconds and nanoseconds. The double holds
 * today's dates to about a quarter of a microsecond, so a PAX time of `.123456789` arrives within a
 * few hundred nanoseconds of itself; whole milliseconds and microseconds arrive exactly.
 */
export function timespec(ms: number): FuseTimespec {
  const seconds = Math.floor(ms / 1000);
  const nanoseconds = Math.min(999_999_999, Math.max(0, Math.round((ms - seconds * 1000) * 1_000_000)));
  return { seconds, nanoseconds };
}

/**
 * What `readdir` tells the kernel about an entry: its type (`d_type`) and inode number (`d_ino`).
 * nlink 0 marks the attributes as incomplete: the binding build then lists the entry without them.
 */
export function direntStats(type: FileType, ino: number): FuseDirentStats {
  return { mode: typeBits[type], ino, nlink: 0 };
}
