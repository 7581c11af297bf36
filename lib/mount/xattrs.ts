/**
 * Extended attributes as the layer tars recorded them (PAX `SCHILY.xattr.*`), for `getfattr -d`,
 * capability-aware scanners and SELinux labels. Read from the entry itself, not following symlinks,
 * as `lgetxattr` does (the kernel resolves the path before asking).
 */
import type { ImageFS } from '../fs/types.js';

export class Xattrs {
  constructor(private readonly img: ImageFS) {}

  async list(path: string): Promise<string[]> {
    return Object.keys((await this.img.lstat(path)).xattrs);
  }

  /** The value, or undefined when the entry has no attribute of that name (ENODATA). */
  async get(path: string, name: string): Promise<Buffer | undefined> {
    return (await this.img.lstat(path)).xattrs[name];
  }
}
