/**
 * The pluggable decoder behind a DecompressedSource: one implementation per codec (gzip-inflater.ts,
 * zstd-inflater.ts). An inflater turns compressed bytes into decompressed chunks and knows nothing of
 * spans, caches or restarts.
 */

/**
 * A place where decoding can start: the compressed bytes from `rawOffset` on decode to the decompressed
 * bytes from `outOffset` on. The start of the stream is one; so is the start of any gzip member or zstd
 * frame. A checkpoint inside a deflate stream would also need the 32 KiB window before it (`window`);
 * the inflaters here do not accept one yet.
 */
export interface Checkpoint {
  readonly rawOffset: number;
  readonly outOffset: number;
  readonly window?: Buffer | undefined;
}

export const STREAM_START: Checkpoint = Object.freeze({ rawOffset: 0, outOffset: 0 });

export interface DecodeContext {
  /** The compressed source's name, for error messages. */
  readonly name: string;
  /** Where `input` starts. */
  readonly from: Checkpoint;
  /**
   * Called with the length of every decompressed chunk before the inflater holds on to it. It throws to
   * stop decoding (the ratio limit), so an inflater must call it before buffering more output.
   */
  readonly onOutput: (length: number) => void;
}

export interface Inflater {
  readonly compression: 'gzip' | 'zstd';
  /**
   * Decodes `input` (the compressed bytes from `context.from.rawOffset` to the end of the source) and
   * yields the decompressed bytes in order, as fresh buffers the caller may keep. Rejects with an
   * ImgfsError: ECOMPRESSION for data that cannot be decoded, ETRUNCATED when the input ends inside a
   * member/frame. Errors of `input` itself pass through unchanged. Returning early (`return()`) releases
   * everything, including `input`.
   */
  decode(input: AsyncIterable<Buffer>, context: DecodeContext): AsyncGenerator<Buffer, void, undefined>;
}

/** Rejects checkpoints that need decoder state this inflater cannot restore. */
export function assertPlainCheckpoint(compression: string, from: Checkpoint): void {
  if (from.window !== undefined) {
    throw new Error(`${compression} inflater cannot resume from a checkpoint with a window yet`);
  }
}
