import { constants, createZstdDecompress } from 'node:zlib';

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

export interface Left {
  input: number;
  output: number;
}

/** The native handle as node:zlib uses it (lib/zlib.js, class Zstd). */
interface NativeZstd {
  init(...args: unknown[]): void;
  write(flush: number, input: Buffer, inOff: number, inLen: number, output: Buffer, outOff: number, outLen: number): void;
  close(): void;
  onerror: ((message: string, errno: number, code: string) => void) | undefined;
}

interface NativeZstdClass {
  new (): NativeZstd;
  prototype: NativeZstd;
}

/** The handle's class and how many arguments this Node's `init` takes; undefined: not usable here. */
interface Native {
  Class: NativeZstdClass;
  initArity: number;
}

/** Found once: null before the first look. */
let native: Native | null | undefined = null;

/**
 * The handle's class, and the arity of its `init` as node:zlib itself calls it: Node 22 asserts
 * exactly four arguments (params, pledgedSrcSize, writeState, callback) and aborts the process on any
 * other count, Node 24 also takes a dictionary. So the count is learnt by watching node:zlib create a
 * decoder (`init` wrapped for that one synchronous call), and the handle is used only when the
 * arguments are the ones expected at their places.
 */
function findNative(): Native | undefined {
  if (native !== null) return native;
  native = undefined;
  try {
    const first = createZstdDecompress() as unknown as { _handle?: { constructor?: unknown }; close(): void };
    const Class = first._handle?.constructor as NativeZstdClass | undefined;
    first.close();
    const prototype = Class?.prototype;
    if (Class === undefined || prototype === undefined || !['init', 'write', 'close'].every((method) => typeof (prototype as unknown as Record<string, unknown>)[method] === 'function')) {
      return undefined;
    }
    const init = prototype.init;
    let seen: unknown[] | undefined;
    prototype.init = function (this: NativeZstd, ...args: unknown[]): void {
      seen = args;
      init.apply(this, args);
    };
    try {
      (createZstdDecompress() as unknown as { close(): void }).close();
    } finally {
      prototype.init = init;
    }
    const [params, , writeState, callback] = seen ?? [];
    const expected =
      seen !== undefined &&
      (seen.length === 4 || (seen.length === 5 && seen[4] === undefined)) &&
      params instanceof Uint32Array &&
      writeState instanceof Uint32Array &&
      writeState.length === 2 &&
      typeof callback === 'function';
    if (expected) native = { Class, initArity: seen?.length ?? 0 };
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
  const params = new Uint32Array(constants.ZSTD_d_windowLogMax + 1).fill(0xffffffff);
  params[constants.ZSTD_d_windowLogMax] = windowLogMax;
  /** [output left, input left] after each write, filled in by the engine. */
  const state = new Uint32Array(2);
  let settle: { resolve: (left: Left) => void; reject: (error: Error) => void } | undefined;
  const done = (): void => {
    const pending = settle;
    settle = undefined;
    pending?.resolve({ output: state[0] as number, input: state[1] as number });
  };
  try {
    // As node:zlib calls it, with as many arguments (no dictionary).
    engine.init(...[params, undefined, state, done, undefined].slice(0, found.initArity));
  } catch {
    return undefined;
  }
  engine.onerror = (message, errno, code) => {
    const pending = settle;
    settle = undefined;
    pending?.reject(Object.assign(new Error(message), { errno, code }));
  };
  let closed = false;
  return {
    write(input, inStart, inEnd, output, outStart, outEnd) {
      return new Promise<Left>((resolve, reject) => {
        settle = { resolve, reject };
        engine.write(constants.ZSTD_e_continue, input, inStart, inEnd - inStart, output, outStart, outEnd - outStart);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      // A write still on the thread pool finishes first: the engine defers the close until then.
      engine.close();
    },
  };
}
