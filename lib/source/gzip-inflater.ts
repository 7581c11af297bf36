import type { Readable } from 'node:stream';
import { stream } from '../lazy-stream.js';
import { zlib } from '../lazy-zlib.js';
import { resumeHead, resumeHeadExtra, withResumeHead } from './deflate-resume.js';
import { GZIP_TRAILER, gzipCorrupt, gzipTruncated } from './gzip-format.js';
import { openGunzipHandle, openInflateRawHandle, type GunzipHandle } from './gzip-handle.js';
import { recordGzipOffThread } from './gzip-record-job.js';
import { nativeEngine, type NativeEngine } from './native-gzip-recorder.js';
import { isMemberStart, OUTPUT_BUFFER_SIZE, type Checkpoint, type DecodeContext, type Inflater, type RawInput } from './inflater.js';
import { SpanOutput } from './span-output.js';
import { drainEngine, type ZlibEngine } from './zlib-drain.js';
import type { Left } from './zlib-handle.js';

/** Output chunk size of the zlib engine: a span (SPAN_SIZE), so that spans are views of its output buffers. */
const GUNZIP_CHUNK_SIZE = 1024 * 1024;

/** Largest output chunk decodeSync's fallback allocates at once (its reads span two checkpoints). */
const SYNC_CHUNK_MAX = 8 * 1024 * 1024;

/**
 * gzip. Node's Gunzip decodes concatenated members one after another and ignores zero bytes after the
 * last member (padding some writers add); anything else after a member is an error, as in Go's gzip
 * reader that containerd uses.
 *
 * Decoding is native (node:zlib). A pass that records checkpoints from a member start drives node:zlib's
 * handle block by block (native-gzip-recorder.ts); one that starts inside a member runs pako
 * (gzip-recorder.ts); either in a worker thread for a large stream when a core is idle
 * (gzip-record-job.ts). A checkpoint
 * inside a member is resumed natively: a raw inflater primed with the checkpoint's window as its
 * dictionary and with the bit offset replayed by deflate-resume.ts, up to the end of the member, then
 * Gunzip again for the members after it. The CRC of a member entered in the middle cannot be checked.
 */
export const gzipInflater: Inflater = {
  compression: 'gzip',
  recordsFreely: false,

  decode(input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
    if (context.recording !== undefined) return recordGzipOffThread(input, context, context.rawSize);
    if (isMemberStart(context.from)) {
      // A small read that stops early (`outputChunk`) takes the stream, whose chunks it sizes.
      const handle = context.outputChunk === undefined ? openGunzipHandle() : undefined;
      return handle === undefined ? gunzip(input(context.from.rawOffset), context.from.rawOffset, context) : gunzipThroughHandle(handle, input, context);
    }
    const handle = context.outputChunk === undefined ? openInflateRawHandle(context.from.window) : undefined;
    return handle === undefined ? resumeMember(input, context) : resumeMemberThroughHandle(handle, input, context);
  },

  decodeSync(compressed: Buffer, from: Checkpoint, skip: number, length: number): Buffer | undefined {
    const input = isMemberStart(from) ? compressed : compressed.length === 0 ? compressed : Buffer.concat([resumeHead(compressed[0] ?? 0, from.bits ?? 0), compressed.subarray(1)]);
    const window = from.window;
    const engine = nativeEngine(() => (isMemberStart(from) ? zlib().createGunzip() : zlib().createInflateRaw(window !== undefined && window.length > 0 ? { dictionary: window } : {})));
    if (engine === undefined) return decodeWhole(input, from, skip, length);
    try {
      return decodeRange(engine, input, skip, length);
    } finally {
      engine.close();
    }
  },
};

/**
 * Output before the bytes a synchronous decode wants goes round this buffer, and only the wanted bytes
 * are kept: a warm read of a small file ~1 MB past its checkpoint touched a fresh megabyte of output
 * (page faults: about as dear as the inflating here) and decoded on past the file to the end of its input.
 */
const SKIP_CHUNK = 64 * 1024;
let skipBuffer: Buffer | undefined;

/** `decodeSync` through the engine's handle: Z_SYNC_FLUSH writes until `skip + length` bytes are out or nothing moves. */
function decodeRange(engine: NativeEngine, input: Buffer, skip: number, length: number): Buffer | undefined {
  const { handle, state } = engine;
  let failed = false;
  handle.onerror = () => {
    failed = true;
  };
  const out = Buffer.allocUnsafeSlow(length);
  let inAt = 0;
  let skipped = 0;
  let filled = 0;
  while (filled < length) {
    const skipping = skipped < skip;
    const target = skipping ? (skipBuffer ??= Buffer.allocUnsafeSlow(SKIP_CHUNK)) : out;
    const at = skipping ? 0 : filled;
    const room = skipping ? Math.min(SKIP_CHUNK, skip - skipped) : length - filled;
    const inLength = input.length - inAt;
    handle.writeSync(zlib().constants.Z_SYNC_FLUSH, input, inAt, inLength, target, at, room);
    if (failed) return undefined;
    const produced = room - (state[0] as number);
    inAt += inLength - (state[1] as number);
    if (skipping) skipped += produced;
    else filled += produced;
    // Nothing more out of this input: it is cut here, or the member (or the last one) ended.
    if (produced < room && (produced === 0 || inAt === input.length)) break;
  }
  return filled === length ? out : out.subarray(0, filled);
}

/** `decodeSync` where the handle is not there: one call of node:zlib's sync API, bounded by the bytes wanted. */
function decodeWhole(input: Buffer, from: Checkpoint, skip: number, length: number): Buffer | undefined {
  const limit = Math.max(1, skip + length);
  const { constants, gunzipSync, inflateRawSync } = zlib();
  const chunkSize = Math.max(constants.Z_MIN_CHUNK, Math.min(limit, SYNC_CHUNK_MAX));
  const options = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: limit, chunkSize };
  try {
    if (input.length === 0) return Buffer.alloc(0);
    const window = from.window;
    const decoded = isMemberStart(from) ? gunzipSync(input, options) : inflateRawSync(input, window !== undefined && window.length > 0 ? { ...options, dictionary: window } : options);
    return Buffer.from(decoded.subarray(skip, skip + length));
  } catch {
    return undefined;
  }
}

/** Members from `rawOffset` (the start of one) to the end of the input, through node:zlib's Gunzip. */
async function* gunzip(
  input: AsyncIterable<Buffer>,
  rawOffset: number,
  context: DecodeContext,
): AsyncGenerator<Buffer, void, undefined> {
  const feed = stream().Readable.from(input, { objectMode: false });
  yield* drain(feed, zlib().createGunzip({ chunkSize: context.outputChunk ?? GUNZIP_CHUNK_SIZE }), rawOffset, context);
}

/**
 * Members from a member start to the end of the input (or the zero padding after the last one), as
 * `gunzip` does, but inflated into span-aligned output buffers (SpanOutput), which the span cache
 * hands back once evicted. The input goes round a few read buffers.
 */
async function* gunzipThroughHandle(handle: GunzipHandle, input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  const { from } = context;
  // Recycled input: the engine is done with a chunk once its writes resolved, and the next chunk is
  // asked for only then. Input left when the engine stops: zero padding after the last member
  // (ignored, as by Gunzip).
  yield* throughHandle(handle, input(from.rawOffset, true)[Symbol.asyncIterator](), context, (consumed) => from.rawOffset + consumed);
}

/**
 * Drives `handle` over `chunks` into span-aligned output buffers (SpanOutput), yielding what it
 * inflates, until the input ends (one last write with Z_FINISH, which fails with Z_BUF_ERROR inside
 * deflate data) or the engine stops with input left (the end of its deflate data, or of the last
 * member); returns the input bytes it consumed. `near` places an error, given those bytes.
 */
async function* throughHandle(
  handle: GunzipHandle,
  chunks: AsyncIterator<Buffer>,
  context: DecodeContext,
  near: (consumed: number) => number,
): AsyncGenerator<Buffer, number, undefined> {
  const output = new SpanOutput(context);
  let consumed = 0;
  try {
    for (;;) {
      const next = await chunks.next();
      const finish = next.done === true;
      const piece = finish ? Buffer.alloc(0) : next.value;
      let inAt = 0;
      for (;;) {
        let left: Left;
        try {
          left = await handle.write(piece, inAt, piece.length, output.buffer, output.at, OUTPUT_BUFFER_SIZE, finish);
        } catch (error) {
          throw error instanceof Error ? handleError(context.name, error, near(consumed)) : error;
        }
        const chunk = output.take(output.room - left.output);
        const used = piece.length - inAt - left.input;
        inAt += used;
        consumed += used;
        if (chunk !== undefined) yield chunk;
        // Full: the engine may hold more output for this input.
        if (output.renewIfFull()) continue;
        if (inAt === piece.length) break;
        return consumed; // room and input left: the engine has stopped
      }
      if (finish) return consumed;
    }
  } finally {
    handle.close();
    await chunks.return?.();
  }
}

/** An error of the native engine as ETRUNCATED or ECOMPRESSION near raw offset `near`. */
function handleError(name: string, error: Error, near: number): Error {
  const errno = (error as Partial<{ errno: number }>).errno;
  if (errno === zlib().constants.Z_BUF_ERROR) return gzipTruncated(name, error);
  return gzipCorrupt(name, error.message, near, error);
}

/** zlib's errors as ETRUNCATED or ECOMPRESSION near `rawOffset` plus what the engine consumed. */
function drain(feed: Readable, engine: ZlibEngine, rawOffset: number, context: DecodeContext): AsyncGenerator<Buffer, number, undefined> {
  return drainEngine(feed, engine, context, (error, consumed) =>
    error.code === 'Z_BUF_ERROR' ? gzipTruncated(context.name, error) : gzipCorrupt(context.name, error.message, rawOffset + consumed, error),
  );
}

/** From a checkpoint inside a member: the rest of that member natively, then the members after it. */
async function* resumeMember(input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  const { from } = context;
  const bits = from.bits ?? 0;
  const feed = stream().Readable.from(withResumeHead(input(from.rawOffset), bits), { objectMode: false });
  const window = from.window;
  const engine = zlib().createInflateRaw({
    chunkSize: context.outputChunk ?? GUNZIP_CHUNK_SIZE,
    ...(window !== undefined && window.length > 0 ? { dictionary: window } : {}),
  });
  // The raw inflater stops at the end of the deflate data and ends its output, ignoring what follows;
  // input that ends before that is an error (Z_BUF_ERROR).
  const consumed = yield* drain(feed, engine, from.rawOffset, context);
  const deflateEnd = from.rawOffset + consumed - resumeHeadExtra(bits);
  yield* afterMember(input, deflateEnd, context);
}

/**
 * `resumeMember` inflated into span-aligned output buffers (SpanOutput), as `gunzipThroughHandle`
 * does from a member start: the stream's chunks start wherever the checkpoint is, so each span made of
 * them was a copy into a fresh megabyte (page faults, and a GC for every few dozen of them).
 */
async function* resumeMemberThroughHandle(handle: GunzipHandle, input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  const { from } = context;
  const bits = from.bits ?? 0;
  const extra = resumeHeadExtra(bits);
  // The engine stops where the member's deflate data ends (its trailer follows).
  const chunks = withResumeHead(input(from.rawOffset), bits)[Symbol.asyncIterator]();
  const consumed = yield* throughHandle(handle, chunks, context, (done) => from.rawOffset + Math.max(0, done - extra));
  yield* afterMember(input, from.rawOffset + consumed - extra, context);
}

/**
 * What follows a member whose deflate data ends at `deflateEnd`: its 8-byte trailer, then the end of the
 * input, zero padding (ignored to the end, like Gunzip), or another member.
 */
async function* afterMember(input: RawInput, deflateEnd: number, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  const iterator = input(deflateEnd)[Symbol.asyncIterator]();
  try {
    let head = Buffer.alloc(0);
    let done = false;
    while (head.length <= GZIP_TRAILER && !done) {
      const next = await iterator.next();
      if (next.done === true) done = true;
      else head = Buffer.concat([head, next.value]);
    }
    if (head.length < GZIP_TRAILER) throw gzipTruncated(context.name);
    if (head.length === GZIP_TRAILER || head[GZIP_TRAILER] === 0) return;
    const first = head.subarray(GZIP_TRAILER);
    async function* rest(): AsyncGenerator<Buffer, void, undefined> {
      yield first;
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield next.value;
    }
    yield* gunzip(rest(), deflateEnd + GZIP_TRAILER, context);
  } finally {
    await iterator.return?.();
  }
}
