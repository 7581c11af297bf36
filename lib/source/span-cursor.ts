import type { Checkpoint } from './inflater.js';

/**
 * A running decoder cut into fixed-size spans: span `i` holds decompressed bytes
 * `[i × spanSize, (i + 1) × spanSize)`. The cursor only moves forward; DecompressedSource decides when to
 * drop it and start another from a checkpoint.
 */
export class SpanCursor {
  /** Index of the span that `next()` produces. */
  nextIndex: number;
  /** Decompressed offset of the next byte the decoder yields (how far decoding has got). */
  position: number;
  private carry: Buffer | undefined;
  private ended = false;
  private skip: number;

  constructor(
    private readonly decoded: AsyncGenerator<Buffer, void, undefined>,
    from: Checkpoint,
    private readonly spanSize: number,
  ) {
    this.position = from.outOffset;
    this.nextIndex = Math.ceil(from.outOffset / spanSize);
    // A checkpoint inside a span: the bytes before the next span boundary are decoded and dropped.
    this.skip = this.nextIndex * spanSize - from.outOffset;
  }

  /**
   * Decodes span `nextIndex`: a full span, or the final shorter one; `undefined` once the stream has
   * ended (the decompressed size is then `position`). Errors of the decoder reject here. When the
   * decoder's chunks that make up the span lie side by side in one buffer (node:zlib fills its output
   * buffer piece by piece and never writes a piece again), the span is a view of them, not a copy.
   */
  async next(): Promise<Buffer | undefined> {
    const pieces: Buffer[] = [];
    let filled = 0;
    while (filled < this.spanSize) {
      const chunk = this.carry ?? (await this.pull());
      this.carry = undefined;
      if (chunk === undefined) break;
      let from = 0;
      if (this.skip > 0) {
        from = Math.min(this.skip, chunk.length);
        this.skip -= from;
      }
      const n = Math.min(chunk.length - from, this.spanSize - filled);
      if (n > 0) pieces.push(chunk.subarray(from, from + n));
      filled += n;
      if (from + n < chunk.length) this.carry = chunk.subarray(from + n);
    }
    if (filled === 0) return undefined;
    this.nextIndex += 1;
    return adjacentView(pieces, filled) ?? Buffer.concat(pieces, filled);
  }

  /** Abandons the decoder and whatever it holds (its input stream included). */
  stop(): void {
    this.ended = true;
    this.carry = undefined;
    this.decoded.return(undefined).catch(() => {});
  }

  private async pull(): Promise<Buffer | undefined> {
    if (this.ended) return undefined;
    const result = await this.decoded.next();
    if (result.done === true) {
      this.ended = true;
      return undefined;
    }
    this.position += result.value.length;
    return result.value;
  }
}

/** The pieces as one view when each starts where the one before ends in the same memory, else undefined. */
function adjacentView(pieces: Buffer[], length: number): Buffer | undefined {
  const first = pieces[0];
  if (first === undefined) return undefined;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < pieces.length; i += 1) {
    const piece = pieces[i] as Buffer;
    if (piece.buffer !== first.buffer || piece.byteOffset !== end) return undefined;
    end += piece.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, length);
}
