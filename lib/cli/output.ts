/**
 * stdout for the commands: buffered lines, backpressure for streamed bytes, and a reader that goes
 * away (`imgfs cat big | head`) turned into one `PipeClosed` that unwinds the command quietly.
 */

import type { OutputStream } from './file-stdout.js';
import { hasEscapedBytes, nameToBytes } from '../index.js';

/** Thrown by writes once the reader has closed the pipe; main() exits quietly on it. */
export class PipeClosed extends Error {
  override readonly name = 'PipeClosed';
  constructor() {
    super('output closed by its reader');
  }
}

const FLUSH_AT = 64 * 1024;

export class Output {
  /**
   * Queued lines, already encoded: a million-line `find` would otherwise hold each line's string until
   * the next flush, long enough for V8 to move most of them to the old generation, where they wait for
   * a full collection (about 100 MB of peak RSS at a million entries).
   */
  private pending = Buffer.allocUnsafe(FLUSH_AT);
  private pendingLength = 0;
  private failure: Error | undefined;
  private closed = false;

  /**
   * `beforeWrite` runs before anything reaches the stream (or a message reaches stderr through
   * `release`): the progress bar erases itself there, since layers may still be indexed lazily while
   * a command already prints.
   */
  constructor(
    private readonly stream: OutputStream,
    private readonly beforeWrite: () => void = () => {},
  ) {
    // Without a listener, an EPIPE on process.stdout would be an uncaught exception with a stack.
    stream.on('error', (error: Error) => {
      if (isPipeError(error)) this.closed = true;
      else this.failure ??= error;
    });
  }

  /** Queues one line (a newline is added); flushed in large writes. */
  async line(text: string): Promise<void> {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit (so does an escaped byte, as one byte).
    if (this.pendingLength + 3 * text.length + 1 > this.pending.length) {
      await this.flush();
      if (3 * text.length + 1 > this.pending.length) this.pending = Buffer.allocUnsafe(3 * text.length + 1);
    }
    const bytes = textBytes(text);
    this.pendingLength += typeof bytes === 'string' ? this.pending.write(bytes, this.pendingLength, 'utf8') : bytes.copy(this.pending, this.pendingLength);
    this.pending[this.pendingLength++] = 0x0a;
    if (this.pendingLength >= FLUSH_AT) await this.flush();
  }

  /** Writes bytes now (after any queued lines), waiting while the reader is slower than we are. */
  async write(chunk: Buffer | string): Promise<void> {
    await this.flush();
    await this.raw(chunk);
  }

  async flush(): Promise<void> {
    if (this.pendingLength === 0) {
      this.check();
      return;
    }
    await this.raw(this.takePending());
  }

  /**
   * Hands queued lines to the stream without waiting, so that a message about to go to stderr
   * appears after the output that preceded it when both streams share a terminal.
   */
  release(): void {
    this.beforeWrite();
    if (this.pendingLength === 0 || this.closed || this.failure !== undefined || this.stream.destroyed) return;
    this.stream.write(this.takePending());
  }

  /** The queued bytes, handed over whole (the stream may keep them): the next lines go to a new buffer. */
  private takePending(): Buffer {
    const taken = this.pending.subarray(0, this.pendingLength);
    this.pending = Buffer.allocUnsafe(FLUSH_AT);
    this.pendingLength = 0;
    return taken;
  }

  /** Throws PipeClosed (or the stream's own error) once the stream has failed. */
  check(): void {
    if (this.closed) throw new PipeClosed();
    if (this.failure !== undefined) throw this.failure;
  }

  private async raw(chunk: Buffer | string): Promise<void> {
    this.check();
    this.beforeWrite();
    if (this.stream.destroyed) await this.gone();
    if (this.stream.write(chunk)) return;
    if (this.stream.destroyed) await this.gone();
    // Wait for room, or for the error that explains why there will never be any. The constructor's
    // 'error' listener was added first, so it has recorded the failure when `done` runs.
    const stream = this.stream;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        stream.off('error', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
      stream.on('error', done);
    });
    this.check();
    if (this.stream.destroyed) await this.gone();
  }

  /** The stream was destroyed: let its 'error' event arrive, then say why. */
  private async gone(): Promise<never> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.check();
    throw new PipeClosed();
  }
}

/**
 * Text for a terminal or a pipe, with image names printed as their own bytes, as ls(1) and find(1)
 * print them: a name byte that is not UTF-8 is kept in a string as a lone surrogate (nameFromBytes),
 * which a plain UTF-8 encoding would turn into U+FFFD.
 */
export function textBytes(text: string): Buffer | string {
  return hasEscapedBytes(text) ? nameToBytes(text) : text;
}

export function isPipeError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false;
  const code = (error as { code: unknown }).code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ECONNRESET';
}
