/**
 * How the CLI sorts errors into exit statuses, and how it words them. A path error (`ENOENT` and
 * friends, from the fs-shaped API) fails one operand: exit 1, the other operands still served. An
 * ImgfsError means the image itself cannot be read: exit 2. Recognised by shape rather than class, so
 * that this module depends on types only.
 */

/** The strerror(3) text coreutils print for each code, e.g. `cat: /x: No such file or directory`. */
const errnoText: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ELOOP: 'Too many levels of symbolic links',
  EINVAL: 'Invalid argument',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENAMETOOLONG: 'File name too long',
  EEXIST: 'File exists',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EIO: 'Input/output error',
  EBADF: 'Bad file descriptor',
};

export function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = (error as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

export function isImgfsErrorLike(error: unknown): error is Error & { code: string; reason: string } {
  return error instanceof Error && error.name === 'ImgfsError';
}

/** An error about one path (inside the image, or a file the command writes): worth exit 1, not 2. */
export function isPathError(error: unknown): boolean {
  if (isImgfsErrorLike(error)) return false;
  const code = codeOf(error);
  return code !== undefined && code in errnoText;
}

/** `No such file or directory` for ENOENT; the error's own message for anything unknown. */
export function describeError(error: unknown): string {
  const code = codeOf(error);
  if (code !== undefined && code in errnoText) return errnoText[code] as string;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** A path error made by the CLI itself (e.g. `cat` of a directory), shaped like the API's. */
export class CliPathError extends Error {
  readonly code: string;
  constructor(code: string) {
    super(errnoText[code] ?? code);
    this.code = code;
  }
}

/** Something about the image that stops the command (exit 2), printed as `imgfs: IMAGE: message`. */
export class ImageFatal extends Error {
  override readonly name = 'ImageFatal';
}
