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
  init(params: Uint32Array, pledgedSrcSize: undefined, writeState: Uint32Array, done: () => void, dictionary: undefined): void;
  write(flush: number, input: Buffer, inOff: number, inLen: number, output: Buffer, outOff: number, outLen: number): void;
  close(): void;
  onerror: ((message: string, errno: number, code: string) => void) | undefined;
}

type NativeZstdClass = new () => NativeZstd;

/** The handle's class, found once (undefined: not available in this Node). */
let nativeClass: NativeZstdClass | null | undefined = null;

function findNativeClass(): NativeZstdClass | undefined {
  if (nativeClass !== null) return nativeClass;
  nativeClass = undefined;
  try {
    const probe = createZstdDecompress() as unknown as { _handle?: { constructor?: unknown } };
    const found = probe._handle?.constructor;
    (probe as unknown as { close(): void }).close();
    const prototype = typeof found === 'function' ? (found.prototype as Record<string, unknown>) : undefined;
    if (prototype !== undefined && ['init', 'write', 'close'].every((method) => typeof prototype[method] === 'function')) {
      nativeClass = found as NativeZstdClass;
    }
  } catch {
    // No usable handle: the caller falls back to the stream.
  }
  return nativeClass;
}

/** A decoder that refuses frames whose window exceeds 2^windowLogMax, or undefined when the handle is not usable here. */
export function openZstdHandle(windowLogMax: number): ZstdHandle | undefined {
  const Native = findNativeClass();
  if (Native === undefined) return undefined;
  const native = new Native();
  // Unset parameters are all-ones, as node:zlib passes them.
  const params = new Uint32Array(constants.ZSTD_d_windowLogMax + 1).fill(0xffffffff);
  params[constants.ZSTD_d_windowLogMax] = windowLogMax;
  /** [output left, input left] after each write, filled in by the engine. */
  const state = new Uint32Array(2);
  let settle: { resolve: (left: Left) => void; reject: (error: Error) => void } | undefined;
  try {
    native.init(
      params,
      undefined,
      state,
      () => {
        const pending = settle;
        settle = undefined;
        pending?.resolve({ output: state[0] as number, input: state[1] as number });
      },
      undefined,
    );
  } catch {
    return undefined;
  }
  native.onerror = (message, errno, code) => {
    const pending = settle;
    settle = undefined;
    pending?.reject(Object.assign(new Error(message), { errno, code }));
  };
  let closed = false;
  return {
    write(input, inStart, inEnd, output, outStart, outEnd) {
      return new Promise<Left>((resolve, reject) => {
        settle = { resolve, reject };
        native.write(constants.ZSTD_e_continue, input, inStart, inEnd - inStart, output, outStart, outEnd - outStart);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      // A write still on the thread pool finishes first: the engine defers the close until then.
      native.close();
    },
  };
}
