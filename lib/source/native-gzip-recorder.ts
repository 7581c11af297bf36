/**
 * gzip decoded by node:zlib while recording checkpoints, at native speed: the recording pass that
 * gzip-recorder.ts does with pako (about 2.5× the CPU time), for a pass that starts at a member start
 * (a layer's first pass always does).
 *
 * node:zlib's streams hide what recording needs, so this drives the engine's own handle
 * synchronously, as node:zlib's `*Sync` functions do: `writeSync(flush, …)` with the results in
 * `_writeState`. With `Z_BLOCK` inflate stops at the next deflate block boundary, which gives the byte
 * position of a checkpoint, but not zlib's `data_type`: how many bits of the last byte it read are not
 * used yet (0–7, rarely up to 15). Of the positions that leaves, the one whose resumed decoding (deflate-resume.ts,
 * with the 32 KiB before it as dictionary) reproduces the output that follows is the checkpoint; a
 * boundary where none does is skipped. Where the handle is not there (another Node), `nativeRecorder`
 * says so and pako records.
 *
 * Member starts are not reported by Node's Gunzip, which moves on to the next member inside one call:
 * only block boundaries become checkpoints (a later member's first block boundary is one like any other).
 */
import type { Gunzip, InflateRaw } from 'node:zlib';
import { zlib } from '../lazy-zlib.js';
import { resumeHead } from './deflate-resume.js';
import { gzipCorrupt, gzipTruncated } from './gzip-format.js';
import { DEFLATE_WINDOW, isMemberStart, type Checkpoint, type DecodeContext, type RawInput, type UnsettledCheckpoint } from './inflater.js';

/** Output is handed on in chunks of this size (a span: see gzip-inflater.ts). */
const OUTPUT_CHUNK = 1024 * 1024;
/** Compressed bytes after a boundary that each of its candidate positions is tried on. */
const TRIAL_RAW = 4 * 1024;
/** Decompressed bytes a candidate must reproduce to be the checkpoint (fewer at the end of the stream). */
const TRIAL_MATCH = 2 * 1024;
/** A boundary with less output after it than this is not worth a checkpoint (the stream is ending). */
const TRIAL_MIN = 64;
/**
 * Bytes before the stop that may hold the next block's first bits: zlib usually keeps fewer than 8
 * bits unused, but may hold up to 15 (pako's recorder checks `state.bits < 8` for that).
 */
const LOOK_BACK = 2;
/** Bytes before a stop searched for the gzip header of a member that starts there (it may name a file). */
const HEADER_LOOK_BACK = 1024;

/** The part of node:zlib's private engine handle used here (lib/zlib.js's processChunkSync uses the same). */
interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOffset: number, inLength: number, output: Uint8Array, outOffset: number, outLength: number): void;
  /** Starts a new stream (a raw inflater keeps its dictionary). */
  reset(): void;
  onerror: (message: string, errno: number) => void;
}

export interface NativeEngine {
  handle: ZlibHandle;
  /** [output bytes left, input bytes left] after each write. */
  state: Uint32Array;
  close(): void;
}

/** The engine behind `create()`'s stream, driven synchronously; undefined where its handle is not in the expected shape. */
export function nativeEngine(create: () => Gunzip | InflateRaw = () => zlib().createGunzip()): NativeEngine | undefined {
  const engine = create() as unknown as { _handle?: Partial<ZlibHandle>; _writeState?: unknown; close(): void };
  const handle = engine._handle;
  const state = engine._writeState;
  if (typeof handle?.writeSync !== 'function' || !(state instanceof Uint32Array) || state.length !== 2) {
    engine.close();
    return undefined;
  }
  return { handle: handle as ZlibHandle, state, close: () => engine.close() };
}

let available: boolean | undefined;

/** Whether a recording pass from `from` can run here: a member start, on a Node whose zlib has the handle. */
export function canRecordNatively(from: Checkpoint): boolean {
  if (!isMemberStart(from)) return false;
  if (available === undefined) {
    const probe = nativeEngine();
    available = probe !== undefined;
    probe?.close();
  }
  return available;
}

/** A block boundary found by Z_BLOCK, waiting for the bytes that decide where exactly it is. */
interface Candidate {
  /** Raw offset of the first byte inflate had not consumed. */
  raw: number;
  /** The bytes before it, nearest last (the boundary may lie inside them). */
  before: Buffer;
  /** Set when a gzip member header ends at the stop (inflate stops after a member's header too): its bytes. */
  header: Buffer | undefined;
  out: number;
  window: Buffer;
  rawAfter: Buffer[];
  rawBytes: number;
  outAfter: Buffer[];
  outBytes: number;
}

/**
 * Same contract as gzip-recorder.ts's recordGzip (output, errors, checkpoints), for `context.from` a
 * member start (see canRecordNatively).
 */
export async function* recordGzipNatively(input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  const { Z_NO_FLUSH, Z_BLOCK, Z_FINISH, Z_BUF_ERROR } = zlib().constants;
  const { from, name, onOutput } = context;
  const recording = context.recording;
  if (recording === undefined) throw new Error('recordGzipNatively needs context.recording');
  const engine = nativeEngine();
  if (engine === undefined || !isMemberStart(from)) throw new Error('recordGzipNatively: not available for this start');
  const { handle, state } = engine;
  let failure: { message: string; errno: number } | undefined;
  handle.onerror = (message, errno) => {
    failure ??= { message, errno };
  };
  const failed = (near: number): Error => {
    const error = failure ?? { message: 'inflate failed', errno: 0 };
    return error.errno === Z_BUF_ERROR ? gzipTruncated(name) : gzipCorrupt(name, error.message, near);
  };

  // Output goes into whole span-sized buffers (`context.outputBuffer`: maybe the memory of a span the
  // cache let go of), output offset `o` at `o % OUTPUT_CHUNK`, so that each span is one buffer the
  // cache can hand back: fresh megabyte buffers cost page faults and major GCs (bench/README.md).
  const nextBuffer = (): Buffer => context.outputBuffer?.() ?? Buffer.allocUnsafe(OUTPUT_CHUNK);
  let buffer = nextBuffer();
  /** Where this pass's output starts in `buffer`: not at 0 only in the first buffer of a pass from an unaligned start. */
  let start = from.outOffset % OUTPUT_CHUNK;
  let filled = start;
  /** The chunk handed on before `buffer`, for windows that reach back into it. */
  let previous: Buffer | undefined;
  let out = from.outOffset;
  let raw = from.rawOffset;
  /** The last bytes consumed, nearest last. */
  let consumedTail = Buffer.alloc(0);
  let lastCheckpoint = from.outOffset;
  let candidate: Candidate | undefined;
  let ended = false;

  const windowBefore = (): Buffer => {
    const wanted = Math.min(DEFLATE_WINDOW, out - from.outOffset);
    const current = filled - start;
    if (wanted <= current) return Buffer.from(buffer.subarray(filled - wanted, filled));
    const older = previous === undefined ? Buffer.alloc(0) : previous.subarray(Math.max(0, previous.length - (wanted - current)));
    return Buffer.concat([older, buffer.subarray(start, filled)]);
  };

  const settle = (atEnd: boolean): void => {
    const found = candidate;
    if (found === undefined || (!atEnd && (found.rawBytes < TRIAL_RAW || found.outBytes < TRIAL_MATCH))) return;
    candidate = undefined;
    if (recording.onUnsettled !== undefined) {
      if (found.outBytes < TRIAL_MIN || found.rawBytes === 0) return;
      lastCheckpoint = found.out;
      recording.onUnsettled(unsettled(found));
      return;
    }
    const checkpoint = locate(found);
    if (checkpoint === undefined) return;
    lastCheckpoint = checkpoint.outOffset;
    recording.onCheckpoint(checkpoint);
  };

  try {
    // Recycled input: nothing here keeps a view of a chunk once the next one is asked for (what a
    // candidate keeps of it is copied).
    for await (const chunk of input(from.rawOffset, true)) {
      let at = 0;
      if (candidate !== undefined && candidate.rawBytes < TRIAL_RAW) {
        const piece = Buffer.from(chunk.subarray(0, TRIAL_RAW - candidate.rawBytes));
        candidate.rawAfter.push(piece);
        candidate.rawBytes += piece.length;
      }
      while (at < chunk.length && !ended) {
        // Up to the next checkpoint's distance without stopping; from there on, to the next block
        // boundary. A boundary found waits for the output that decides it, decoded in small steps.
        const due = (candidate?.out ?? lastCheckpoint) + recording.spacing - out;
        const flush = candidate === undefined && due <= 0 ? Z_BLOCK : Z_NO_FLUSH;
        let room = OUTPUT_CHUNK - filled;
        if (candidate !== undefined && candidate.outBytes < TRIAL_MATCH) room = Math.min(room, TRIAL_MATCH - candidate.outBytes);
        else if (flush === Z_NO_FLUSH && due > 0) room = Math.min(room, due);
        const inLength = chunk.length - at;
        handle.writeSync(flush, chunk, at, inLength, buffer, filled, room);
        if (failure !== undefined) throw failed(raw);
        const roomLeft = state[0] ?? 0;
        const produced = room - roomLeft;
        const consumed = inLength - (state[1] ?? 0);
        if (produced > 0) {
          onOutput(produced);
          if (candidate !== undefined && candidate.outBytes < TRIAL_MATCH) {
            const piece = Buffer.from(buffer.subarray(filled, filled + Math.min(produced, TRIAL_MATCH - candidate.outBytes)));
            candidate.outAfter.push(piece);
            candidate.outBytes += piece.length;
          }
          filled += produced;
          out += produced;
        }
        if (consumed > 0) {
          const end = at + consumed;
          consumedTail =
            consumed >= HEADER_LOOK_BACK
              ? Buffer.from(chunk.subarray(end - HEADER_LOOK_BACK, end))
              : Buffer.concat([consumedTail, chunk.subarray(at, end)]).subarray(-HEADER_LOOK_BACK);
        }
        at += consumed;
        raw += consumed;
        settle(false);
        if (filled === OUTPUT_CHUNK) {
          // `previous` is safe from recycling: spans are recycled only here, once it is replaced.
          const full = buffer.subarray(start);
          previous = full;
          buffer = nextBuffer();
          filled = 0;
          start = 0;
          yield full;
          continue;
        }
        if (roomLeft === 0) continue;
        if (at === chunk.length) break;
        // Input and room left: inflate stopped at a block boundary (Z_BLOCK), or the stream is over
        // (what follows is zero padding: ignored to the end, as Gunzip does).
        if (flush === Z_BLOCK) {
          if (consumedTail.length > 0 && out > from.outOffset) {
            const rest = Buffer.from(chunk.subarray(at, at + TRIAL_RAW));
            candidate = { raw, before: consumedTail.subarray(-LOOK_BACK), header: headerEndingAtEnd(consumedTail), out, window: windowBefore(), rawAfter: [rest], rawBytes: rest.length, outAfter: [], outBytes: 0 };
          } else {
            lastCheckpoint = out; // nothing to resume from here: look for the next boundary
          }
          continue;
        }
        ended = true;
      }
      if (ended) break;
    }
    if (!ended) {
      // The input is over: the stream must be complete (zlib says Z_BUF_ERROR otherwise).
      handle.writeSync(Z_FINISH, Buffer.alloc(0), 0, 0, buffer, filled, OUTPUT_CHUNK - filled);
      if (failure !== undefined) throw failed(raw);
    }
    settle(true);
    if (filled > start) yield buffer.subarray(start, filled);
  } finally {
    engine.close();
  }
}

/**
 * `found` handed over with its trials left for later: its bytes copied into one buffer of their own
 * (the pieces are views of pooled or recycled memory), the trials run on the first `settle` only.
 */
function unsettled(found: Candidate): UnsettledCheckpoint {
  const pieces = [found.before, ...(found.header === undefined ? [] : [found.header]), ...found.rawAfter, ...found.outAfter];
  const own = Buffer.allocUnsafeSlow(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let at = 0;
  const take = (length: number): Buffer => own.subarray(at, (at += length));
  for (const piece of pieces) at += piece.copy(own, at);
  at = 0;
  const kept: Candidate = {
    ...found,
    before: take(found.before.length),
    header: found.header === undefined ? undefined : take(found.header.length),
    rawAfter: [take(found.rawBytes)],
    outAfter: [take(found.outBytes)],
  };
  let settled: { checkpoint: Checkpoint | undefined } | undefined;
  return {
    outOffset: found.out,
    rawOffset: found.raw,
    bytes: own.length + found.window.length,
    settle: () => (settled ??= { checkpoint: locate(kept) }).checkpoint,
  };
}

/**
 * Which bit position before `found.raw` the boundary is at: the one whose resumed
 * decoding reproduces the output after it. Undefined when none does (or too little output follows).
 */
function locate(found: Candidate): Checkpoint | undefined {
  const { Z_SYNC_FLUSH } = zlib().constants;
  const expected = Buffer.concat(found.outAfter);
  if (expected.length < TRIAL_MIN) return undefined;
  const after = Buffer.concat(found.rawAfter);
  if (after.length === 0) return undefined;
  const reproduces = (trial: () => Buffer): boolean => {
    let decoded: Buffer;
    try {
      decoded = trial();
    } catch {
      return false;
    }
    return decoded.length >= expected.length && decoded.subarray(0, expected.length).equals(expected);
  };
  const { header } = found;
  // A member start: decoding from its header in gzip mode gives the output after it, with no window.
  if (header !== undefined && reproduces(() => zlib().gunzipSync(Buffer.concat([header, after]), { finishFlush: Z_SYNC_FLUSH }))) {
    return { rawOffset: found.raw - header.length, outOffset: found.out };
  }
  // One raw inflater primed with the window, reset for each trial; its errors are noted, not thrown
  // (most positions fail at once, and an Error's stack trace would cost more than the decoding).
  const engine = nativeEngine(() => zlib().createInflateRaw({ dictionary: found.window }));
  if (engine === undefined) return undefined;
  let failed = false;
  engine.handle.onerror = () => {
    failed = true;
  };
  const decoded = Buffer.allocUnsafe(expected.length);
  try {
    for (let unused = 0; unused < 8 * found.before.length; unused += 1) {
      // The next block's first bits are the last `unused` bits consumed: it starts `back` bytes before
      // the stop, at bit `bits` of that byte.
      const back = Math.ceil(unused / 8);
      const bits = (8 - (unused % 8)) % 8;
      const stream = Buffer.concat([found.before.subarray(found.before.length - back), after]);
      const trial = Buffer.concat([resumeHead(stream[0] ?? 0, bits), stream.subarray(1)]);
      failed = false;
      engine.handle.reset();
      engine.handle.writeSync(Z_SYNC_FLUSH, trial, 0, trial.length, decoded, 0, decoded.length);
      if (!failed && engine.state[0] === 0 && decoded.equals(expected)) {
        return { rawOffset: found.raw - back, bits, outOffset: found.out, window: found.window };
      }
    }
    return undefined;
  } finally {
    engine.close();
  }
}

/** The last bytes of `bytes` when they are a whole gzip member header (RFC 1952, 2.3), else undefined. */
function headerEndingAtEnd(bytes: Buffer): Buffer | undefined {
  for (let start = bytes.lastIndexOf(GZIP_MAGIC, bytes.length - 10); start >= 0; start = start > 0 ? bytes.lastIndexOf(GZIP_MAGIC, start - 1) : -1) {
    if (gzipHeaderEnd(bytes, start) === bytes.length) return Buffer.from(bytes.subarray(start));
  }
  return undefined;
}

/** ID1, ID2 and CM (deflate) of a gzip member header. */
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 8]);

const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;
const RESERVED_FLAGS = 0xe0;

/** Where the gzip header starting at `start` ends, or undefined when it is not one (or runs past the end). */
function gzipHeaderEnd(bytes: Buffer, start: number): number | undefined {
  const flags = bytes[start + 3] ?? RESERVED_FLAGS;
  if ((flags & RESERVED_FLAGS) !== 0) return undefined;
  let at = start + 10;
  if ((flags & FEXTRA) !== 0) {
    if (at + 2 > bytes.length) return undefined;
    at += 2 + bytes.readUInt16LE(at);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if ((flags & flag) === 0) continue;
    const zero = bytes.indexOf(0, at);
    if (zero < 0) return undefined;
    at = zero + 1;
  }
  if ((flags & FHCRC) !== 0) at += 2;
  return at <= bytes.length ? at : undefined;
}
