/**
 * The libfuse operation table for one image: each handler asks the fs-shaped API (lazily opened
 * images index the layers a question reaches, top-down) and turns the answer or the error into what
 * the kernel expects.
 */
import { FsError } from '../fs/fs-errors.js';
import { ImageStats } from '../fs/image-stats.js';
import type { ImageFS } from '../fs/types.js';
import { fuseStats, type OwnerMapping } from './attributes.js';
import { directoryPage } from './directory-listings.js';
import { negated, ProblemReporter } from './errno.js';
import { opensForWriting, readRange } from './file-reads.js';
import { kernelCaching } from './kernel-caching.js';
import type { FuseOperations } from './fuse-binding.js';
import { readOnlyOperations } from './read-only.js';
import { statfs } from './statfs.js';
import { Xattrs } from './xattrs.js';
import type { WarningSink } from '../warnings.js';
import { packageBuild, type BindingBuild } from './binding-names.js';
import type { ServedFiles } from './served-files.js';
import { join } from 'node:path/posix';
import { constants } from 'node:fs';

const { S_IFMT, S_IFREG } = constants;

const IMPLICIT_ROOT = new ImageStats({
  type: 'dir',
  perm: 0o755,
  uid: 0,
  gid: 0,
  uname: '',
  gname: '',
  size: 0,
  mtimeMs: 0,
  nlink: 2,
  ino: 1,
  devmajor: 0,
  devminor: 0,
  xattrs: {},
  layer: 0,
  target: undefined,
});

/**
 * `kernelRefusesWrites`: the mount is read-only in the kernel (`-o ro`), which then refuses every
 * open for writing before it reaches imgfs.
 */
export function filesystemOperations(
  img: ImageFS,
  owners: OwnerMapping,
  warn: WarningSink,
  kernelRefusesWrites: boolean,
  binding: BindingBuild = packageBuild(),
  /** Where given, files stored as they are are handed to the binding's C reads as the kernel learns of them. */
  served?: ServedFiles,
): FuseOperations {
  const { fromKernel, toKernel } = binding.names;
  const attributesInListings = binding.readdirPlus ? { owners } : undefined;
  const problems = new ProblemReporter(warn);
  const xattrs = new Xattrs(img);

  /** Runs `work`, answering its value, or the errno of what it threw. */
  function answer<T>(path: string, work: () => Promise<T>, done: (result: number, value?: T) => void): void {
    work().then(
      (value) => done(0, value),
      (error: unknown) => done(problems.errnoOf(error, path)),
    );
  }

  const getattr = (kernelPath: string, cb: Parameters<FuseOperations['getattr']>[1]): void => {
    const known = fromKernel(kernelPath);
    answer(
      known,
      async () => {
        // A lookup may name what no listing showed yet (binding-names.ts).
        const path = binding.names.lookUp === undefined ? known : await binding.names.lookUp(kernelPath, (directory) => img.readdir(directory));
        const stats = await rootSafeLstat(path);
        if (stats.isFile()) served?.offer(path);
        if (stats.target !== undefined) served?.offerLink(path, stats.target);
        return fuseStats(stats, owners);
      },
      cb,
    );
  };

  /**
   * The root must always have attributes, or the mount cannot even come up (the kernel stats it
   * first); when a broken layer keeps the view from answering, it is shown as an implicit directory
   * (DESIGN.md R6) and the problem reported, while listing it still gives EIO.
   */
  async function rootSafeLstat(path: string): Promise<ImageStats> {
    try {
      return await img.lstat(path);
    } catch (error) {
      if (path !== '/' || error instanceof FsError) throw error;
      problems.errnoOf(error, path);
      return IMPLICIT_ROOT;
    }
  }

  return {
    initWithConfig: (connection, cb) => cb(0, kernelCaching(connection, binding.readdirPlus)),
    getattr,
    fgetattr: (path, _fd, cb) => getattr(path, cb),
    readlink: (kernelPath, cb) => {
      const path = fromKernel(kernelPath);
      answer(path, async () => toKernel(await img.readlink(path)), cb);
    },

    readdirPaged: (kernelPath, _fd, offset, cb) => {
      const path = fromKernel(kernelPath);
      directoryPage(img, path, offset, attributesInListings).then(
        (page) => {
          if (served !== undefined) {
            for (const [i, stats] of page.stats.entries()) {
              const child = join(path, page.names[i] as string);
              if ((stats.mode & S_IFMT) === S_IFREG) served.offer(child);
              const target = page.targets[i];
              if (target !== undefined) served.offerLink(child, target);
            }
          }
          binding.names.listed?.(path, page.names);
          cb(0, page.names.map(toKernel), page.stats, page.nextOffsets);
        },
        (error: unknown) => cb(problems.errnoOf(error, path)),
      );
    },
    read: (kernelPath, _fd, buffer, length, position, cb) => {
      const path = fromKernel(kernelPath);
      readRange(img, path, buffer, length, position).then(cb, (error: unknown) => cb(problems.errnoOf(error, path)));
    },
    ...(kernelRefusesWrites
      ? {}
      : {
          // Only where the mount could not be made read-only in the kernel: then opens for writing
          // reach imgfs and are refused here. Otherwise libfuse answers opens itself (with
          // keep_cache, from `kernel_cache`), sparing one round trip into JavaScript per file.
          open: (_path: string, flags: number, cb: (result: number, handle?: { fd: number; keepCache: boolean }) => void) => {
            if (opensForWriting(flags)) return cb(negated('EROFS'));
            cb(0, { fd: 0, keepCache: true });
          },
        }),

    getxattr: (kernelPath, name, _position, cb) => {
      const path = fromKernel(kernelPath);
      xattrs.get(path, name).then(
        (value) => (value === undefined ? cb(negated('ENODATA')) : cb(0, value)),
        (error: unknown) => cb(problems.errnoOf(error, path)),
      );
    },
    listxattr: (kernelPath, cb) => {
      const path = fromKernel(kernelPath);
      answer(path, () => xattrs.list(path), cb);
    },
    statfs: (_path, cb) => cb(0, statfs(img)),

    ...readOnlyOperations(),
  };
}
