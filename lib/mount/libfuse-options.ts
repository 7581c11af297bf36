/**
 * Mount options the binding has no setting for (or guards too strictly: allow_other, see mount.ts),
 * added to the option string it hands to `fuse_new()`: `ro,noatime`. The kernel then refuses writes before they reach imgfs, `mount` and `findmnt` say
 * `ro`, and reads no longer mark access times stale, which would otherwise send one attribute request
 * per `fstat` after a read. (libfuse 3's `use_ino` is not an option any more but a fuse_config field
 * of the init callback, out of reach from here: bin/build-fuse-binding.sh sets it.)
 * fuse-napi 2.3.1 builds that string in `_fuseOptions()`; it is extended on this one instance. Should a
 * later binding version build its options differently, this does nothing and the handlers
 * (read-only.ts) still answer EROFS.
 */
import type { FuseConstructor, FuseInstance } from './fuse-binding.js';

export const READ_ONLY = ['ro', 'noatime'] as const;

export function addLibfuseOptions(fuse: FuseInstance, extra: readonly string[]): void {
  // The same test as canAddLibfuseOptions, on the instance.
  const instance = fuse as FuseInstance & { _fuseOptions?: unknown };
  const build = instance._fuseOptions;
  if (typeof build !== 'function') return;
  instance._fuseOptions = function withImgfsOptions(this: unknown): unknown {
    const options: unknown = build.call(this);
    if (typeof options !== 'string') return options;
    return options === '' ? `-o${extra.join(',')}` : `${options},${extra.join(',')}`;
  };
}

/** Whether `addLibfuseOptions` will work with this binding (it builds its options in `_fuseOptions`). */
export function canAddLibfuseOptions(Fuse: FuseConstructor): boolean {
  return typeof (Fuse.prototype as { _fuseOptions?: unknown })._fuseOptions === 'function';
}
