import { Readable } from 'node:stream';
import { constants, createZstdDecompress, zstdDecompressSync } from 'node:zlib';
import { ImgfsError } from '../errors.js';
import { assertMemberStart, type DecodeContext, type Inflater, type RawInput } from './inflater.js';
import { drainEngine, isZlibError, type ZlibError } from './zlib-drain.js';
import { MAX_ZSTD_WINDOW, ZstdFrameError, ZstdFrameScanner } from './zstd-frames.js';

/** Output chunk size of the native decoder: large, so a layer costs few round trips to the thread pool. */
const ZSTD_CHUNK_SIZE = 256 * 1024;
/**
 * A frame whose compressed bytes are all at hand and at most this long is decoded in one synchronous
 * call: zstd:chunked writes one frame per file, and a stream per frame would cost more than the
 * decoding. Its output is bounded by SYNC_OUTPUT_LIMIT; a frame that decodes to more goes through a
 * stream like any other.
 */
const SYNC_FRAME_LIMIT = 128 * 1024;
const SYNC_OUTPUT_LIMIT = 4 * 1024 * 1024;
/** The native decoder refuses a larger window too (the frame parser refuses it first, with its offset). */
const WINDOW_LOG_MAX = Math.ceil(Math.log2(MAX_ZSTD_WINDOW));
const DECODER_PARAMS = { [constants.ZSTD_d_windowLogMax]: WINDOW_LOG_MAX };

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

/** The native decoder's error for the frame that starts at `frameStart`, `consumed` bytes into it. */
function decoderError(name: string, error: ZlibError, frameStart: number, consumed: number): ImgfsError {
  if (error.code === 'Z_BUF_ERROR') return truncated(name, error);
  if (error.code === 'ZSTD_error_frameParameter_windowTooLarge') {
    return windowTooLarge(name, `zstd frame at compressed offset ${frameStart} needs more than the ${MAX_ZSTD_WINDOW / 2 ** 20} MiB window allowed`, error);
  }
  return corrupt(name, error.message, frameStart + consumed, error);
}

/**
 * zstd through node:zlib's native decoder, one decoder per frame: ZstdFrameScanner reads the frame and
 * block headers ahead of the decoder, so it knows where each frame ends (every frame start, skippable
 * frames included, is a checkpoint that needs no decoder state: a multi-frame layer such as
 * zstd:chunked is randomly accessible) and refuses a frame that declares a window over MAX_ZSTD_WINDOW
 * before any memory is allocated for it. Content checksums are checked by the decoder.
 */
export const zstdInflater: Inflater = {
  compression: 'zstd',
  recordsFreely: true,
  decode: decodeZstd,
};

async function* decodeZstd(input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  const { from, name, recording } = context;
  assertMemberStart('zstd', from);
  const frames = new FrameReader(input(from.rawOffset), from.rawOffset, name);
  let produced = from.outOffset;
  let lastCheckpoint = from.outOffset;
  try {
    while (await frames.fill()) {
      const frameStart = frames.position;
      if (recording !== undefined && frameStart > from.rawOffset && produced - lastCheckpoint >= recording.spacing) {
        lastCheckpoint = produced;
        recording.onCheckpoint({ rawOffset: frameStart, outOffset: produced });
      }
      const whole = frames.wholeFrame(SYNC_FRAME_LIMIT);
      const decoded = whole !== undefined ? decodeWhole(whole, frameStart, context) : decodeStreaming(frames.frame(), frameStart, context);
      for await (const chunk of decoded) {
        produced += chunk.length;
        yield chunk;
      }
    }
  } finally {
    await frames.close();
  }
}

/** One small frame in one call; one that decodes to more than SYNC_OUTPUT_LIMIT is streamed instead. */
async function* decodeWhole(frame: Buffer, frameStart: number, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  let output: Buffer;
  try {
    output = zstdDecompressSync(frame, { maxOutputLength: SYNC_OUTPUT_LIMIT, params: DECODER_PARAMS });
  } catch (error) {
    if (error instanceof RangeError) {
      yield* decodeStreaming([frame], frameStart, context);
      return;
    }
    if (!isZlibError(error)) throw error;
    throw decoderError(context.name, error, frameStart, 0);
  }
  if (output.length === 0) return;
  context.onOutput(output.length);
  yield output;
}

/** A frame through a native stream, its output in ZSTD_CHUNK_SIZE pieces counted before they are kept. */
async function* decodeStreaming(
  frame: Iterable<Buffer> | AsyncIterable<Buffer>,
  frameStart: number,
  context: DecodeContext,
): AsyncGenerator<Buffer, void, undefined> {
  const engine = createZstdDecompress({ chunkSize: ZSTD_CHUNK_SIZE, params: DECODER_PARAMS });
  yield* drainEngine(Readable.from(frame, { objectMode: false }), engine, context, (error, consumed) =>
    decoderError(context.name, error, frameStart, consumed),
  );
}

/**
 * The compressed input cut at frame boundaries: `fill` makes sure a frame starts at `position` (false at
 * the end of the input), then `wholeFrame` takes it when it is small and at hand, or `frame` streams it.
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

  /** The frame at `position` as one buffer, if its end is in the chunk at hand and it is small. */
  wholeFrame(limit: number): Buffer | undefined {
    const end = this.ends[0];
    if (end === undefined || end - this.position > limit || end - this.position > this.pending.length) return undefined;
    return this.take(end - this.position);
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
