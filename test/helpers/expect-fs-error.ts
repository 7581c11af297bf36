import { expect } from 'vitest';

export interface ExpectedFsError {
  code: 'ENOENT' | 'ENOTDIR' | 'EISDIR' | 'ELOOP' | 'EINVAL';
  syscall: string;
  path: string;
}

const texts: Record<ExpectedFsError['code'], string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ELOOP: 'too many symbolic links encountered',
  EINVAL: 'invalid argument',
};

/** The message Node itself gives, e.g. `ENOENT: no such file or directory, stat '/etc/nope'`. */
export function nodeMessage({ code, syscall, path }: ExpectedFsError): string {
  return `${code}: ${texts[code]}, ${syscall} '${path}'`;
}

function check(error: unknown, expected: ExpectedFsError): void {
  expect(error).toBeInstanceOf(Error);
  const { code, syscall, path, message } = error as { code?: unknown; syscall?: unknown; path?: unknown; message?: unknown };
  expect({ code, syscall, path, message }).toEqual({ ...expected, message: nodeMessage(expected) });
}

/** Awaits `action` (a promise or a function returning one, or a sync call) and checks the FsError it throws. */
export async function expectFsError(action: Promise<unknown> | (() => unknown), expected: ExpectedFsError): Promise<void> {
  let thrown: unknown;
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) throw new Error(`expected ${expected.code} from ${expected.syscall} '${expected.path}', but it succeeded`);
  check(thrown, expected);
}

/** Only the code, for rule tests that care what failed but not how it is worded. */
export async function expectCode(action: Promise<unknown> | (() => unknown), code: ExpectedFsError['code']): Promise<void> {
  let thrown: unknown;
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) throw new Error(`expected ${code}, but it succeeded`);
  expect((thrown as { code?: unknown }).code).toBe(code);
}
