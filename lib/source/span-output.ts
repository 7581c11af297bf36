import { OUTPUT_BUFFER_SIZE, type DecodeContext } from './inflater.js';

/**
 * The output side of an engine driven by hand (gzip-handle.ts, zstd-handle.ts): whole output buffers
 * (`context.outputBuffer`, else fresh ones) that line up with spans, output offset `o` at
 * `o % OUTPUT_BUFFER_SIZE` of its buffer, so that a span is exactly one buffer, which the span cache
 * can hand back once it lets go of the span.
 */
export class SpanOutput {
  /** The buffer the engine writes into next, at `at`, up to OUTPUT_BUFFER_SIZE. */
  buffer: Buffer;
  at: number;

  constructor(private readonly context: DecodeContext) {
    this.buffer = this.fresh();
    this.at = context.from.outOffset % OUTPUT_BUFFER_SIZE;
  }

  get room(): number {
    return OUTPUT_BUFFER_SIZE - this.at;
  }

  /**
   * The `made` bytes the engine wrote at `at`, counted (`onOutput`, which may throw) and handed out as
   * a view (undefined for none); when they fill the buffer, the next write goes into another.
   */
  take(made: number): Buffer | undefined {
    if (made <= 0) return undefined;
    this.context.onOutput(made);
    const chunk = this.buffer.subarray(this.at, this.at + made);
    this.at += made;
    return chunk;
  }

  /** Whether the buffer is full (the engine may hold more output); if so, moves on to another. */
  renewIfFull(): boolean {
    if (this.at < OUTPUT_BUFFER_SIZE) return false;
    this.buffer = this.fresh();
    this.at = 0;
    return true;
  }

  private fresh(): Buffer {
    return this.context.outputBuffer?.() ?? Buffer.allocUnsafe(OUTPUT_BUFFER_SIZE);
  }
}
