import { zlib } from '../lazy-zlib.js';
import { driveEngine, watchEngineInit, type Left, type NativeEngineClass } from './zlib-handle.js';

/**
 * node:zlib's native gunzip engine driven directly, into output buffers the caller supplies
 * (zlib-handle.ts says why). Inflating runs on the thread pool, as the stream's does; the engine goes
 * on into the next gzip member by itself and stops, leaving input unconsumed, at zero padding after
 * the last one (as Gunzip does). `openGunzipHandle` returns undefined where the handle is not there in
 * the expected shape, and the caller then uses the stream.
 */
export interface GunzipHandle {
  /**
   * Inflates `input[inStart, inEnd)` into `output[outStart, outEnd)` (`finish`: the input is all there
   * is); an error rejects with zlib's `errno` (Z_BUF_ERROR: the input ended inside a member).
   */
  write(input: Buffer, inStart: number, inEnd: number, output: Buffer, outStart: number, outEnd: number, finish?: boolean): Promise<Left>;
  close(): void;
}

/** Where node:zlib passes the write state and the callback to `init` (windowBits, level, memLevel, strategy first). */
const STATE_ARG = 4;
const CALLBACK_ARG = 5;
const DICTIONARY_ARG = 6;

interface Native {
  Class: NativeEngineClass;
  args: unknown[];
}

/** Found once: null before the first look. */
let native: Native | null | undefined = null;

/**
 * The class, and `init`'s arguments as node:zlib passes them for a Gunzip (Node 22: seven, Node 24:
 * eight), used only when the write state and the callback are where expected and no dictionary is given.
 */
function findNative(): Native | undefined {
  if (native !== null) return native;
  native = undefined;
  try {
    const found = watchEngineInit(() => zlib().createGunzip());
    const args = found?.args ?? [];
    const state = args[STATE_ARG];
    const expected =
      args.length >= 7 &&
      args.slice(0, STATE_ARG).every((arg) => typeof arg === 'number') &&
      state instanceof Uint32Array &&
      state.length === 2 &&
      typeof args[CALLBACK_ARG] === 'function' &&
      args[DICTIONARY_ARG] === undefined;
    if (expected) native = found;
  } catch {
    // No usable handle: the caller falls back to the stream.
  }
  return native;
}

/** A gunzip engine, or undefined when the handle is not usable here. */
export function openGunzipHandle(): GunzipHandle | undefined {
  return openEngine(zlib().constants.GUNZIP, undefined);
}

/**
 * A raw inflate engine with `dictionary` (a checkpoint's window) as its history, for decoding from a
 * checkpoint inside a member; it stops, leaving input unconsumed, where the member's deflate data ends.
 * Undefined when the handle is not usable here.
 */
export function openInflateRawHandle(dictionary: Buffer | undefined): GunzipHandle | undefined {
  return openEngine(zlib().constants.INFLATERAW, dictionary !== undefined && dictionary.length > 0 ? dictionary : undefined);
}

function openEngine(mode: number, dictionary: Buffer | undefined): GunzipHandle | undefined {
  const found = findNative();
  if (found === undefined) return undefined;
  const engine = new found.Class(mode);
  const writer = driveEngine(engine, (state, done) => {
    const args = [...found.args];
    args[STATE_ARG] = state;
    args[CALLBACK_ARG] = done;
    args[DICTIONARY_ARG] = dictionary;
    engine.init(...args);
  });
  if (writer === undefined) return undefined;
  return {
    write: (input, inStart, inEnd, output, outStart, outEnd, finish = false) =>
      writer.write(finish ? zlib().constants.Z_FINISH : zlib().constants.Z_NO_FLUSH, input, inStart, inEnd, output, outStart, outEnd),
    close: () => writer.close(),
  };
}
