import { zlib } from '../lazy-zlib.js';
import { ImgfsError } from '../errors.js';
import { assertMemberStart, OUTPUT_BUFFER_SIZE, type DecodeContext, type Inflater, type RawInput } from './inflater.js';
import { SpanOutput } from './span-output.js';
import type { Left } from './zlib-handle.js';
import { openZstdHandle, type ZstdHandle } from './zstd-handle.js';
import { isZlibError } from './zlib-drain.js';
import { MAX_ZSTD_WINDOW, ZstdFrameError, ZstdFrameScanner } from './zstd-frames.js';

/** Output chunk size of the native decoder: a span (SPAN_SIZE), so that spans are views of its output buffers. */
const ZSTD_CHUNK_SIZE = 1024 * 1024;
/** The native decoder refuses a larger window too (the frame parser refuses it first, with its offset). */
const WINDOW_LOG_MAX = Math.ceil(Math.log2(MAX_ZSTD_WINDOW));

function truncated(name: string, cause?: unknown): ImgfsError {
  return new ImgfsError('ETRUNCATED', 'zstd stream truncated', { archive: name, cause });
}

function corrupt(name: string, message: string, near: number, cause?: unknown): ImgfsError {
  return new ImgfsError('ECOMPRESSION', `corrupt zstd data: ${message} (near compressed offset ${near})`, { archive: name, cause });
}

function windowTooLarge(name: string, message: string, cause?: unknown): ImgfsError {
  return new ImgfsError('ELIMIT', `${message} (the zstd CLI default); decompress it with zstd --memory and recompress without --long`, {
    archive: name,
    cause,
  });
}

/** What the native decoder failed with, `near` a compressed offset (the end of the input it was given). */
function decoderError(name: string, error: unknown, near: number): unknown {
  if (error instanceof ImgfsError) return error;
  if (isZlibError(error) && error.code === 'Z_BUF_ERROR') return truncated(name, error);
  if (isZlibError(error) && error.code === 'ZSTD_error_frameParameter_windowTooLarge') {
    return windowTooLarge(name, `zstd frame near compressed offset ${near} needs more than the ${MAX_ZSTD_WINDOW / 2 ** 20} MiB window allowed`, error);
  }
  // Whatever else the decoder or its stream reports comes from the data: corrupt input, never a crash.
  return corrupt(name, error instanceof Error ? error.message : String(error), near, error);
}

/**
 * zstd through node:zlib's native decoder. ZstdFrameScanner reads the frame and block headers ahead of
 * the decoder, so it knows where each frame ends (every frame start, skippable frames included, is a
 * checkpoint that needs no decoder state: a multi-frame layer such as zstd:chunked is randomly
 * accessible) and refuses a frame that declares a window over MAX_ZSTD_WINDOW before any memory is
 * allocated for it. Content checksums are checked by the decoder.
 *
 * One decoder serves all frames, given input that never reaches past the end of a frame in one write:
 * node:zlib ends its stream when the decoder finishes a frame with input left over, and a write that
 * ends a frame has, once its callback ran, all the frame's output pushed, so the decompressed offset of
 * every frame start is exact.
 */
export const zstdInflater: Inflater = {
  compression: 'zstd',
  recordsFreely: true,
  decode: decodeZstd,
};

async function* decodeZstd(input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  assertMemberStart('zstd', context.from);
  const handle = openZstdHandle(WINDOW_LOG_MAX);
  yield* handle === undefined ? decodeThroughStream(input, context) : decodeThroughHandle(handle, input, context);
}

/** Decodes into span-aligned output buffers (SpanOutput), which the span cache hands back once evicted. */
async function* decodeThroughHandle(handle: ZstdHandle, input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  const { from, name } = context;
  // Recycled input: the engine is done with a piece when its write resolves, and the frame reader
  // asks for the next chunk only once the last one is used up (or copied, with what is left of it).
  const frames = new FrameReader(input(from.rawOffset, true), from.rawOffset, name);
  const output = new SpanOutput(context);
  let produced = from.outOffset;
  try {
    for await (const piece of piecesOf(frames, context, () => produced)) {
      let inAt = 0;
      for (;;) {
        let left: Left;
        try {
          left = await handle.write(piece, inAt, piece.length, output.buffer, output.at, OUTPUT_BUFFER_SIZE);
        } catch (error) {
          throw decoderError(name, error, frames.position);
        }
        const chunk = output.take(output.room - left.output);
        const used = piece.length - inAt - left.input;
        inAt += used;
        if (chunk !== undefined) {
          produced += chunk.length;
          yield chunk;
        }
        // Full: the decoder may hold more output for this input.
        if (output.renewIfFull()) continue;
        // Room left in the output: everything this input decodes to is out.
        if (inAt === piece.length) break;
        // A frame ended before the piece did, though the frame headers said it goes on.
        if (chunk === undefined && used === 0) throw corrupt(name, 'frame ends before its last block', frames.position);
      }
    }
  } finally {
    handle.close();
    await frames.close();
  }
}

async function* decodeThroughStream(input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  const { from, name } = context;
  const frames = new FrameReader(input(from.rawOffset), from.rawOffset, name);
  const engine = zlib().createZstdDecompress({ chunkSize: ZSTD_CHUNK_SIZE, params: { [zlib().constants.ZSTD_d_windowLogMax]: WINDOW_LOG_MAX } });
  let failure: unknown;
  let signalled = false;
  let wake: (() => void) | undefined;
  const signal = (): void => {
    signalled = true;
    wake?.();
  };
  engine.on('readable', signal);
  engine.on('error', (error) => {
    failure ??= error;
    signal();
  });
  // Only the decoder ends its stream, at a frame end with input left: the frame is shorter than its headers say.
  engine.on('end', () => {
    failure ??= new Error('frame ends before its last block');
    signal();
  });
  let produced = from.outOffset;
  try {
    for await (const piece of piecesOf(frames, context, () => produced)) {
      let written = false;
      engine.write(piece, () => {
        written = true;
        signal();
      });
      for (;;) {
        const done = written; // read before draining: its output was all pushed before the callback
        for (let chunk: Buffer | null = engine.read() as Buffer | null; chunk !== null; chunk = engine.read() as Buffer | null) {
          context.onOutput(chunk.length);
          produced += chunk.length;
          yield chunk;
        }
        if (failure !== undefined) throw decoderError(name, failure, frames.position);
        if (done) break;
        if (!signalled) await new Promise<void>((resolve) => (wake = resolve));
        signalled = false;
        wake = undefined;
      }
    }
  } finally {
    engine.destroy();
    await frames.close();
  }
}

/**
 * The input in pieces that end at frame ends at the latest; at a frame start with at least
 * `recording.spacing` bytes decoded since the last checkpoint (`produced()`, which by then counts all
 * the output of the frames before), that frame start is recorded as a checkpoint.
 */
async function* piecesOf(frames: FrameReader, context: DecodeContext, produced: () => number): AsyncGenerator<Buffer, void, undefined> {
  const { from, recording } = context;
  let lastCheckpoint = from.outOffset;
  while (await frames.fill()) {
    const frameStart = frames.position;
    const at = produced();
    if (recording !== undefined && frameStart > from.rawOffset && at - lastCheckpoint >= recording.spacing) {
      lastCheckpoint = at;
      recording.onCheckpoint({ rawOffset: frameStart, outOffset: at });
    }
    yield* frames.frame();
  }
}

/**
 * The compressed input cut at frame boundaries: `fill` makes sure a frame starts at `position` (false at
 * the end of the input), then `frame` hands it out in pieces that end at its end at the latest.
 * Every chunk is scanned as it is read, so a bad header fails before any of that chunk is decoded.
 */
class FrameReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private readonly scanner: ZstdFrameScanner;
  /** The unconsumed rest of the last chunk read; it starts at `position`. */
  private pending: Buffer = Buffer.alloc(0);
  /** Absolute offsets of the frame ends found in chunks read so far and not yet passed, increasing. */
  private ends: number[] = [];
  private ended = false;
  /** Absolute offset of the next byte to hand out. */
  position: number;

  constructor(
    input: AsyncIterable<Buffer>,
    rawOffset: number,
    private readonly name: string,
  ) {
    this.chunks = input[Symbol.asyncIterator]();
    this.scanner = new ZstdFrameScanner(rawOffset);
    this.position = rawOffset;
  }

  /** Whether another frame starts at `position`; throws ETRUNCATED when the input ends inside one. */
  async fill(): Promise<boolean> {
    if (this.pending.length === 0) await this.read();
    if (this.pending.length > 0) return true;
    if (!this.scanner.atFrameStart) throw truncated(this.name);
    return false;
  }

  /** The frame at `position`, up to its end or the end of the input. */
  async *frame(): AsyncGenerator<Buffer, void, undefined> {
    for (;;) {
      if (this.pending.length === 0 && !(await this.read())) return;
      const end = this.ends[0];
      if (end !== undefined && end - this.position <= this.pending.length) {
        yield this.take(end - this.position);
        return;
      }
      yield this.take(this.pending.length);
    }
  }

  async close(): Promise<void> {
    this.ended = true;
    await this.chunks.return?.();
  }

  private take(length: number): Buffer {
    const piece = this.pending.subarray(0, length);
    this.pending = this.pending.subarray(length);
    this.position += length;
    while (this.ends[0] !== undefined && this.ends[0] <= this.position) this.ends.shift();
    return piece;
  }

  /** Reads and scans the next chunk; false at the end of the input. */
  private async read(): Promise<boolean> {
    while (!this.ended) {
      const next = await this.chunks.next();
      if (next.done === true) {
        this.ended = true;
        return false;
      }
      if (next.value.length === 0) continue;
      const base = this.position + this.pending.length;
      let ends: number[];
      try {
        ends = this.scanner.scan(next.value);
      } catch (error) {
        if (!(error instanceof ZstdFrameError)) throw error;
        if (error.window !== undefined) throw windowTooLarge(this.name, error.message, error);
        throw corrupt(this.name, error.message, error.offset, error);
      }
      for (const end of ends) this.ends.push(base + end);
      this.pending = this.pending.length === 0 ? next.value : Buffer.concat([this.pending, next.value]);
      return true;
    }
    return false;
  }
}
