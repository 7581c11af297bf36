/**
 * Every call that would change the tree answers EROFS, so tools see a read-only filesystem (and say
 * so: `touch: cannot touch 'x': Read-only file system`) rather than ENOSYS or a silent success.
 */
import type { FuseOperations } from './fuse-binding.js';
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
