/**
 * stdout as the commands write to it, without node:stream when it is a file. process.stdout is a
 * stream of node:stream's for every kind of descriptor: creating it loads node:stream (~1.7 ms of a
 * ~35 ms `cat`; issue #14), though Node writes to a regular file or /dev/null synchronously anyway,
 * one `writeSync` per chunk (its SyncWriteStream). Here such a descriptor is written the same way,
 * straight; a terminal, a pipe or a socket still gets process.stdout (asynchronous writes, `drain`).
 */
import { EventEmitter } from 'node:events';
import { fstatSync, statSync, writeSync } from 'node:fs';

/** What the CLI asks of its stdout (lib/cli/output.ts, main.ts): process.stdout has all of it. */
export interface OutputStream {
  write(chunk: Buffer | string): boolean;
  readonly destroyed: boolean;
  /** Bytes accepted but not yet handed to the system. */
  readonly writableLength: number;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'drain' | 'close', listener: () => void): this;
  off(event: 'error', listener: (error: Error) => void): this;
  off(event: 'drain' | 'close', listener: () => void): this;
}

/**
 * Writes each chunk whole with `writeSync` before returning, as Node's SyncWriteStream does. A
 * failed write (a full disk) destroys it and is reported as its 'error' event on the next turn, as a
 * stream reports it; `write` then returns false.
 */
export class FileStdout extends EventEmitter implements OutputStream {
  private failed = false;
  readonly writableLength = 0;

  constructor(private readonly fd: number) {
    super();
  }

  get destroyed(): boolean {
    return this.failed;
  }

  write(chunk: Buffer | string): boolean {
    if (this.failed) return false;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    try {
      for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done, bytes.length - done);
      return true;
    } catch (error) {
      this.failed = true;
      setImmediate(() => {
        this.emit('error', error);
        this.emit('close');
      });
      return false;
    }
  }
}

/** Whether Node would write to `fd` synchronously: a regular file, or /dev/null (a device, not a terminal). */
export function isFileDescriptorOfFile(fd: number): boolean {
  try {
    const stat = fstatSync(fd);
    if (stat.isFile()) return true;
    if (!stat.isCharacterDevice()) return false;
    return stat.rdev === statSync('/dev/null').rdev;
  } catch {
    return false;
  }
}
