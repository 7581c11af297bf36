/**
 * `mount(img, dir)`: the merged view of an open image as a read-only FUSE filesystem at `dir`, until
 * `unmount()` or an unmount from outside (`fusermount3 -u DIR`, `umount DIR`). The image stays the
 * caller's: unmounting does not close it.
 *
 * The kernel is told to cache everything for long (attributes, names, pages with `keep_cache`):
 * nothing in an opened image ever changes, so nothing it caches can go stale.
 */
import { resolve } from 'node:path';
import type { ImageFS } from '../fs/types.js';
import { filesystemOperations } from './filesystem-operations.js';
import type { FuseInstance, FuseMountOptions } from './fuse-binding.js';
import { bindingBuild, loadFuse } from './load-binding.js';
import type { WarningSink } from '../warnings.js';
import { addLibfuseOptions, canAddLibfuseOptions, READ_ONLY } from './libfuse-options.js';
import { hasFileRegions } from '../fs/file-regions.js';
import { ServedFiles } from './served-files.js';
import { closeCheckpointSpacing } from './close-checkpoints.js';

export { FuseUnavailable } from './load-binding.js';

export interface MountOptions {
  /** Let other users than the one mounting see the files (`-o allow_other`; non-root needs user_allow_other in /etc/fuse.conf). */
  allowOther?: boolean;
  /** Show every entry as owned by this uid (`-o uid=N`) instead of the image's. */
  uid?: number;
  /** Show every entry as owned by this gid (`-o gid=N`) instead of the image's. */
  gid?: number;
  /** How long the kernel may trust attributes and names, in seconds (default one day). */
  cacheTimeout?: number;
  /** Problems met while serving, as data (code EIO): e.g. a broken layer (its paths get EIO; the rest is still served). */
  onWarning?: WarningSink;
}

export interface MountHandle {
  /** The mount point, absolute. */
  readonly dir: string;
  /** Unmounts (lazily, so open files do not keep it busy); resolves once the mount is gone. */
  unmount(): Promise<void>;
  /** Settles once the filesystem is unmounted, by `unmount()` or from outside. */
  readonly unmounted: Promise<void>;
}

const ONE_DAY = 24 * 60 * 60;
/**
 * Requests the binding serves at once: enough for parallel readers (`xargs -P8`) to overlap their
 * waits on the archive, while JavaScript itself stays one thread.
 */
const CONCURRENT_REQUESTS = 16;
/** The mount itself must come up quickly; a request may take as long as indexing a large layer. */
const MOUNT_START_TIMEOUT_MS = 30_000;

/** Mounts `img` at `dir` (an existing directory); resolves once the mount serves requests. */
export async function mount(img: ImageFS, dir: string, options: MountOptions = {}): Promise<MountHandle> {
  const Fuse = await loadFuse();
  const warn = options.onWarning ?? (() => undefined);
  const mountPoint = resolve(dir);

  let markUnmounted: () => void = () => undefined;
  const unmounted = new Promise<void>((done) => (markUnmounted = done));
  // Native handles of the binding do not keep Node alive; the mount must, until it is gone.
  const keepAlive = setInterval(() => undefined, 2 ** 30);
  void unmounted.then(() => clearInterval(keepAlive));

  const optionsReachLibfuse = canAddLibfuseOptions(Fuse);
  const binding = bindingBuild();
  let fuse: FuseInstance | undefined;
  const served =
    binding.servedReads !== undefined && hasFileRegions(img) ? new ServedFiles(img, binding.servedReads, binding.names, () => threadOf(fuse)) : undefined;
  void unmounted.then(() => served?.clear());
  if (hasFileRegions(img)) {
    img.recordCheckpointsEvery(closeCheckpointSpacing);
    if (served !== undefined && binding.servedReads?.imgfs_serve_span !== undefined) img.onReadSpan((layer, start, span) => served.offerSpan(layer, start, span));
  }
  const ops = {
    ...filesystemOperations(img, { uid: options.uid, gid: options.gid }, warn, optionsReachLibfuse, binding, served),
    destroy: (cb: (result: number) => void) => {
      markUnmounted();
      cb(0);
    },
  };
  const timeout = options.cacheTimeout ?? ONE_DAY;
  const fuseOptions: FuseMountOptions = {
    fsname: 'imgfs',
    subtype: 'imgfs',
    kernelCache: true,
    attrTimeout: timeout,
    entryTimeout: timeout,
    // libfuse numbers each name it is asked about unless the binding sets use_ino
    // (bin/build-fuse-binding.sh); never forgetting keeps those numbers stable for the life of
    // the mount, at a few dozen bytes per name looked up.
    noforget: true,
    // Permission bits are the image's: the kernel checks them, as on any disk filesystem.
    defaultPermissions: true,
    maxConcurrency: CONCURRENT_REQUESTS,
    timeout: { default: false, init: MOUNT_START_TIMEOUT_MS },
    onError: (error, operation) => {
      // The request loop ended without us: someone ran `fusermount3 -u` or `umount`.
      if (operation === 'lifecycle') markUnmounted();
      else warn({ code: 'EIO', message: `${operation}: ${error instanceof Error ? error.message : String(error)}` });
    },
  };
  const extra: string[] = [...READ_ONLY];
  if (options.allowOther === true) {
    // The binding refuses allowOther unless /etc/fuse.conf has user_allow_other: fusermount3's rule
    // for other users. Root mounts without fusermount3 and needs no such line, so root's option goes
    // to libfuse directly; anyone else gets the binding's check and its clear message.
    if (optionsReachLibfuse && process.getuid?.() === 0) extra.push('allow_other');
    else fuseOptions.allowOther = true;
  }
  if (options.uid !== undefined) fuseOptions.uid = options.uid;
  if (options.gid !== undefined) fuseOptions.gid = options.gid;

  fuse = new Fuse(mountPoint, ops, fuseOptions);
  addLibfuseOptions(fuse, extra);
  try {
    await call(fuse, 'mount');
  } catch (error) {
    clearInterval(keepAlive);
    throw error;
  }

  let unmounting: Promise<void> | undefined;
  const mounted = fuse;
  return {
    dir: mountPoint,
    unmounted,
    unmount() {
      unmounting ??= call(mounted, 'unmount').then(() => markUnmounted());
      return unmounting;
    },
  };
}

/** The binding's per-mount thread state (fuse-napi 2.3.1 keeps it in `_thread` while mounted), which names the mount to the C reads. */
function threadOf(fuse: FuseInstance | undefined): Buffer | undefined {
  const thread = (fuse as { _thread?: unknown } | undefined)?._thread;
  return Buffer.isBuffer(thread) ? thread : undefined;
}

function call(fuse: FuseInstance, method: 'mount' | 'unmount'): Promise<void> {
  return new Promise((done, fail) => {
    fuse[method]((error) => (error ? fail(error) : done()));
  });
}
