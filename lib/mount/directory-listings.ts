/**
 * `readdir` with resumable offsets, so a directory of any size is listed in as many kernel buffers
 * as it takes. The offset of an entry is its position in the directory's listing + 1: the listing
 * is sorted by name bytes and the view never changes, so an offset means the same entry on every
 * call, and no per-handle state is needed (no `opendir`/`releasedir` round trips into JavaScript).
 */
import type { ImageFS } from '../fs/types.js';
import { direntStats } from './attributes.js';
import type { FuseDirentStats } from './fuse-binding.js';

/** Entries handed to the binding per call; the kernel stops taking them when its buffer is full. */
const PAGE_SIZE = 512;

export interface DirectoryPage {
  names: string[];
  stats: FuseDirentStats[];
  /** Offset to resume after each entry (0 means "from the start"). */
  nextOffsets: number[];
}

export async function directoryPage(img: ImageFS, path: string, offset: number): Promise<DirectoryPage> {
  const dirents = await img.readdir(path, { withFileTypes: true });
  const entries = [{ name: '.', type: 'dir' as const }, { name: '..', type: 'dir' as const }, ...dirents];
  const slice = entries.slice(offset, offset + PAGE_SIZE);
  return {
    names: slice.map((entry) => entry.name),
    stats: slice.map((entry) => direntStats(entry.type)),
    nextOffsets: slice.map((_, i) => offset + i + 1),
  };
}
