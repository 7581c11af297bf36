/**
 * Shared by the hostile-input tests: write a broken image to a temp dir, open it, and check that what
 * comes back is one typed error that says where the problem is.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, onTestFinished } from 'vitest';
import { FsError, ImgfsError, openImage, type ImageFS, type ImgfsErrorCode, type OpenOptions } from '../../lib/index.js';
import { checkImgfsError, type ExpectedImgfsError } from '../helpers/expect-imgfs-error.js';

export { checkImgfsError, type ExpectedImgfsError };

/** Codes an fs-shaped call may fail with. */
export const FS_CODES: ReadonlySet<string> = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'ELOOP', 'EINVAL']);
export const IMGFS_CODES: ReadonlySet<string> = new Set([
  'EIMGFORMAT',
  'ETARCORRUPT',
  'ETRUNCATED',
  'ECOMPRESSION',
  'EDIGEST',
  'ELIMIT',
  'ENOREF',
  'ECLOSED',
  'ECACHE',
  'ENOTINDEXED',
  // Only with `strict`:
  'EUNSUPPORTED',
  'ECONFLICT',
  'EHARDLINK',
]);

/** A fresh temp dir, removed when the current test finishes. */
export function tempDir(prefix = 'imgfs-hostile-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `bytes` to `dir/name` and returns the path. */
export function put(dir: string, name: string, bytes: Buffer | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** What a promise settled with, without throwing: the error, or undefined when it resolved. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Opening `source` rejects with the expected ImgfsError (a hang fails the test by its timeout). */
export async function expectOpenFails(source: string | string[], expected: ExpectedImgfsError, options: OpenOptions = {}): Promise<ImgfsError> {
  return checkImgfsError(await rejection(openAndClose(source, options)), expected);
}

/** Opens and, if that worked, closes (so a test that expected a failure leaks nothing). */
async function openAndClose(source: string | string[], options: OpenOptions): Promise<void> {
  const fs = await openImage(source, { cache: false, ...options });
  await fs.close();
}

/** Opens with the cache off; closed when the test finishes. */
export async function open(source: string | string[], options: OpenOptions = {}): Promise<ImageFS> {
  const fs = await openImage(source, { cache: false, ...options });
  onTestFinished(() => fs.close());
  return fs;
}

/** True for the errors a hostile image may legitimately produce: typed, with a known code. */
export function isTypedError(error: unknown): boolean {
  if (error instanceof ImgfsError) return IMGFS_CODES.has(error.code);
  if (error instanceof FsError) return FS_CODES.has(error.code);
  return false;
}

/** Throws unless `error` is typed; the message says what escaped, with its stack. */
export function assertTyped(error: unknown): void {
  if (isTypedError(error)) return;
  const described = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
  throw new Error(`untyped error escaped: ${described}`);
}

let gcFunction: (() => void) | undefined;

/** A full garbage collection (enabling `gc` at run time when node was started without --expose-gc). */
export function collectGarbage(): void {
  if (gcFunction === undefined) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  gcFunction();
  gcFunction();
}

/** JS heap plus memory outside it (Buffers, typed-array columns) after a full collection, in bytes. */
export function heapUsed(): number {
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

/** Open file descriptors of this process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Replaces bytes of a copy of `buffer` at `offset`. */
export function patch(buffer: Buffer, offset: number, bytes: Buffer | string): Buffer {
  const copy = Buffer.from(buffer);
  (typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes).copy(copy, offset);
  return copy;
}
