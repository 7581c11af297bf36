/**
 * The few file operations an OCI image layout needs, over a directory or over an archive, so that
 * oci-layout.ts is written once. Paths are `/`-separated and relative to the layout root; callers pass
 * only fixed names (`oci-layout`, `index.json`) and validated `blobs/<alg>/<hex>` paths, and each
 * implementation still refuses anything that would leave the layout.
 */
import { closeSync, fstatSync, readSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { ImgfsError } from '../errors.js';
import type { ByteSource } from '../source/byte-source.js';
import { BufferSource } from '../source/buffer-source.js';
import { FileSource } from '../source/file-source.js';
import { openSyncWithoutAtime } from '../source/open-without-atime.js';
import { readJsonDocument, type ExpectedDigest } from './json-document.js';
import type { OuterTar } from './outer-tar.js';

/** Layout documents up to this size are read whole at once (DirLayoutFiles.readJson). */
const SMALL_DOCUMENT = 1024 * 1024;

export interface LayoutFiles {
  /** The directory or archive, for messages. */
  readonly archive: string;
  /** Size of the regular file at `path`, or undefined when there is none. */
  size(path: string): Promise<number | undefined>;
  /** The file as a source, kept open until `close()`. EIMGFORMAT when it is missing. */
  open(path: string): Promise<ByteSource>;
  /** Reads a JSON document whole (see json-document.ts), checking its digest when given. EIMGFORMAT when it is missing. */
  readJson(path: string, expected?: ExpectedDigest): Promise<unknown>;
  /** Closes every source `open` returned. */
  close(): Promise<void>;
}

/** A layout inside an outer tar: members are slices of it, links followed inside the archive only. */
export class TarLayoutFiles implements LayoutFiles {
  constructor(private readonly tar: OuterTar) {}

  get archive(): string {
    return this.tar.archive;
  }

  async size(path: string): Promise<number | undefined> {
    return this.tar.hasFile(path) ? this.tar.resolve(path).size : undefined;
  }

  async open(path: string): Promise<ByteSource> {
    return this.tar.open(path);
  }

  async readJson(path: string, expected?: ExpectedDigest): Promise<unknown> {
    return readJsonDocument(this.tar.open(path), { archive: this.archive, member: path }, expected);
  }

  async close(): Promise<void> {
    // Slices own nothing; the outer file is closed by whoever opened it.
  }
}

/**
 * A layout directory. Every file is located through realpath and must stay inside the (real) layout
 * directory: a blob that is a symlink to /etc/shadow is refused, not read. realpath and stat are the
 * synchronous calls (microseconds each on a local directory): an open makes about thirty of them, and
 * as thread-pool round trips one after the other they were a quarter of a warm lookup's time.
 */
export class DirLayoutFiles implements LayoutFiles {
  /**
   * By real path: a blob listed many times (or linked under several names) holds one descriptor, also
   * when its layers are opened at once.
   */
  private readonly opened = new Map<string, Promise<ByteSource>>();

  private constructor(
    readonly archive: string,
    private readonly root: string,
  ) {}

  static async open(dir: string): Promise<DirLayoutFiles> {
    return new DirLayoutFiles(dir, realpathSync.native(dir));
  }

  async size(path: string): Promise<number | undefined> {
    const real = this.locate(path);
    if (real === undefined) return undefined;
    const stats = statSync(real);
    return stats.isFile() ? stats.size : undefined;
  }

  async open(path: string): Promise<ByteSource> {
    const real = this.existing(path);
    let source = this.opened.get(real);
    if (source === undefined) {
      source = FileSource.open(real, join(this.archive, path));
      this.opened.set(real, source);
    }
    return source;
  }

  async readJson(path: string, expected?: ExpectedDigest): Promise<unknown> {
    const real = this.existing(path);
    const where = { archive: this.archive, member: path };
    // A document of a size a layout's JSON has is read in one synchronous call (open, read, close as
    // round trips, four documents one after another, were a tenth of a warm lookup); anything larger
    // goes through the source, which refuses it (ELIMIT) without reading it.
    const whole = readWhole(real, SMALL_DOCUMENT);
    if (whole !== undefined) return readJsonDocument(new BufferSource(whole, join(this.archive, path)), where, expected);
    const source = await FileSource.open(real, join(this.archive, path));
    try {
      return await readJsonDocument(source, where, expected);
    } finally {
      await source.close();
    }
  }

  async close(): Promise<void> {
    const opening = [...this.opened.values()];
    this.opened.clear();
    const sources = await Promise.allSettled(opening);
    await Promise.all(sources.map((source) => (source.status === 'fulfilled' ? source.value.close() : undefined)));
  }

  /** The real path of an existing regular file; EIMGFORMAT when missing or not a file. */
  private existing(path: string): string {
    const real = this.locate(path);
    if (real === undefined) throw new ImgfsError('EIMGFORMAT', `${path} is missing`, { archive: this.archive, member: path });
    if (!statSync(real).isFile()) {
      throw new ImgfsError('EIMGFORMAT', `${path} is not a regular file`, { archive: this.archive, member: path });
    }
    return real;
  }

  /** realpath of `path` under the root; undefined when nothing is there; EIMGFORMAT when outside. */
  private locate(path: string): string | undefined {
    if (path.split('/').some((part) => part === '..' || part === '') || path.startsWith('/')) {
      throw new ImgfsError('EIMGFORMAT', `${path} is not a path inside the layout`, { archive: this.archive, member: path });
    }
    let real: string;
    try {
      real = realpathSync.native(join(this.root, ...path.split('/')));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      if (code === 'ELOOP') {
        throw new ImgfsError('EIMGFORMAT', `${path} is a symlink loop`, { archive: this.archive, member: path, cause: error });
      }
      throw error;
    }
    if (real !== this.root && !real.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep)) {
      throw new ImgfsError('EIMGFORMAT', `${path} resolves to ${real}, outside the layout directory`, {
        archive: this.archive,
        member: path,
      });
    }
    return real;
  }
}

/** The file's bytes when it holds at most `limit` of them (read with synchronous calls), else undefined. */
function readWhole(file: string, limit: number): Buffer | undefined {
  const fd = openSyncWithoutAtime(file);
  try {
    const size = fstatSync(fd).size;
    if (size > limit) return undefined;
    // One byte more than stated: a file that grew since is left to the bounded path.
    const bytes = Buffer.allocUnsafe(size + 1);
    let filled = 0;
    for (let n = -1; n !== 0 && filled < bytes.length; filled += n) n = readSync(fd, bytes, filled, bytes.length - filled, filled);
    return filled > size ? undefined : bytes.subarray(0, filled);
  } finally {
    closeSync(fd);
  }
}
