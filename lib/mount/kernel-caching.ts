/**
 * What imgfs asks of the kernel when the connection starts. The view never changes, so the kernel
 * may cache everything; what it cannot cache by itself is made cheap here:
 * - READDIRPLUS off: with it, libfuse answers every directory listing by asking for the attributes
 *   of every entry again (one round trip into JavaScript each), although the kernel already holds
 *   them for a day; plain READDIR gives names and types, and lookups hit the kernel's cache.
 * - symlink targets cached in the page cache (CACHE_SYMLINKS), where the kernel supports it.
 */
import type { FuseConnection, FuseInitConfig } from './fuse-binding.js';

// Capability bits of libfuse 3 (fuse_common.h), stable across its versions.
const READDIRPLUS = 1 << 13;
const READDIRPLUS_AUTO = 1 << 14;
const CACHE_SYMLINKS = 1 << 23;

export function kernelCaching(connection: FuseConnection): FuseInitConfig {
  const want = (connection.want & ~(READDIRPLUS | READDIRPLUS_AUTO)) | (connection.capable & CACHE_SYMLINKS);
  // Unsigned: the high bits must not turn the value negative.
  return { want: want >>> 0 };
}
