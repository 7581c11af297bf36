/**
 * node:zlib's native engine handles (lib/zlib.js: the classes behind Gunzip and ZstdDecompress) driven
 * directly, so that the caller supplies the output buffers: the streams allocate a fresh one for every
 * megabyte they decode, and those fresh buffers (page faults on first touch, major GCs from external
 * memory) cost about as much CPU as decoding (bench/README.md, "Cold cat" and "gzip buffers"). Node
 * internals, as the gzip recorder's use of `_handle.writeSync` is (DESIGN item 6): callers check their
 * shape and fall back to the streams when it is not the expected one. Used by gzip-handle.ts and
 * zstd-handle.ts.
 */

/** How much of a write's input and output is left. */
export interface Left {
  input: number;
  output: number;
}

/** The parts of an engine handle driven here. */
export interface NativeEngine {
  init(...args: unknown[]): void;
  write(flush: number, input: Buffer, inOff: number, inLen: number, output: Buffer, outOff: number, outLen: number): void;
  close(): void;
  onerror: ((message: string, errno: number, code?: string) => void) | undefined;
}

export interface NativeEngineClass {
  new (...args: unknown[]): NativeEngine;
  prototype: NativeEngine;
}

/**
 * The class of the handle behind `create()`'s stream, and the arguments node:zlib passes its `init`
 * (learnt by watching a second `create()`: their number differs between Node versions, and a wrong
 * count aborts the process). Undefined when the handle is not there or lacks a method driven here.
 */
export function watchEngineInit(create: () => unknown): { Class: NativeEngineClass; args: unknown[] } | undefined {
  const first = create() as { _handle?: { constructor?: unknown }; close(): void };
  const Class = first._handle?.constructor as NativeEngineClass | undefined;
  first.close();
  const prototype = Class?.prototype;
  if (Class === undefined || prototype === undefined || !['init', 'write', 'close'].every((method) => typeof (prototype as unknown as Record<string, unknown>)[method] === 'function')) {
    return undefined;
  }
  const init = prototype.init;
  let seen: unknown[] | undefined;
  prototype.init = function (this: NativeEngine, ...args: unknown[]): void {
    seen = args;
    init.apply(this, args);
  };
  try {
    (create() as { close(): void }).close();
  } finally {
    prototype.init = init;
  }
  return seen === undefined ? undefined : { Class, args: seen };
}

/** Writes to an initialised engine, one at a time, on the thread pool. */
export interface EngineWriter {
  /**
   * Decodes from `input[inStart, inEnd)` into `output[outStart, outEnd)` with `flush`, as far as either
   * allows; resolves with how much of each is left. A decoding error rejects with an Error carrying the
   * engine's `errno` and `code`, as node:zlib's own errors do.
   */
  write(flush: number, input: Buffer, inStart: number, inEnd: number, output: Buffer, outStart: number, outEnd: number): Promise<Left>;
  close(): void;
}

/**
 * Drives `engine`, which `init` initialises with the write state array (`[output left, input left]`
 * after each write, filled in by the engine) and the callback the engine calls after each write.
 * Undefined when `init` throws.
 */
export function driveEngine(engine: NativeEngine, init: (state: Uint32Array, done: () => void) => void): EngineWriter | undefined {
  const state = new Uint32Array(2);
  let settle: { resolve: (left: Left) => void; reject: (error: Error) => void } | undefined;
  const done = (): void => {
    const pending = settle;
    settle = undefined;
    pending?.resolve({ output: state[0] as number, input: state[1] as number });
  };
  try {
    init(state, done);
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
    write(flush, input, inStart, inEnd, output, outStart, outEnd) {
      return new Promise<Left>((resolve, reject) => {
        settle = { resolve, reject };
        engine.write(flush, input, inStart, inEnd - inStart, output, outStart, outEnd - outStart);
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
