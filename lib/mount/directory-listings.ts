/**
 * `opendir` / `readdir` / `releasedir` with resumable offsets, so a directory of any size is listed
 * in as many kernel buffers as it takes. The listing is taken once, when the directory is opened, and
 * kept with the handle: offsets then stay meaningful for the handle's whole life (as POSIX wants for
 * `telldir`/`seekdir`), and the view never changes anyway.
 */
import type { ImageFS } from '../fs/types.js';
import type { FileType } from '../fs/image-stats.js';
import { direntStats } from './attributes.js';
import type { FuseDirentStats } from './fuse-binding.js';

/** Entries handed to the binding per call; the kernel stops taking them when its buffer is full. */
const PAGE_SIZE = 256;

export interface DirectoryPage {
  names: string[];
  stats: FuseDirentStats[];
  /** Offset to resume after each entry: its position + 1 (0 means "from the start"). */
  nextOffsets: number[];
}

export class DirectoryListings {
  private readonly open = new Map<number, Array<{ name: string; type: FileType }>>();
  private nextHandle = 1;

  constructor(private readonly img: ImageFS) {}

  /** Lists `path` (rejecting as `readdir` does) and returns a handle for `page`. */
  async opendir(path: string): Promise<number> {
    const dirents = await this.img.readdir(path, { withFileTypes: true });
    const entries = [
      { name: '.', type: 'dir' as const },
      { name: '..', type: 'dir' as const },
      ...dirents.map((dirent) => ({ name: dirent.name, type: dirent.type })),
    ];
    const handle = this.nextHandle++;
    this.open.set(handle, entries);
    return handle;
  }

  /** Entries from `offset` on, or undefined for a handle that is not open. */
  page(handle: number, offset: number): DirectoryPage | undefined {
    const entries = this.open.get(handle);
    if (entries === undefined) return undefined;
    const slice = entries.slice(offset, offset + PAGE_SIZE);
    return {
      names: slice.map((entry) => entry.name),
      stats: slice.map((entry) => direntStats(entry.type)),
      nextOffsets: slice.map((_, i) => offset + i + 1),
    };
  }

  release(handle: number): void {
    this.open.delete(handle);
  }
}
