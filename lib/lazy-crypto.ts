/**
 * node:crypto, loaded at the first call instead of at start-up. An `import … from 'node:crypto'` in any
 * module of the bundled CLI makes every command load and compile it (~6 ms, a tenth of a warm `cat`,
 * issue #14), though most runs hash nothing. Same signatures as node:crypto's functions of these names.
 */
import type { BinaryToTextEncoding, Hash, HashOptions } from 'node:crypto';

function crypto(): typeof import('node:crypto') {
  return process.getBuiltinModule('node:crypto');
}

export function createHash(algorithm: string, options?: HashOptions): Hash {
  return crypto().createHash(algorithm, options);
}

export function randomBytes(size: number): Buffer {
  return crypto().randomBytes(size);
}

export function getHashes(): string[] {
  return crypto().getHashes();
}

/** crypto.hash: a one-shot digest, without a Hash object. */
export function hashOnce(algorithm: string, data: Buffer, outputEncoding: BinaryToTextEncoding): string {
  return crypto().hash(algorithm, data, outputEncoding);
}
