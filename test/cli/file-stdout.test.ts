/**
 * stdout written without node:stream when it is a regular file or /dev/null (lib/cli/file-stdout.ts):
 * which descriptors qualify, that chunks arrive whole and in order, and that a failed write is reported
 * as a stream reports it (destroyed, then an 'error' event), not thrown at the writer.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStdout, isFileDescriptorOfFile } from '../../lib/cli/file-stdout.js';

const scratch = mkdtempSync(join(tmpdir(), 'imgfs-file-stdout-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function withFd<T>(path: string, flags: string, use: (fd: number) => T): T {
  const fd = openSync(path, flags);
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

describe('FileStdout', () => {
  it('is chosen for a regular file and /dev/null only, not for a pipe or another device', () => {
    const fifo = join(scratch, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(withFd(join(scratch, 'plain'), 'w', isFileDescriptorOfFile)).toBe(true);
    expect(withFd('/dev/null', 'w', isFileDescriptorOfFile)).toBe(true);
    // r+ opens a FIFO without waiting for a reader (Linux).
    expect(withFd(fifo, 'r+', isFileDescriptorOfFile)).toBe(false);
    expect(withFd('/dev/zero', 'r', isFileDescriptorOfFile)).toBe(false);
    expect(isFileDescriptorOfFile(9999)).toBe(false);
  });

  it('writes each chunk whole, in order, before write returns', () => {
    const path = join(scratch, 'out');
    const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
    withFd(path, 'w', (fd) => {
      const out = new FileStdout(fd);
      expect(out.write('héllo\n')).toBe(true);
      expect(out.write(big)).toBe(true);
      expect(readFileSync(path).length).toBe(Buffer.byteLength('héllo\n') + big.length);
      expect(out.write(Buffer.from('end'))).toBe(true);
      expect(out.destroyed).toBe(false);
      expect(out.writableLength).toBe(0);
    });
    const written = readFileSync(path);
    expect(written.subarray(0, 7).toString('utf8')).toBe('héllo\n');
    expect(written.subarray(-3).toString()).toBe('end');
  });

  it('reports a failed write as a stream does: false, destroyed, then one error event and a close', async () => {
    const path = join(scratch, 'read-only');
    writeFileSync(path, 'x');
    const fd = openSync(path, 'r');
    try {
      const out = new FileStdout(fd);
      const events: string[] = [];
      const ended = new Promise<Error>((resolve) => {
        out.on('error', (error) => {
          events.push('error');
          resolve(error);
        });
        out.on('close', () => events.push('close'));
      });
      expect(out.write('lost')).toBe(false);
      expect(out.destroyed).toBe(true);
      expect(events).toEqual([]); // not synchronously: the writer sees `false` first
      expect((await ended as NodeJS.ErrnoException).code).toBe('EBADF');
      expect(out.write('also lost')).toBe(false);
      await new Promise((resolve) => setImmediate(resolve));
      expect(events).toEqual(['error', 'close']);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(path, 'utf8')).toBe('x');
  });
});
