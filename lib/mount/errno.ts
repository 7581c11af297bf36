/**
 * Errors of the fs-shaped API as negated errnos for libfuse. A path error keeps its code (ENOENT,
 * ENOTDIR, ELOOP…). Anything else means the image could not answer, most often a layer that is
 * broken or truncated: the kernel gets EIO for that one request, the user gets a warning, and the
 * mount goes on serving every path that does not need that layer.
 */
import { constants } from 'node:os';
import { isImgfsError } from '../errors.js';
import { FsError } from '../fs/fs-errors.js';
import type { WarningSink } from '../warnings.js';

const errno = constants.errno;

/** A negated errno by name, for the few codes the mount answers itself. */
export function negated(code: 'ENOENT' | 'EIO' | 'EROFS' | 'EISDIR' | 'EINVAL' | 'ENODATA' | 'EBADF'): number {
  return -errno[code];
}

/** Reports each distinct problem once: a scanner retrying a broken path must not flood the log. */
export class ProblemReporter {
  private readonly seen = new Set<string>();
  private static readonly MAX_REMEMBERED = 10_000;

  constructor(private readonly warn: WarningSink) {}

  /** The errno for `error`, warning about it when it is not an ordinary path error. */
  errnoOf(error: unknown, path: string): number {
    if (error instanceof FsError) return -(errno[error.code] ?? errno.EIO);
    const message = error instanceof Error ? error.message : String(error);
    if (!this.seen.has(message)) {
      if (this.seen.size >= ProblemReporter.MAX_REMEMBERED) this.seen.clear();
      this.seen.add(message);
      this.warn({ code: 'EIO', message: `${path}: input/output error: ${message}`, layer: isImgfsError(error) ? error.layer : undefined, path });
    }
    return negated('EIO');
  }
}
