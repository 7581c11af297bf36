import { randomBytes } from '../lazy-crypto.js';
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { fsPromises } from '../lazy-fs-promises.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LayerTable } from './layer-table.js';
import { sha256Hex } from './sha256-hex.js';
import { decodeSnapshot, encodeSnapshot, SNAPSHOT_FORMAT_VERSION } from './snapshot-codec.js';
import type { WarningSink } from '../warnings.js';

/** `$XDG_CACHE_HOME/imgfs`, else `~/.cache/imgfs`. */
export function defaultCacheDir(): string {
  const xdg = process.env['XDG_CACHE_HOME'];
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'imgfs');
}

/** Files up to this size are read with synchronous calls (see readCacheFile). */
const SYNC_READ_MAX = 8 * 1024 * 1024;

/**
 * A cache file's bytes. A small one (a warm lookup reads a few, one after another) is read with
 * synchronous calls: four thread-pool round trips each (open, stat, read, close) cost more than the
 * read itself; a large one (a table of a million entries) is read without blocking the event loop.
 */
async function readCacheFile(file: string): Promise<Buffer> {
  const fd = openSync(file, 'r');
  let size: number;
  try {
    size = fstatSync(fd).size;
    if (size <= SYNC_READ_MAX) return readSyncAt(fd, 0, size);
  } finally {
    closeSync(fd);
  }
  return fsPromises().readFile(file);
}

/** Up to `length` bytes of `file` at `offset` (fewer at its end). */
function readAt(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    return readSyncAt(fd, offset, length);
  } finally {
    closeSync(fd);
  }
}

/** Up to `length` bytes of the open file `fd` at `offset`, with synchronous reads (fewer at its end). */
function readSyncAt(fd: number, offset: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const n = readSync(fd, bytes, filled, length - filled, offset + filled);
    if (n === 0) break;
    filled += n;
  }
  return filled === length ? bytes : bytes.subarray(0, filled);
}

/**
 * Layer tables persisted between runs, under a key the caller gives (what names the key is the Layer's
 * business: lib/layer/cache-identity.ts, where only a verified digest is a shared key). A file that is
 * corrupt, of another format version or unreadable is rebuilt with a warning (ECACHE), never trusted;
 * writes are atomic (temporary file + rename), so concurrent openers of one cache each see a whole
 * file or none.
 */
export class TableCache {
  private readonly dir: string;
  private readonly names = new Map<string, string>();

  constructor(
    root: string,
    private readonly onWarning: WarningSink,
  ) {
    this.dir = join(root, `v${SNAPSHOT_FORMAT_VERSION}`);
  }

  /** The cache file for a key made of the given identifying parts. */
  fileFor(identity: string): string {
    return join(this.dir, `${this.nameOf(identity)}.idx`);
  }

  async load(identity: string): Promise<LayerTable | undefined> {
    const file = this.fileFor(identity);
    let bytes: Buffer;
    try {
      bytes = await readCacheFile(file);
    } catch {
      return undefined;
    }
    try {
      return LayerTable.fromSnapshot(decodeSnapshot(bytes));
    } catch (error) {
      this.warn(`index cache ${file} is unusable (${(error as Error).message}); rebuilding it`);
      await fsPromises().rm(file, { force: true }).catch(() => {});
      return undefined;
    }
  }

  /** `encoded`: the table's file bytes when they are at hand already (a table worker made them). */
  async store(identity: string, index: LayerTable, encoded?: Buffer): Promise<void> {
    await this.write(this.fileFor(identity), encoded ?? encodeSnapshot(index.snapshot()));
  }

  /**
   * A companion file kept beside the index files, `<hash of identity>.<suffix>` (e.g. a compressed
   * layer's checkpoints, keyed by its blob digest): its bytes, or undefined. The caller validates them.
   */
  async loadExtra(identity: string, suffix: string): Promise<Buffer | undefined> {
    try {
      return await readCacheFile(this.extraFileFor(identity, suffix));
    } catch {
      return undefined;
    }
  }

  /**
   * A companion file to be read where it lies, a piece at a time (a checkpoint file: its table, then
   * the one window a read needs), or undefined when there is none. Each read opens the file, reads and
   * closes it, synchronously; what it reads may be short or from a newer file: the caller checks.
   */
  openExtra(identity: string, suffix: string): { size: number; read(offset: number, length: number): Buffer } | undefined {
    const file = this.extraFileFor(identity, suffix);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return undefined;
    }
    return { size, read: (offset, length) => readAt(file, offset, length) };
  }

  /** Stores a companion file atomically, like `store`; a failure is a warning. */
  async storeExtra(identity: string, suffix: string, bytes: Buffer): Promise<void> {
    await this.write(this.extraFileFor(identity, suffix), bytes);
  }

  /** Removes a companion file that turned out unusable, with a warning saying why. */
  async dropExtra(identity: string, suffix: string, reason: string): Promise<void> {
    const file = this.extraFileFor(identity, suffix);
    this.warn(`index cache ${file} is unusable (${reason}); removing it`);
    await fsPromises().rm(file, { force: true }).catch(() => {});
  }

  private extraFileFor(identity: string, suffix: string): string {
    if (!/^[a-z0-9]+$/.test(suffix)) throw new RangeError(`bad cache file suffix: ${suffix}`);
    return join(this.dir, `${this.nameOf(identity)}.${suffix}`);
  }

  /**
   * The hash that names an identity's files, worked out once: a layer's table and its checkpoints are
   * often under one identity (the file holding it), and sha256Hex runs in V8's interpreter (~0.15 ms).
   */
  private nameOf(identity: string): string {
    let name = this.names.get(identity);
    if (name === undefined) {
      name = sha256Hex(identity);
      this.names.set(identity, name);
    }
    return name;
  }

  private warn(message: string): void {
    this.onWarning({ code: 'ECACHE', message });
  }

  /** Temporary file + rename: concurrent readers see a whole file or none. */
  private async write(file: string, bytes: Buffer): Promise<void> {
    const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await fsPromises().mkdir(this.dir, { recursive: true });
      await fsPromises().writeFile(temporary, bytes, { flag: 'wx' });
      await fsPromises().rename(temporary, file);
    } catch (error) {
      await fsPromises().rm(temporary, { force: true }).catch(() => {});
      this.warn(`index cache: could not store ${file}: ${(error as Error).message}`);
    }
  }
}
