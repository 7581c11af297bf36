/**
 * Every call that would change the tree answers EROFS, so tools see a read-only filesystem (and say
 * so: `touch: cannot touch 'x': Read-only file system`) rather than ENOSYS or a silent success.
 */
import type { FuseConstructor, FuseInstance, FuseOperations } from './fuse-binding.js';
import { negated } from './errno.js';

type WriteCall =
  | 'write'
  | 'create'
  | 'truncate'
  | 'ftruncate'
  | 'chmod'
  | 'chown'
  | 'utimens'
  | 'mknod'
  | 'mkdir'
  | 'rmdir'
  | 'unlink'
  | 'rename'
  | 'link'
  | 'symlink'
  | 'setxattr'
  | 'removexattr'
  | 'fallocate';

export function readOnlyOperations(): Pick<FuseOperations, WriteCall> {
  const EROFS = negated('EROFS');
  // Each callback is the last argument, whatever the call's arity.
  const refuse = (...args: unknown[]): void => {
    (args[args.length - 1] as (result: number) => void)(EROFS);
  };
  return {
    write: refuse,
    create: refuse,
    truncate: refuse,
    ftruncate: refuse,
    chmod: refuse,
    chown: refuse,
    utimens: refuse,
    mknod: refuse,
    mkdir: refuse,
    rmdir: refuse,
    unlink: refuse,
    rename: refuse,
    link: refuse,
    symlink: refuse,
    setxattr: refuse,
    removexattr: refuse,
    fallocate: refuse,
  };
}

/**
 * Asks the kernel for a read-only mount (`-o ro,noatime`), which the binding has no option for: its
 * option string is extended on this one instance. The kernel then refuses writes before they reach
 * imgfs, `mount` and `findmnt` say `ro`, and reads no longer mark access times stale, which would
 * otherwise send one attribute request per `fstat` after a read. Should a later binding version
 * build its options differently, this does nothing and the handlers above still answer EROFS.
 */
export function mountReadOnly(fuse: FuseInstance): void {
  // The same test as canMountReadOnly, on the instance.
  const instance = fuse as FuseInstance & { _fuseOptions?: unknown };
  const build = instance._fuseOptions;
  if (typeof build !== 'function') return;
  instance._fuseOptions = function readOnlyOptions(this: unknown): unknown {
    const options: unknown = build.call(this);
    if (typeof options !== 'string') return options;
    return options === '' ? '-oro,noatime' : `${options},ro,noatime`;
  };
}

/** Whether `mountReadOnly` will work with this binding (it builds its options in `_fuseOptions`). */
export function canMountReadOnly(Fuse: FuseConstructor): boolean {
  return typeof (Fuse.prototype as { _fuseOptions?: unknown })._fuseOptions === 'function';
}
