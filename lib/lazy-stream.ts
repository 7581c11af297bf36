/**
 * node:stream, loaded at the first call instead of at start-up (~1.2 ms, and node:zlib is built on it):
 * only a read stream (`createReadStream`, `scan`) or a streamed decode needs it; a `cat` of an
 * uncompressed layer reads without one (its stdout is one, unless a file: lib/cli/file-stdout.ts).
 */
export function stream(): typeof import('node:stream') {
  return process.getBuiltinModule('node:stream');
}
