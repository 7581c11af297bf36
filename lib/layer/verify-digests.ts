import type { ByteSource } from '../source/byte-source.js';
import { assertDigest, digestOf, hashFor } from '../image/digest.js';

/**
 * `verify`: the stored blob must hash to its digest, and its tar stream to the config's diff_id. An
 * uncompressed blob is its own tar stream, so it is read once for both. A digest imgfs cannot compute
 * is EDIGEST: asked to verify, it never passes what it did not check.
 */
export async function verifyDigests(checks: ReadonlyArray<{ expected: string | undefined; bytes: ByteSource; what: string }>): Promise<void> {
  // By source and algorithm: an uncompressed blob is its tar stream too, and is read once.
  const known = new Map<ByteSource, Map<string, string>>();
  for (const { expected, bytes, what } of checks) {
    if (expected === undefined) continue;
    const hash = hashFor(expected, what);
    const algorithm = expected.slice(0, expected.indexOf(':'));
    const digests = known.get(bytes) ?? new Map<string, string>();
    known.set(bytes, digests);
    let actual = digests.get(algorithm);
    if (actual === undefined) {
      for await (const chunk of bytes.createReadStream()) hash.update(chunk as Buffer);
      actual = digestOf(hash, expected);
      digests.set(algorithm, actual);
    }
    assertDigest(actual, expected, what);
  }
}
