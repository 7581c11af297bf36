import type { ImageStats } from './image-stats.js';
import type { ImageDirent, ImageFS } from './types.js';

/** Node's callback shape: on error the value argument is absent. */
type Callback<T> = (error: NodeJS.ErrnoException | null, value: T) => void;
type ReaddirOptions = { withFileTypes?: boolean } | BufferEncoding | undefined;

/**
 * The slice of `node:fs` that directory walkers and glob libraries use (fast-glob's and glob's `fs`
 * option, `@nodelib/fs.walk`), answering from the image instead of the host. Callback, promise and
 * Sync forms; read-only. Paths are image paths (`/` is the image root).
 */
export interface NodeFsAdapter {
  lstat(path: string, callback: Callback<ImageStats>): void;
  stat(path: string, callback: Callback<ImageStats>): void;
  readdir(path: string, callback: Callback<string[]>): void;
  readdir(path: string, options: { withFileTypes: true }, callback: Callback<ImageDirent[]>): void;
  readdir(path: string, options: ReaddirOptions, callback: Callback<string[]>): void;
  readlink(path: string, options: unknown, callback?: Callback<string>): void;
  realpath(path: string, options: unknown, callback?: Callback<string>): void;
  readFile(path: string, options: unknown, callback?: Callback<Buffer | string>): void;
  access(path: string, mode: unknown, callback?: Callback<void>): void;
  lstatSync(path: string): ImageStats;
  statSync(path: string): ImageStats;
  readdirSync(path: string, options: { withFileTypes: true }): ImageDirent[];
  readdirSync(path: string, options?: ReaddirOptions): string[];
  readlinkSync(path: string): string;
  realpathSync(path: string): string;
  existsSync(path: string): boolean;
  promises: {
    lstat(path: string): Promise<ImageStats>;
    stat(path: string): Promise<ImageStats>;
    readdir(path: string, options: { withFileTypes: true }): Promise<ImageDirent[]>;
    readdir(path: string, options?: ReaddirOptions): Promise<string[]>;
    readlink(path: string): Promise<string>;
    realpath(path: string): Promise<string>;
    readFile(path: string, options?: { encoding?: BufferEncoding } | BufferEncoding): Promise<Buffer | string>;
    access(path: string): Promise<void>;
  };
}

export function createNodeFsAdapter(image: ImageFS): NodeFsAdapter {
  const withTypes = (options: ReaddirOptions): boolean => typeof options === 'object' && options.withFileTypes === true;
  // Typed as the overloads of the interface: the names or the dirents, as `options` asks.
  const readdirSync = ((path: string, options?: ReaddirOptions): string[] | ImageDirent[] =>
    withTypes(options) ? image.readdirSync(path, { withFileTypes: true }) : image.readdirSync(path)) as NodeFsAdapter['readdirSync'];
  const encodingOf = (options: unknown): BufferEncoding | undefined =>
    typeof options === 'string' ? (options as BufferEncoding) : (options as { encoding?: BufferEncoding } | undefined)?.encoding;
  const readFile = async (path: string, options?: unknown): Promise<Buffer | string> => {
    const encoding = encodingOf(options);
    return encoding === undefined ? image.readFile(path) : image.readFile(path, { encoding });
  };

  const promises: NodeFsAdapter['promises'] = {
    lstat: (path) => image.lstat(path),
    stat: (path) => image.stat(path),
    readdir: (async (path: string, options?: ReaddirOptions) => readdirSync(path, options)) as NodeFsAdapter['promises']['readdir'],
    readlink: (path) => image.readlink(path),
    realpath: (path) => image.realpath(path),
    readFile,
    access: async (path) => {
      await image.stat(path);
    },
  };

  return {
    lstat: (path, callback) => settle(promises.lstat(path), callback),
    stat: (path, callback) => settle(promises.stat(path), callback),
    readdir: (path: string, options: unknown, callback?: unknown) => {
      const [opts, done] = typeof options === 'function' ? [undefined, options] : [options as ReaddirOptions, callback];
      settle<string[] | ImageDirent[]>(promises.readdir(path, opts), done as Callback<string[] | ImageDirent[]>);
    },
    readlink: (path, options, callback) => settle(promises.readlink(path), pick(options, callback)),
    realpath: (path, options, callback) => settle(promises.realpath(path), pick(options, callback)),
    readFile: (path, options, callback) => {
      const done = pick<Buffer | string>(options, callback);
      settle(readFile(path, typeof options === 'function' ? undefined : options), done);
    },
    access: (path, mode, callback) => settle(promises.access(path), pick(mode, callback)),
    lstatSync: (path) => image.lstatSync(path),
    statSync: (path) => image.statSync(path),
    readdirSync,
    readlinkSync: (path) => image.readlinkSync(path),
    realpathSync: (path) => image.realpathSync(path),
    existsSync: (path) => image.existsSync(path),
    promises,
  };
}

/** Node's optional-options convention: the callback is the last function argument. */
function pick<T>(options: unknown, callback: Callback<T> | undefined): Callback<T> {
  return (typeof options === 'function' ? options : callback) as Callback<T>;
}

/** Runs the callback outside the promise chain, so an exception thrown by it is not swallowed. */
function settle<T>(promise: Promise<T>, callback: Callback<T>): void {
  promise.then(
    (value) => process.nextTick(callback, null, value),
    (error: NodeJS.ErrnoException) => process.nextTick(() => (callback as (error: NodeJS.ErrnoException) => void)(error)),
  );
}
