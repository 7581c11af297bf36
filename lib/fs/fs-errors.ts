/**
 * Node-style errors for problems with a path inside the image, so code written against `node:fs`
 * can switch on `code` and print `message` unchanged.
 */

export type FsErrorCode = 'ENOENT' | 'ENOTDIR' | 'EISDIR' | 'ELOOP' | 'EINVAL';

const descriptions: Record<FsErrorCode, { errno: number; text: string }> = {
  ENOENT: { errno: -2, text: 'no such file or directory' },
  ENOTDIR: { errno: -20, text: 'not a directory' },
  EISDIR: { errno: -21, text: 'illegal operation on a directory' },
  ELOOP: { errno: -40, text: 'too many symbolic links encountered' },
  EINVAL: { errno: -22, text: 'invalid argument' },
};

export class FsError extends Error {
  override readonly name = 'Error';
  readonly code: FsErrorCode;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string;

  constructor(code: FsErrorCode, syscall: string, path: string) {
    const { errno, text } = descriptions[code];
    super(`${code}: ${text}, ${syscall} '${path}'`);
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
  }

  /** The human text of a code alone, as coreutils print it (`No such file or directory`). */
  static describe(code: string): string | undefined {
    const known = descriptions[code as FsErrorCode];
    if (known === undefined) return undefined;
    return known.text.charAt(0).toUpperCase() + known.text.slice(1);
  }
}
