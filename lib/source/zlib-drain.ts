import type { Readable, Transform } from 'node:stream';
import { stream } from '../lazy-stream.js';
import type { ImgfsError } from '../errors.js';
import type { DecodeContext } from './inflater.js';

/** What node:zlib rejects with: a `Z_…` (zlib) or `ZSTD_error_…` (zstd) code and a number. */
export interface ZlibError extends Error {
  code: string;
  errno: number;
}

export function isZlibError(error: unknown): error is ZlibError {
  return (
    error instanceof Error &&
    typeof (error as Partial<ZlibError>).errno === 'number' &&
    typeof (error as Partial<ZlibError>).code === 'string' &&
    (error as ZlibError).code.startsWith('Z')
  );
}

/** A node:zlib engine: a Transform that counts the input it has consumed. */
export type ZlibEngine = Transform & { readonly bytesWritten: number };

/**
 * Runs `feed` through a node:zlib engine and yields its output, counted by `context.onOutput` before it
 * is handed on; a zlib error becomes what `mapError` makes of it, given the input bytes the engine had
 * consumed. Returns the bytes the engine consumed. Both streams are destroyed however this ends.
 */
export async function* drainEngine(
  feed: Readable,
  engine: ZlibEngine,
  context: DecodeContext,
  mapError: (error: ZlibError, consumed: number) => ImgfsError,
): AsyncGenerator<Buffer, number, undefined> {
  // Errors reach us through the iteration of `engine`; the callback only keeps them from going unhandled.
  stream().pipeline(feed, engine, () => {});
  try {
    for await (const chunk of engine as AsyncIterable<Buffer>) {
      context.onOutput(chunk.length);
      yield chunk;
    }
    return engine.bytesWritten;
  } catch (error) {
    if (!isZlibError(error)) throw error;
    throw mapError(error, engine.bytesWritten);
  } finally {
    engine.destroy();
    feed.destroy();
  }
}
