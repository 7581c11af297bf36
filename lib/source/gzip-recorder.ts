import { withResumeHead, resumeHeadExtra } from './deflate-resume.js';
import { GZIP_TRAILER, gzipCorrupt, gzipTruncated } from './gzip-format.js';
import { DEFLATE_WINDOW, isMemberStart, type Checkpoint, type DecodeContext } from './inflater.js';

/** Output is handed on in chunks of this size. */
const OUTPUT_CHUNK = 64 * 1024;
/** windowBits for pako: 15 plus 16 for the gzip wrapper; negative for raw deflate. */
const GZIP_WINDOW_BITS = 16 + 15;
const RAW_WINDOW_BITS = -15;
/** `data_type` bits after `inflate(Z_BLOCK)`, as in zlib. */
const AT_BLOCK_BOUNDARY = 128;
const IN_LAST_BLOCK = 64;
const UNUSED_BITS = 7;

/** The part of pako's private inflate state read here (zlib's `state->bits`). */
interface InflateState {
  bits: number;
}

/**
 * gzip through pako, recording checkpoints: what zlib's `zran.c` does, in JavaScript. `inflate(Z_BLOCK)`
 * stops at every deflate block boundary; once `spacing` bytes have been produced since the last
 * checkpoint, the next boundary becomes one, with its bit position and the 32 KiB window before it. The
 * start of each gzip member after the first is a checkpoint of its own, with no window. Decoding starts at
 * a member start (gzip mode, CRC checked) or at a checkpoint inside a member (raw mode with the window as
 * dictionary; the CRC of that member cannot be checked). Same results and errors as the native path.
 */
export async function* recordGzip(
  input: (rawOffset: number) => AsyncIterable<Buffer>,
  context: DecodeContext,
): AsyncGenerator<Buffer, void, undefined> {
  const { from, name, onOutput } = context;
  const recording = context.recording;
  if (recording === undefined) throw new Error('recordGzip needs context.recording');
  const bits = from.bits ?? 0;
  const midMember = !isMemberStart(from);

  // Loaded on first use: most runs never record, and a CLI bundle may leave pako outside (`--external`).
  const { Z_BLOCK, Z_BUF_ERROR, Z_OK, Z_STREAM_END, ZStream, zlibInflate, zlibInflateInit2, zlibInflateReset2, zlibInflateSetDictionary } =
    await import('pako');
  const check = (status: number, near: number): void => {
    if (status !== Z_OK) throw gzipCorrupt(name, strm.msg || `inflate status ${status}`, near);
  };
  const strm = new ZStream();
  if (midMember) {
    check(zlibInflateInit2(strm, RAW_WINDOW_BITS), from.rawOffset);
    if (from.window !== undefined && from.window.length > 0) {
      check(zlibInflateSetDictionary(strm, from.window), from.rawOffset);
    }
  } else {
    check(zlibInflateInit2(strm, GZIP_WINDOW_BITS), from.rawOffset);
  }
  const state = strm.state as InflateState;

  /** Inside a member (false: between members, looking at what follows). */
  let inMember = true;
  /** Whether the current member is decoded in raw mode, so its trailer is ours to skip. */
  let raw = midMember;
  let trailerLeft = 0;
  let out = from.outOffset;
  let lastCheckpoint = from.outOffset;
  /** Recent output of the current member, oldest first, holding at least its last 32 KiB. */
  let history: Buffer[] = midMember && from.window !== undefined ? [from.window] : [];
  let historyBytes = history[0]?.length ?? 0;
  let buffer = Buffer.allocUnsafe(OUTPUT_CHUNK);
  let filled = 0;

  const windowBefore = (): Buffer => {
    const wanted = Math.min(DEFLATE_WINDOW, historyBytes + filled);
    const pieces: Buffer[] = [buffer.subarray(0, filled)];
    let have = filled;
    for (let i = history.length - 1; i >= 0 && have < wanted; i -= 1) {
      const piece = history[i] ?? Buffer.alloc(0);
      pieces.unshift(piece);
      have += piece.length;
    }
    const all = Buffer.concat(pieces);
    return Buffer.from(all.subarray(all.length - wanted));
  };

  const remember = (chunk: Buffer): void => {
    history.push(chunk);
    historyBytes += chunk.length;
    while (history.length > 1 && historyBytes - (history[0]?.length ?? 0) >= DEFLATE_WINDOW) {
      historyBytes -= history.shift()?.length ?? 0;
    }
  };

  const record = (checkpoint: Checkpoint): void => {
    lastCheckpoint = checkpoint.outOffset;
    recording.onCheckpoint(checkpoint);
  };

  // Raw offset of byte 0 of the current input chunk. The resume head stands for the byte at
  // `from.rawOffset`: its last byte lines up with it.
  let chunkStart = from.rawOffset - (midMember ? resumeHeadExtra(bits) : 0);
  const source = midMember ? withResumeHead(input(from.rawOffset), bits) : input(from.rawOffset);
  for await (const chunk of source) {
    strm.input = chunk;
    strm.next_in = 0;
    strm.avail_in = chunk.length;
    while (strm.avail_in > 0) {
      if (trailerLeft > 0) {
        const skip = Math.min(trailerLeft, strm.avail_in);
        trailerLeft -= skip;
        strm.next_in += skip;
        strm.avail_in -= skip;
        continue;
      }
      if (!inMember) {
        // What follows a member: zero padding (ignored to the end, like node:zlib) or another member.
        if (chunk[strm.next_in] === 0) {
          if (filled > 0) yield buffer.subarray(0, filled);
          return;
        }
        const memberStart = chunkStart + strm.next_in;
        if (out - lastCheckpoint >= recording.spacing) record({ rawOffset: memberStart, outOffset: out });
        check(zlibInflateReset2(strm, GZIP_WINDOW_BITS), memberStart);
        inMember = true;
        raw = false;
        history = [];
        historyBytes = 0;
        continue;
      }

      strm.output = buffer;
      strm.next_out = filled;
      strm.avail_out = OUTPUT_CHUNK - filled;
      const status = zlibInflate(strm, Z_BLOCK);
      const produced = strm.next_out - filled;
      if (produced > 0) {
        onOutput(produced);
        filled += produced;
        out += produced;
      }
      if (status === Z_STREAM_END) {
        inMember = false;
        if (raw) trailerLeft = GZIP_TRAILER;
      } else if (status === Z_OK) {
        const type = strm.data_type;
        if (
          (type & AT_BLOCK_BOUNDARY) !== 0 &&
          (type & IN_LAST_BLOCK) === 0 &&
          state.bits < 8 &&
          out - lastCheckpoint >= recording.spacing &&
          historyBytes + filled > 0
        ) {
          const unused = type & UNUSED_BITS;
          const next = chunkStart + strm.next_in;
          record({
            rawOffset: unused > 0 ? next - 1 : next,
            bits: unused > 0 ? 8 - unused : 0,
            outOffset: out,
            window: windowBefore(),
          });
        }
      } else if (status !== Z_BUF_ERROR || strm.avail_in > 0) {
        throw gzipCorrupt(name, strm.msg || `inflate status ${status}`, chunkStart + strm.next_in);
      }
      if (filled === OUTPUT_CHUNK) {
        const full = buffer;
        remember(full);
        buffer = Buffer.allocUnsafe(OUTPUT_CHUNK);
        filled = 0;
        yield full;
      }
    }
    chunkStart += chunk.length;
  }
  if (inMember || trailerLeft > 0) throw gzipTruncated(name);
  if (filled > 0) yield buffer.subarray(0, filled);
}

