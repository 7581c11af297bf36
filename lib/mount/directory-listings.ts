/**
 * `readdir` with resumable offsets, so a directory of any size is listed in as many kernel buffers
 * as it takes. The offset of an entry is its position in the directory's listing + 1: the listing
 * is sorted by name bytes and the view never changes, so an offset means the same entry on every
 * call, and no per-handle state is needed (no `opendir`/`releasedir` round trips into JavaScript).
 */
import { dirname, join } from 'node:path/posix';
import type { ImageFS } from '../fs/types.js';
import { direntStats, fuseStats, type OwnerMapping } from './attributes.js';
import type { FuseDirentStats, FuseStats } from './fuse-binding.js';

/**
 * libfuse's number for "inode unknown", for a dot entry whose directory cannot be looked up. It must
 * not be 0: glibc's readdir skips entries whose `d_ino` is 0.
 */
const UNKNOWN_INO = 0xffffffff;

/**
 * Added to the offset after a directory's last entry. The kernel asks again from there only to learn
 * that nothing follows; the binding build of bin/build-fuse-binding.sh answers that in C, and
 * any other build asks here and gets an empty page (the offset is past every entry).
 */
export const END_OF_LISTING = 2 ** 52;

/** Entries handed to the binding per call; the kernel stops taking them when its buffer is full. */
const PAGE_SIZE = 512;
/** With attributes an entry takes ~6× the room in the kernel's buffer, and each costs a lookup here. */
const PAGE_SIZE_WITH_ATTRIBUTES = 128;

export interface DirectoryPage {
  names: string[];
  /** Full attributes where asked for and known (READDIRPLUS), else type and inode number. */
  stats: Array<FuseDirentStats | FuseStats>;
  /** Offset to resume after each entry (0 means "from the start"). */
  nextOffsets: number[];
  /** Each symlink's target, where its full attributes were looked up. */
  targets: Array<string | undefined>;
}

/**
 * `withAttributes`: each entry carries its full attributes, so that the kernel needs no lookup per
 * name (the binding build of bin/build-fuse-binding.sh hands them on as READDIRPLUS entries); an
 * entry whose attributes cannot be had (a broken layer) is listed with its type only.
 */
export async function directoryPage(
  img: ImageFS,
  path: string,
  offset: number,
  withAttributes?: { owners: OwnerMapping },
): Promise<DirectoryPage> {
  const dirents = await img.readdir(path, { withFileTypes: true });
  // The dot entries lead the first page; their numbers cost a lookup each, so only that page asks.
  const first = offset < 2;
  const dots = [
    { name: '.', type: 'dir' as const, ino: first ? await inodeOf(img, path) : UNKNOWN_INO },
    { name: '..', type: 'dir' as const, ino: first ? await inodeOf(img, path === '/' ? '/' : dirname(path)) : UNKNOWN_INO },
  ];
  const entries = [...dots, ...dirents];
  const slice = entries.slice(offset, offset + (withAttributes === undefined ? PAGE_SIZE : PAGE_SIZE_WITH_ATTRIBUTES));
  const stats: Array<FuseDirentStats | FuseStats> = [];
  const targets: Array<string | undefined> = [];
  for (const [i, entry] of slice.entries()) {
    const dot = offset + i < 2;
    const found = withAttributes === undefined || dot ? undefined : await img.lstat(join(path, entry.name)).catch(() => undefined);
    stats.push(found === undefined || withAttributes === undefined ? direntStats(entry.type, entry.ino) : fuseStats(found, withAttributes.owners));
    targets.push(found?.target);
  }
  return {
    names: slice.map((entry) => entry.name),
    stats,
    targets,
    nextOffsets: slice.map((_, i) => offset + i + 1 + (offset + i + 1 === entries.length ? END_OF_LISTING : 0)),
  };
}

/** `path`'s inode number; a directory that cannot be looked up (a broken layer) still lists. */
async function inodeOf(img: ImageFS, path: string): Promise<number> {
  return img.lstat(path).then(
    (stats) => stats.ino,
    () => UNKNOWN_INO,
  );
}
