/**
 * Command-line operands as the bytes the shell passed. Node decodes argv as UTF-8 and replaces each
 * invalid sequence with U+FFFD, so `imgfs cat IMG $'/caf\xe9'` would ask for `/caf\uFFFD` and could
 * never name an image file whose name is not UTF-8. Linux keeps the original bytes in
 * /proc/self/cmdline; they are decoded here the way imgfs decodes tar names (nameFromBytes), so such
 * an operand meets the entry it names. Elsewhere, or when the two do not line up, Node's argv is used.
 */

import { readFileSync } from 'node:fs';
import { nameFromBytes } from '../index.js';

export function byteArguments(argv: readonly string[] = process.argv.slice(2)): readonly string[] {
  let cmdline: Buffer;
  try {
    cmdline = readFileSync('/proc/self/cmdline');
  } catch {
    return argv;
  }
  return matchArguments(argv, cmdline);
}

/**
 * The last `argv.length` NUL-terminated strings of `cmdline` (interpreter options come first), each
 * checked against Node's own (lossy) decoding of it; any mismatch (a changed process title, an
 * embedder) keeps `argv`.
 */
export function matchArguments(argv: readonly string[], cmdline: Buffer): readonly string[] {
  const raw: Buffer[] = [];
  let start = 0;
  for (let nul = cmdline.indexOf(0); nul >= 0; nul = cmdline.indexOf(0, start)) {
    raw.push(cmdline.subarray(start, nul));
    start = nul + 1;
  }
  if (raw.length < argv.length) return argv;
  const tail = raw.slice(raw.length - argv.length);
  if (tail.some((bytes, i) => bytes.toString('utf8') !== argv[i])) return argv;
  return tail.map((bytes) => nameFromBytes(bytes));
}
