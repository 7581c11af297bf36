/**
 * The part of the `fuse-napi` binding that imgfs uses, typed here rather than imported from the
 * package: the binding is an optional dependency, so the library must type-check and build where it
 * is not installed. `load-binding.ts` checks the loaded module against this shape.
 */

/** A negated errno, 0 for success, as libfuse callbacks return them. */
export type FuseResult = number;

export interface FuseTimespec {
  seconds: number;
  nanoseconds: number;
}

export interface FuseStats {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: number;
  rdev: number;
  blksize: number;
  blocks: number;
  atime: FuseTimespec;
  mtime: FuseTimespec;
  ctime: FuseTimespec;
}

/** A directory entry's type, for `d_type` (only the type bits of `mode` count), and its `d_ino`. */
export interface FuseDirentStats {
  mode: number;
  ino: number;
  /** 0: only type and inode number are given (a full `FuseStats` has the real count). */
  nlink: 0;
}

export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

export interface FuseOpenResult {
  fd: number;
  keepCache?: boolean;
}

type Done = (result: FuseResult) => void;

/** The connection as the kernel offers it (capability bits of fuse_common.h). */
export interface FuseConnection {
  readonly capable: number;
  readonly want: number;
}

/** What the filesystem asks for; `want` must be a subset of `capable`. */
export interface FuseInitConfig {
  want?: number;
}

/** Handlers imgfs registers; the binding routes every other call to ENOSYS. */
export interface FuseOperations {
  initWithConfig(connection: FuseConnection, cb: (result: FuseResult, config?: FuseInitConfig) => void): void;
  getattr(path: string, cb: (result: FuseResult, stats?: FuseStats) => void): void;
  fgetattr(path: string, fd: number, cb: (result: FuseResult, stats?: FuseStats) => void): void;
  readlink(path: string, cb: (result: FuseResult, target?: string) => void): void;
  readdirPaged(
    path: string,
    fd: number,
    offset: number,
    cb: (result: FuseResult, names?: string[], stats?: Array<FuseDirentStats | FuseStats>, nextOffsets?: number[]) => void,
  ): void;
  /** Optional: without it libfuse opens files itself (with keep_cache under `kernel_cache`). */
  open?(path: string, flags: number, cb: (result: FuseResult, handle?: FuseOpenResult) => void): void;
  read(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (bytes: number) => void): void;
  getxattr(path: string, name: string, position: number, cb: (result: FuseResult, value?: Buffer | null) => void): void;
  listxattr(path: string, cb: (result: FuseResult, names?: string[]) => void): void;
  statfs(path: string, cb: (result: FuseResult, statfs?: FuseStatfs) => void): void;
  // Every call that would change the tree answers EROFS (read-only.ts).
  write(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (bytes: number) => void): void;
  create(path: string, mode: number, cb: Done): void;
  truncate(path: string, size: number, cb: Done): void;
  ftruncate(path: string, fd: number, size: number, cb: Done): void;
  chmod(path: string, mode: number, cb: Done): void;
  chown(path: string, uid: number, gid: number, cb: Done): void;
  utimens(path: string, atime: number, mtime: number, cb: Done): void;
  mknod(path: string, mode: number, dev: number, cb: Done): void;
  mkdir(path: string, mode: number, cb: Done): void;
  rmdir(path: string, cb: Done): void;
  unlink(path: string, cb: Done): void;
  rename(src: string, dest: string, cb: Done): void;
  link(src: string, dest: string, cb: Done): void;
  symlink(src: string, dest: string, cb: Done): void;
  setxattr(path: string, name: string, value: Buffer, position: number, flags: number, cb: Done): void;
  removexattr(path: string, name: string, cb: Done): void;
  fallocate(path: string, fd: number, mode: number, offset: number, length: number, cb: Done): void;
  /** Called once when libfuse tears the filesystem down in order (unmounted by us or from outside). */
  destroy?(cb: Done): void;
}

export interface FuseMountOptions {
  fsname: string;
  subtype: string;
  /** The view never changes: the kernel may keep pages, attributes and names as long as it likes. */
  kernelCache: boolean;
  attrTimeout: number;
  entryTimeout: number;
  defaultPermissions: boolean;
  noforget: boolean;
  allowOther?: boolean;
  uid?: number;
  gid?: number;
  maxConcurrency: number;
  timeout: false | { default: false | number; init: number };
  /** Exceptions of handlers, and (operation `lifecycle`) the request loop ending on its own. */
  onError?: (error: unknown, operation: string) => void;
}

export interface FuseInstance {
  mount(cb: (error: Error | null | undefined) => void): void;
  unmount(cb: (error: Error | null | undefined) => void): void;
}

export type FuseConstructor = new (dir: string, ops: FuseOperations, options: FuseMountOptions) => FuseInstance;
