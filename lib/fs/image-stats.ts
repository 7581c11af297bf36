import { constants } from 'node:fs';

/** File types as they appear in the merged view (hard links are resolved to their target's type). */
export type FileType = 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block' | 'socket';

/** The `S_IF*` bits of each file type, as in `stat(2)`'s `st_mode`. */
export const typeBits: Readonly<Record<FileType, number>> = {
  file: constants.S_IFREG,
  dir: constants.S_IFDIR,
  symlink: constants.S_IFLNK,
  fifo: constants.S_IFIFO,
  char: constants.S_IFCHR,
  block: constants.S_IFBLK,
  socket: constants.S_IFSOCK,
};

const SYMLINK_PERM = 0o777;

export interface ImageStatsInit {
  type: FileType;
  /** Permission bits including setuid/setgid/sticky, without type bits. */
  perm: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtimeMs: number;
  nlink: number;
  ino: number;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Buffer>;
  layer: number;
  target: string | undefined;
  /** A sparse file's data regions (flat `offset, length` pairs); undefined for every other entry. */
  dataRegions?: readonly number[] | undefined;
}

/** The `isFile()` … `isSocket()` family of `fs.Stats` and `fs.Dirent`, from one `type` field. */
export abstract class FileTypeTests {
  abstract readonly type: FileType;

  isFile(): boolean {
    return this.type === 'file';
  }
  isDirectory(): boolean {
    return this.type === 'dir';
  }
  isSymbolicLink(): boolean {
    return this.type === 'symlink';
  }
  isFIFO(): boolean {
    return this.type === 'fifo';
  }
  isCharacterDevice(): boolean {
    return this.type === 'char';
  }
  isBlockDevice(): boolean {
    return this.type === 'block';
  }
  isSocket(): boolean {
    return this.type === 'socket';
  }
}

/**
 * Shaped like `fs.Stats` so code written for Node's fs works unchanged, plus what only an image knows:
 * owner names from the tar header, xattrs, and which layer provides the entry.
 */
export class ImageStats extends FileTypeTests {
  readonly dev = 0;
  readonly ino: number;
  /** Type bits | permission bits, as `fs.Stats.mode`. */
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  /** Device number for character and block devices, encoded like Linux `makedev`. */
  readonly rdev: number;
  readonly size: number;
  readonly blksize = 512;
  readonly blocks: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly birthtimeMs: number;
  /** User and group names recorded in the tar header (may be empty). */
  readonly uname: string;
  readonly gname: string;
  readonly xattrs: Readonly<Record<string, Buffer>>;
  /** Index of the layer that provides this entry (0 = bottom); for hard links, the target's layer. */
  readonly layer: number;
  /** Symlink target as stored, for symlinks; otherwise undefined. */
  readonly target: string | undefined;
  readonly type: FileType;
  readonly devmajor: number;
  readonly devminor: number;
  /**
   * For a sparse file, where its data lies: flat `offset, length` pairs, ascending; every other byte is
   * a hole that reads as zeros (and `blocks` counts the data only, as stat(2) does). Undefined for
   * files stored whole and for everything else.
   */
  readonly dataRegions: readonly number[] | undefined;

  constructor(init: ImageStatsInit) {
    super();
    this.type = init.type;
    this.ino = init.ino;
    // Linux has no permission bits for a symlink: lstat always shows 0777 (R9), whatever the tar
    // header stored, and so do Docker and umoci after extracting it.
    this.mode = typeBits[init.type] | (init.type === 'symlink' ? SYMLINK_PERM : init.perm & 0o7777);
    this.nlink = init.nlink;
    this.uid = init.uid;
    this.gid = init.gid;
    this.devmajor = init.devmajor;
    this.devminor = init.devminor;
    this.rdev = makedev(init.devmajor, init.devminor);
    this.size = init.size;
    this.dataRegions = init.dataRegions;
    this.blocks = Math.ceil((init.dataRegions === undefined ? init.size : storedBytes(init.dataRegions)) / 512);
    this.mtimeMs = init.mtimeMs;
    this.atimeMs = init.mtimeMs;
    this.ctimeMs = init.mtimeMs;
    this.birthtimeMs = init.mtimeMs;
    this.uname = init.uname;
    this.gname = init.gname;
    this.xattrs = init.xattrs;
    this.layer = init.layer;
    this.target = init.target;
  }

  // Dates are made on demand, as Node's own Stats do: most callers never look at them, and four Date
  // objects per stat would dominate the cost of a lookup. A tar keeps one time, so all four share it.
  get mtime(): Date {
    return new Date(this.mtimeMs);
  }
  get atime(): Date {
    return new Date(this.atimeMs);
  }
  get ctime(): Date {
    return new Date(this.ctimeMs);
  }
  get birthtime(): Date {
    return new Date(this.birthtimeMs);
  }
}

function storedBytes(regions: readonly number[]): number {
  let total = 0;
  for (let i = 1; i < regions.length; i += 2) total += regions[i] as number;
  return total;
}

/**
 * glibc's makedev, so `rdev` matches what `fs.stat` reports on Linux for the same device. Written
 * with arithmetic, not bit operators, which would cut the result to 32 bits.
 */
export function makedev(major: number, minor: number): number {
  const low = (major & 0xfff) * 0x100 + (minor & 0xff); // bits 0-19
  const middle = ((minor >>> 8) & 0xffffff) * 2 ** 20; // bits 20-43
  const high = ((major >>> 12) & 0xfffff) * 2 ** 44; // bits 44-63 (exact up to 2^53)
  return low + middle + high;
}
