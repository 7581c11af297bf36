import { constants, createGunzip } from 'node:zlib';
import type { Left } from './zstd-handle.js';

/**
 * node:zlib's native gunzip engine driven directly, with output buffers the caller supplies: as with
 * zstd (zstd-handle.ts), the Gunzip stream allocates a fresh output buffer for every megabyte it
 * decodes, and on a 100 MB layer those fresh buffers (page faults on first touch, major GCs from
 * external memory) cost about as much CPU as inflating. Decoding runs on the thread pool, as the
 * stream's does; the engine goes on into the next gzip member by itself and stops, leaving input
 * unconsumed, at zero padding after the last one (as Gunzip does).
 *
 * Node internals (the handle's class, `init`, `write`, `onerror`, `close`), as the zstd handle and the
 * gzip recorder use them (DESIGN item 6): `openGunzipHandle` returns undefined when they are not there
 * in the expected shape, and the caller then uses the stream.
 */
export interface GunzipHandle {
  /**
   * Inflates `input[inStart, inEnd)` into `output[outStart, outEnd)` on the thread pool, as far as
   * either allows (`finish`: the input is all there is); resolves with how much of each is left. An
   * error rejects with an Error carrying zlib's `errno` (Z_BUF_ERROR: the input ended inside a member).
   */
  write(input: Buffer, inStart: number, inEnd: number, output: Buffer, outStart: number, outEnd: number, finish?: boolean): Promise<Left>;
  close(): void;
}

/** The native handle as node:zlib uses it (lib/zlib.js, class Zlib). */
interface NativeZlib {
  init(...args: unknown[]): void;
  write(flush: number, input: Buffer, inOff: number, inLen: number, output: Buffer, outOff: number, outLen: number): void;
  close(): void;
  onerror: ((message: string, errno: number, code?: string) => void) | undefined;
}

interface NativeZlibClass {
  new (mode: number): NativeZlib;
  prototype: NativeZlib;
}

/** The handle's class and the arguments node:zlib initialises a Gunzip's with. */
interface Native {
  Class: NativeZlibClass;
  initArgs: unknown[];
}

/** Where node:zlib passes the write state and the callback to `init` (windowBits, level, memLevel, strategy first). */
const STATE_ARG = 4;
const CALLBACK_ARG = 5;

let native: Native | null | undefined = null;

/**
 * The class, and `init`'s arguments as node:zlib passes them for a Gunzip (learnt by watching it
 * create one: Node 22 passes seven, Node 24 eight), used only when the write state and the callback
 * are where expected and no dictionary is given.
 */
function findNative(): Native | undefined {
  if (native !== null) return native;
  native = undefined;
  try {
    const first = createGunzip() as unknown as { _handle?: { constructor?: unknown }; close(): void };
    const Class = first._handle?.constructor as NativeZlibClass | undefined;
    first.close();
    const prototype = Class?.prototype;
    if (Class === undefined || prototype === undefined || !['init', 'write', 'close'].every((method) => typeof (prototype as unknown as Record<string, unknown>)[method] === 'function')) {
      return undefined;
    }
    const init = prototype.init;
    let seen: unknown[] | undefined;
    prototype.init = function (this: NativeZlib, ...args: unknown[]): void {
      seen = args;
      init.apply(this, args);
    };
    try {
      createGunzip().close();
    } finally {
      prototype.init = init;
    }
    const state = seen?.[STATE_ARG];
    const expected =
      seen !== undefined &&
      seen.length >= 7 &&
      seen.slice(0, STATE_ARG).every((arg) => typeof arg === 'number') &&
      state instanceof Uint32Array &&
      state.length === 2 &&
      typeof seen[CALLBACK_ARG] === 'function' &&
      seen[6] === undefined;
    if (expected) native = { Class, initArgs: seen ?? [] };
  } catch {
    // No usable handle: the caller falls back to the stream.
  }
  return native;
}

/** A gunzip engine, or undefined when the handle is not usable here. */
export function openGunzipHandle(): GunzipHandle | undefined {
  const found = findNative();
  if (found === undefined) return undefined;
  const engine = new found.Class(constants.GUNZIP);
  /** [output left, input left] after each write, filled in by the engine. */
  const state = new Uint32Array(2);
  let settle: { resolve: (left: Left) => void; reject: (error: Error) => void } | undefined;
  const done = (): void => {
    const pending = settle;
    settle = undefined;
    pending?.resolve({ output: state[0] as number, input: state[1] as number });
  };
  const args = [...found.initArgs];
  args[STATE_ARG] = state;
  args[CALLBACK_ARG] = done;
  try {
    engine.init(...args);
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
    write(input, inStart, inEnd, output, outStart, outEnd, finish = false) {
      return new Promise<Left>((resolve, reject) => {
        settle = { resolve, reject };
        engine.write(finish ? constants.Z_FINISH : constants.Z_NO_FLUSH, input, inStart, inEnd - inStart, output, outStart, outEnd - outStart);
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
