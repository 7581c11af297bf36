/**
 * What imgfs asks of the kernel when the connection starts. The view never changes, so the kernel
 * may cache everything; what it cannot cache by itself is made cheap here:
 * - READDIRPLUS always, where the binding lists entries with their attributes (the build of
 *   bin/build-fuse-binding.sh): the kernel learns every name with its attributes from the
 *   listing, and a walk needs no LOOKUP request per name. Otherwise off: libfuse would answer each
 *   listing by asking for the attributes of every entry again, one round trip into JavaScript each;
 *   plain READDIR gives names and types, and lookups are asked once and cached.
 * - symlink targets cached in the page cache (CACHE_SYMLINKS), where the kernel supports it.
 */
import type { FuseConnection, FuseInitConfig } from './fuse-binding.js';

// Capability bits of libfuse 3 (fuse_common.h), stable across its versions.
const READDIRPLUS = 1 << 13;
const READDIRPLUS_AUTO = 1 << 14;
const CACHE_SYMLINKS = 1 << 23;

export function kernelCaching(connection: FuseConnection, listingsCarryAttributes: boolean): FuseInitConfig {
  // READDIRPLUS_AUTO would use it for the first buffer of a listing only.
  const plus = listingsCarryAttributes ? connection.capable & READDIRPLUS : 0;
  const want = (connection.want & ~(READDIRPLUS | READDIRPLUS_AUTO)) | plus | (connection.capable & CACHE_SYMLINKS);
  // Unsigned: the high bits must not turn the value negative.
  return { want: want >>> 0 };
}
