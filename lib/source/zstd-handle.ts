import { zlib } from '../lazy-zlib.js';
import { driveEngine, watchEngineInit, type Left, type NativeEngineClass } from './zlib-handle.js';

export type { Left } from './zlib-handle.js';

/**
 * node:zlib's native zstd decoder driven directly, with output buffers the caller supplies: the
 * Transform stream around it allocates a fresh output buffer for every megabyte it decodes, and on a
 * 100 MB layer those fresh buffers (page faults on first touch, then the major GCs that external
 * memory triggers) cost about as much CPU as decoding itself (bench/README.md, "Cold cat"). Here a
 * decoded span's buffer can be handed back and decoded into again.
 *
 * This uses the engine handle behind `createZstdDecompress()` (its class, `init`, `write`, `onerror`,
 * `close`): Node internals, as the gzip recorder's use of `_handle.writeSync` is (DESIGN item 6).
 * `openZstdHandle` returns undefined when they are not there in the expected shape, and the caller
 * then uses the stream.
 */
export interface ZstdHandle {
  /**
   * Decodes from `input[inStart, inEnd)` into `output[outStart, outEnd)` on the thread pool, as far
   * as either allows; resolves with how much of each is left. A decoding error rejects with an Error
   * carrying the decoder's `code` (`ZSTD_error_…`) and `errno`, as node:zlib's own errors do.
   */
  write(input: Buffer, inStart: number, inEnd: number, output: Buffer, outStart: number, outEnd: number): Promise<Left>;
  close(): void;
}

/** The handle's class and how many arguments this Node's `init` takes; undefined: not usable here. */
interface Native {
  Class: NativeEngineClass;
  initArity: number;
}

/** Found once: null before the first look. */
let native: Native | null | undefined = null;

/**
 * The handle's class, and the arity of its `init` as node:zlib itself calls it: Node 22 asserts
 * exactly four arguments (params, pledgedSrcSize, writeState, callback) and aborts the process on any
 * other count, Node 24 also takes a dictionary. So the count is learnt by watching node:zlib create a
 * decoder (watchEngineInit), and the handle is used only when the arguments are the ones expected at
 * their places.
 */
function findNative(): Native | undefined {
  if (native !== null) return native;
  native = undefined;
  try {
    const found = watchEngineInit(() => zlib().createZstdDecompress());
    const seen = found?.args;
    const [params, , writeState, callback] = seen ?? [];
    const expected =
      seen !== undefined &&
      (seen.length === 4 || (seen.length === 5 && seen[4] === undefined)) &&
      params instanceof Uint32Array &&
      writeState instanceof Uint32Array &&
      writeState.length === 2 &&
      typeof callback === 'function';
    if (expected && found !== undefined) native = { Class: found.Class, initArity: seen?.length ?? 0 };
  } catch {
    // No usable handle: the caller falls back to the stream.
  }
  return native;
}

/** A decoder that refuses frames whose window exceeds 2^windowLogMax, or undefined when the handle is not usable here. */
export function openZstdHandle(windowLogMax: number): ZstdHandle | undefined {
  const found = findNative();
  if (found === undefined) return undefined;
  const engine = new found.Class();
  // Unset parameters are all-ones, as node:zlib passes them.
  const { constants } = zlib();
  const params = new Uint32Array(constants.ZSTD_d_windowLogMax + 1).fill(0xffffffff);
  params[constants.ZSTD_d_windowLogMax] = windowLogMax;
  // As node:zlib calls it, with as many arguments (no dictionary).
  const writer = driveEngine(engine, (state, done) => engine.init(...[params, undefined, state, done, undefined].slice(0, found.initArity)));
  if (writer === undefined) return undefined;
  return {
    write: (input, inStart, inEnd, output, outStart, outEnd) => writer.write(zlib().constants.ZSTD_e_continue, input, inStart, inEnd, output, outStart, outEnd),
    close: () => writer.close(),
  };
}
