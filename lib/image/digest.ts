/**
 * Checking content against the digests an image states (`verify`): OCI digests are
 * `algorithm:encoded`, and the registered algorithms are sha256 and sha512 (image-spec
 * `descriptor.md`; sha384 is accepted as well). A digest of any other algorithm cannot be checked, and
 * with `verify` asked for that is an error, never a silent pass.
 */
import type { Hash } from 'node:crypto';
import { createHash } from '../lazy-crypto.js';
import { ImgfsError, type ImgfsErrorDetails } from '../errors.js';

const ALGORITHMS: ReadonlySet<string> = new Set(['sha256', 'sha384', 'sha512']);

/** A hash for `expected`'s algorithm; EDIGEST when imgfs cannot compute it. */
export function hashFor(expected: string, what: string, where: ImgfsErrorDetails = {}): Hash {
  const algorithm = expected.slice(0, Math.max(0, expected.indexOf(':')));
  if (!ALGORITHMS.has(algorithm)) {
    throw new ImgfsError('EDIGEST', `cannot verify ${what} ${expected}: unsupported digest algorithm '${algorithm}'`, where);
  }
  return createHash(algorithm);
}

/** `algorithm:hex` of what `hash` has seen, for comparison with `expected`. */
export function digestOf(hash: Hash, expected: string): string {
  return `${expected.slice(0, expected.indexOf(':'))}:${hash.digest('hex')}`;
}

/**
 * EDIGEST unless `bytes` hash to `expected`. `what` names the digest in messages: `config digest`,
 * `manifest digest`, `diff_id`...
 */
export function checkDigest(bytes: Buffer, expected: string, what: string, where: ImgfsErrorDetails = {}): void {
  const hash = hashFor(expected, what, where);
  hash.update(bytes);
  assertDigest(digestOf(hash, expected), expected, what, where);
}

export function assertDigest(actual: string, expected: string, what: string, where: ImgfsErrorDetails = {}): void {
  if (actual !== expected) {
    throw new ImgfsError('EDIGEST', `${what} mismatch: expected ${expected}, content hashes to ${actual}`, where);
  }
}
