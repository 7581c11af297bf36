import { expect } from 'vitest';
import { ImgfsError, type ImgfsErrorCode } from '../../lib/errors.js';

/** What an ImgfsError must say: its code, and what it names (each named thing also in its message). */
export interface ExpectedImgfsError {
  /** The code, or one of these codes; any code when left out. */
  code?: ImgfsErrorCode | readonly ImgfsErrorCode[];
  /** Layer index the error must name (and `layer ${index}` in the message). */
  layer?: number;
  /** The layer digest must be set and appear in the message (true), or equal this value. */
  digest?: string | true;
  /** The offset must be set (true), or equal this value, and appear in the message as `offset N`. */
  offset?: number | true;
  /** Substring of the archive (`error.archive`), also in the message. */
  archive?: string;
  /** Member the error must name. */
  member?: string;
  /** Text the message must contain, or a pattern it must match. */
  message?: string | RegExp;
}

/** `expected` as an object; a bare code (and message) is the short form. */
type Expectation = ExpectedImgfsError | ImgfsErrorCode;

/**
 * The one check that an error is the ImgfsError a test expects: the class, the code, a one-line
 * message that starts with the code, and every location asked for, in its field and in the message.
 */
export function checkImgfsError(error: unknown, expectation: Expectation, message?: string | RegExp): ImgfsError {
  const expected: ExpectedImgfsError = typeof expectation === 'string' ? { code: expectation, message } : expectation;
  const codes = expected.code === undefined ? undefined : typeof expected.code === 'string' ? [expected.code] : expected.code;
  if (!(error instanceof ImgfsError)) {
    const got = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
    throw new Error(`expected ImgfsError ${codes?.join(' or ') ?? ''}, got ${got}`);
  }
  if (codes !== undefined) expect(codes, error.message).toContain(error.code);
  expect(error.message.split('\n')).toHaveLength(1);
  expect(error.message.startsWith(`${error.code}: `)).toBe(true);
  if (expected.layer !== undefined) {
    expect(error.layer?.index, error.message).toBe(expected.layer);
    expect(error.message).toContain(`layer ${expected.layer}`);
  }
  if (expected.digest !== undefined) {
    const digest = error.layer?.digest;
    if (expected.digest === true) expect(digest, error.message).toMatch(/^sha256:[a-f0-9]{64}$/);
    else expect(digest).toBe(expected.digest);
    expect(error.message).toContain(String(digest));
  }
  if (expected.offset !== undefined) {
    expect(error.offset, error.message).toBeTypeOf('number');
    if (expected.offset !== true) expect(error.offset, error.message).toBe(expected.offset);
    expect(error.message).toContain(`offset ${error.offset}`);
  }
  if (expected.archive !== undefined) {
    expect(error.archive, error.message).toContain(expected.archive);
    expect(error.message).toContain(expected.archive);
  }
  if (expected.member !== undefined) expect(error.member, error.message).toBe(expected.member);
  if (expected.message !== undefined) {
    if (typeof expected.message === 'string') expect(error.message).toContain(expected.message);
    else expect(error.message).toMatch(expected.message);
  }
  return error;
}

/** Awaits `action` (a promise, or a function that returns one or throws) and checks the ImgfsError it rejects with. */
export async function expectImgfsError(
  action: Promise<unknown> | (() => unknown),
  expectation: Expectation,
  message?: string | RegExp,
): Promise<ImgfsError> {
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (error) {
    return checkImgfsError(error, expectation, message);
  }
  throw new Error(`expected ImgfsError ${describe(expectation)}, but it succeeded`);
}

/** `expectImgfsError` for a synchronous call. */
export function expectImgfsErrorSync(action: () => unknown, expectation: Expectation, message?: string | RegExp): ImgfsError {
  try {
    action();
  } catch (error) {
    return checkImgfsError(error, expectation, message);
  }
  throw new Error(`expected ImgfsError ${describe(expectation)}, but it succeeded`);
}

function describe(expectation: Expectation): string {
  const code = typeof expectation === 'string' ? expectation : expectation.code;
  return code === undefined ? '' : typeof code === 'string' ? code : code.join(' or ');
}
