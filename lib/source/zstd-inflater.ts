import { Decompress } from 'fzstd';
import { ImgfsError } from '../errors.js';
import { assertMemberStart, type DecodeContext, type Inflater, type RawInput } from './inflater.js';
import { ZstdFrameGuard } from './zstd-frame-guard.js';
import { ZstdFrameError, ZstdFrameScanner } from './zstd-frames.js';
import { decodeZstdInWorker, zstdStallMs, zstdWorkerScript } from './zstd-worker-job.js';

/**
 * Input is fed to fzstd in pieces this small because one push cannot be interrupted: a piece of highly
 * compressible data (4 bytes per 128 KiB block of zeros) would otherwise decode to gigabytes at once.
 * 1 KiB bounds one push to 32 MiB of output; fzstd buffers partial blocks without copying, so small
 * pieces cost nothing measurable.
 */
const PIECE_SIZE = 1024;

/** fzstd's code for "unexpected EOF". */
const ZSTD_UNEXPECTED_EOF = 5;

function zstdErrorCode(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as Error & { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

function truncated(name: string, cause?: unknown): ImgfsError {
  return new ImgfsError('ETRUNCATED', 'zstd stream truncated', { archive: name, cause });
}

function corrupt(name: string, message: string, near: number, cause?: unknown): ImgfsError {
  return new ImgfsError('ECOMPRESSION', `corrupt zstd data: ${message} (near compressed offset ${near})`, {
    archive: name,
    cause,
  });
}

/**
 * zstd through fzstd's streaming decoder, one decoder per frame: ZstdFrameScanner finds where each frame
 * ends from the frame and block headers, so every frame start (skippable frames included) is a checkpoint
 * that needs no decoder state. A checkpoint must be at the start of a frame: fzstd cannot resume inside
 * one, so a single-frame layer has no checkpoint but its start. fzstd does not verify content checksums.
 *
 * fzstd runs on a decoder thread under a watchdog (zstd-worker-job.ts), always, whatever the size: it
 * trusts the sequences of a compressed block, and 18 crafted bytes keep one synchronous `push` busy for
 * most of a minute, which nothing on the calling thread could interrupt. A decoder that falls
 * `zstdStallMs` (default 10 s) behind ZSTD_MIN_RATE, as one that makes no progress at all does in that
 * time, is terminated and the read fails with ECOMPRESSION. Only when the worker's compiled script
 * cannot be found (the TypeScript sources run as they are, as under vitest) does fzstd run on the
 * calling thread.
 */
export const zstdInflater: Inflater = {
  compression: 'zstd',
  recordsFreely: true,

  decode(input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
    const script = zstdWorkerScript();
    if (script === undefined) return decodeZstdHere(input, context);
    return decodeZstdInWorker(script, input, context, zstdStallMs(context));
  },
};

/** What the worker thread watches of a decoding: when fzstd is busy, and up to which compressed offset it has been given input. */
export interface ZstdDecodeHooks {
  /** Called just before fzstd is given more input; what it has been given ends at compressed offset `consumed`. */
  readonly beforePush: (consumed: number) => void;
  /** Called when fzstd has returned (or thrown). */
  readonly afterPush: () => void;
}

/**
 * The decoding itself, on the thread that calls it: zstdInflater.decode's contract, the thread aside.
 * The worker thread runs this too (zstd-worker.ts), with `hooks` feeding the watchdog.
 */
export async function* decodeZstdHere(input: RawInput, context: DecodeContext, hooks?: ZstdDecodeHooks): AsyncGenerator<Buffer, void, undefined> {
  const { from, name, recording } = context;
  assertMemberStart('zstd', from);
  let output: Buffer[] = [];
  const onData = (data: Uint8Array): void => {
    if (data.length === 0) return;
    context.onOutput(data.length);
    output.push(Buffer.from(data)); // a copy: fzstd's buffers are its own business
  };
  let decoder = new Decompress(onData);
  const scanner = new ZstdFrameScanner();
  // Refuses a frame that declares a huge window before fzstd allocates it.
  const guard = new ZstdFrameGuard(name, from.rawOffset);
  let consumed = from.rawOffset;
  let produced = from.outOffset;
  let lastCheckpoint = from.outOffset;
  /** Set at a frame end: the next frame starts here, once a byte of it is seen. */
  let frameStart: number | undefined;

  /** The output so far, counted. */
  const take = (): Buffer[] => {
    const ready = output;
    output = [];
    for (const buffer of ready) produced += buffer.length;
    return ready;
  };

  const push = (piece: Uint8Array, final: boolean): void => {
    hooks?.beforePush(consumed);
    try {
      decoder.push(piece, final);
    } catch (error) {
      if (error instanceof ImgfsError) throw error; // from onOutput
      if (zstdErrorCode(error) === ZSTD_UNEXPECTED_EOF) throw truncated(name, error);
      // Whatever else fzstd throws comes from the data (it trusts sizes in it: a block larger than its
      // frame says ends in a RangeError, a bad table in a TypeError): corrupt input, never a crash.
      throw corrupt(name, error instanceof Error ? error.message : String(error), consumed, error);
    } finally {
      hooks?.afterPush();
    }
  };

  for await (const chunk of input(from.rawOffset)) {
    let ends: number[];
    try {
      ends = scanner.scan(chunk);
    } catch (error) {
      if (!(error instanceof ZstdFrameError)) throw error;
      throw corrupt(name, error.message, from.rawOffset + error.offset, error);
    }
    const stops = ends.map((end) => ({ end, frameEnd: true }));
    if (stops.at(-1)?.end !== chunk.length) stops.push({ end: chunk.length, frameEnd: false });
    let at = 0;
    for (const { end, frameEnd } of stops) {
      while (at < end) {
        if (frameStart !== undefined) {
          if (recording !== undefined && produced - lastCheckpoint >= recording.spacing) {
            lastCheckpoint = produced;
            recording.onCheckpoint({ rawOffset: frameStart, outOffset: produced });
          }
          frameStart = undefined;
        }
        const piece = chunk.subarray(at, Math.min(end, at + PIECE_SIZE));
        guard.scan(piece);
        consumed += piece.length;
        at += piece.length;
        push(piece, false);
        yield* take();
      }
      if (!frameEnd) continue;
      // A frame ended: flush it and start afresh, so that nothing of it is left inside the decoder.
      push(new Uint8Array(0), true);
      decoder = new Decompress(onData);
      frameStart = consumed;
      yield* take();
    }
  }
  if (!scanner.atFrameStart) throw truncated(name);
  push(new Uint8Array(0), true);
  yield* take();
}
