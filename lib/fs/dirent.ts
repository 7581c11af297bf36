import { FileTypeTests, type FileType } from './image-stats.js';
import type { ImageDirent } from './types.js';

/** A directory entry as `readdir({ withFileTypes: true })` returns it, shaped like `fs.Dirent`. */
export class Dirent extends FileTypeTests implements ImageDirent {
  constructor(
    readonly name: string,
    readonly parentPath: string,
    readonly type: FileType,
    readonly ino: number,
  ) {
    super();
  }

  get path(): string {
    return this.parentPath;
  }
}
