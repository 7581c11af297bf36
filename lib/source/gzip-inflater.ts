import { Readable } from 'node:stream';
import { constants, createGunzip, createInflateRaw, gunzipSync, inflateRawSync } from 'node:zlib';
import { resumeHead, resumeHeadExtra, withResumeHead } from './deflate-resume.js';
import { GZIP_TRAILER, gzipCorrupt, gzipTruncated } from './gzip-format.js';
import { recordGzipOffThread } from './gzip-record-job.js';
import { isMemberStart, type Checkpoint, type DecodeContext, type Inflater, type RawInput } from './inflater.js';
import { drainEngine, type ZlibEngine } from './zlib-drain.js';

/** Output chunk size of the zlib engine: a span (SPAN_SIZE), so that spans are views of its output buffers. */
const GUNZIP_CHUNK_SIZE = 1024 * 1024;

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
    if (isMemberStart(context.from)) return gunzip(input(context.from.rawOffset), context.from.rawOffset, context);
    return resumeMember(input, context);
  },

  decodeSync(compressed: Buffer, from: Checkpoint, maxOutput: number): Buffer | undefined {
    // Z_SYNC_FLUSH at the end: a cut input yields what it decodes to, instead of an error.
    const options = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: Math.max(1, maxOutput) };
    try {
      if (isMemberStart(from)) return gunzipSync(compressed, options);
      if (compressed.length === 0) return Buffer.alloc(0);
      const head = resumeHead(compressed[0] ?? 0, from.bits ?? 0);
      const input = Buffer.concat([head, compressed.subarray(1)]);
      const window = from.window;
      return inflateRawSync(input, window !== undefined && window.length > 0 ? { ...options, dictionary: window } : options);
    } catch {
      return undefined;
    }
  },
};

/** Members from `rawOffset` (the start of one) to the end of the input, through node:zlib's Gunzip. */
async function* gunzip(
  input: AsyncIterable<Buffer>,
  rawOffset: number,
  context: DecodeContext,
): AsyncGenerator<Buffer, void, undefined> {
  const feed = Readable.from(input, { objectMode: false });
  yield* drain(feed, createGunzip({ chunkSize: context.outputChunk ?? GUNZIP_CHUNK_SIZE }), rawOffset, context);
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
  const feed = Readable.from(withResumeHead(input(from.rawOffset), bits), { objectMode: false });
  const window = from.window;
  const engine = createInflateRaw({
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
