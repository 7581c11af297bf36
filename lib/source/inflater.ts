/**
 * The pluggable decoder behind a DecompressedSource: one implementation per codec (gzip-inflater.ts,
 * zstd-inflater.ts). An inflater turns compressed bytes into decompressed chunks and knows nothing of
 * spans or caches; it can start at a checkpoint and, when asked, record checkpoints as it goes.
 */

/** The window a deflate stream may refer back into. */
export const DEFLATE_WINDOW = 32 * 1024;

/**
 * A place where decoding can start: the compressed bits from bit `bits` of byte `rawOffset` on decode to
 * the decompressed bytes from `outOffset` on. The start of the stream is one; so is the start of any gzip
 * member or zstd frame (`bits` 0, no window). Inside a gzip member a checkpoint sits on a deflate block
 * boundary, which need not be a byte boundary (`bits` counts the low bits of the byte at `rawOffset` that
 * belong to the block before), and carries `window`: the decompressed bytes before `outOffset` that
 * back-references may reach (32 KiB, less only near the start of the member).
 */
export interface Checkpoint {
  readonly rawOffset: number;
  readonly outOffset: number;
  /** 0–7; absent means 0. */
  readonly bits?: number | undefined;
  readonly window?: Buffer | undefined;
}

export const STREAM_START: Checkpoint = Object.freeze({ rawOffset: 0, outOffset: 0 });

/** True for a checkpoint at the start of a gzip member or zstd frame: no decoder state to restore. */
export function isMemberStart(checkpoint: Checkpoint): boolean {
  return checkpoint.window === undefined && (checkpoint.bits ?? 0) === 0;
}

/**
 * The compressed bytes from `rawOffset` to the end of the source, in chunks. With `recycle`, a chunk's
 * memory may be read into again once the chunk after next is asked for: for a consumer that is done
 * with each chunk by then (and holds on to no view of it), so that a large layer is read through a few
 * buffers instead of a fresh one per chunk.
 */
export type RawInput = (rawOffset: number, recycle?: boolean) => AsyncIterable<Buffer>;

/**
 * A checkpoint found at a byte, whose exact bit there is worked out only when it is first needed:
 * node:zlib tells where a deflate block boundary is to the byte, and the bit is found by resuming at
 * each candidate position (native-gzip-recorder.ts). A pass in order never resumes at most of its
 * checkpoints, so recording leaves those trials to `settle`.
 */
export interface UnsettledCheckpoint {
  readonly outOffset: number;
  /** The byte where the boundary was found: the checkpoint's own byte is this one or at most 2 before it. */
  readonly rawOffset: number;
  /** Memory held until settled: the window and the bytes the trials compare. */
  readonly bytes: number;
  /** The checkpoint, or undefined when no position reproduces the output (then there is none here). Runs the trials once. */
  settle(): Checkpoint | undefined;
}

/** Asks an inflater to report the checkpoints it passes. */
export interface CheckpointRecording {
  /** Smallest decompressed distance from one recorded checkpoint (or `from`) to the next. */
  readonly spacing: number;
  /**
   * Called with each checkpoint after `from`, in increasing order, once the bytes before it have been
   * yielded (or earlier). The window is a fresh buffer the callee may keep.
   */
  readonly onCheckpoint: (checkpoint: Checkpoint) => void;
  /**
   * When present, an inflater that places checkpoints by trial decoding hands them over unsettled
   * here instead of to `onCheckpoint` (same order), so that only the ones used pay for the trials.
   */
  readonly onUnsettled?: ((checkpoint: UnsettledCheckpoint) => void) | undefined;
}

export interface DecodeContext {
  /** The compressed source's name, for error messages. */
  readonly name: string;
  /** Where decoding starts. */
  readonly from: Checkpoint;
  /**
   * Called with the length of every decompressed chunk before the inflater holds on to it. It throws to
   * stop decoding (the ratio limit), so an inflater must call it before buffering more output.
   */
  readonly onOutput: (length: number) => void;
  /** Size of the whole compressed source, when known (an inflater may decide how to work by it). */
  readonly rawSize?: number | undefined;
  /** Present when the caller wants checkpoints recorded while decoding. */
  readonly recording?: CheckpointRecording | undefined;
  /**
   * A buffer of `OUTPUT_BUFFER_SIZE` bytes to decode into, for an inflater that fills its own: maybe
   * the memory of a span the caller's cache has let go of (no view of it is in use any more).
   */
  readonly outputBuffer?: (() => Buffer) | undefined;
  /**
   * Largest decompressed chunk to yield, when the caller wants few bytes and stops early (a small read
   * from a checkpoint): the decoder then stops soon after them. Default: the inflater's own size.
   */
  readonly outputChunk?: number | undefined;
}

/** Length of the buffers `outputBuffer` gives: a span (span-cache.ts SPAN_SIZE). */
export const OUTPUT_BUFFER_SIZE = 1024 * 1024;

export interface Inflater {
  readonly compression: 'gzip' | 'zstd';
  /** Whether recording checkpoints costs nothing measurable (zstd), rather than a slower decoder (gzip). */
  readonly recordsFreely: boolean;
  /**
   * Decodes the compressed bytes from `context.from` to the end of the source (`input(rawOffset)` opens
   * them; an inflater may open more than once) and yields the decompressed bytes in order, as fresh
   * buffers the caller may keep. Rejects with an ImgfsError: ECOMPRESSION for data that cannot be
   * decoded, ETRUNCATED when the input ends inside a member/frame. Errors of `input` itself pass through
   * unchanged. Returning early (`return()`) releases everything, including the input.
   */
  decode(input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined>;
  /**
   * Decodes `compressed` (the stored bytes from `from.rawOffset` on, possibly cut anywhere) synchronously
   * and returns the `length` bytes of output that follow the first `skip` (fewer when the input or the
   * member ends first); decoding stops there. Undefined when it cannot tell (damaged data): the caller
   * then decodes the streaming way, which reports errors properly. Optional: for a small read between
   * two known checkpoints, where a stream's thread-pool round trips cost more than the decoding.
   */
  decodeSync?(compressed: Buffer, from: Checkpoint, skip: number, length: number): Buffer | undefined;
}

/** Rejects checkpoints that need decoder state this inflater cannot restore. */
export function assertMemberStart(compression: string, from: Checkpoint): void {
  if (!isMemberStart(from)) {
    throw new Error(`${compression} inflater can only start at the start of a member or frame`);
  }
}
