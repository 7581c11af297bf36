import type { FileType } from './image-stats.js';
import type { ImageDirent } from './types.js';

/** A directory entry as `readdir({ withFileTypes: true })` returns it, shaped like `fs.Dirent`. */
export class Dirent implements ImageDirent {
  constructor(
    readonly name: string,
    readonly parentPath: string,
    readonly type: FileType,
  ) {}

  get path(): string {
    return this.parentPath;
  }
  isFile(): boolean {
    return this.type === 'file';
  }
  isDirectory(): boolean {
    return this.type === 'dir';
  }
  isSymbolicLink(): boolean {
    return this.type === 'symlink';
  }
  isFIFO(): boolean {
    return this.type === 'fifo';
  }
  isCharacterDevice(): boolean {
    return this.type === 'char';
  }
  isBlockDevice(): boolean {
    return this.type === 'block';
  }
  isSocket(): boolean {
    return this.type === 'socket';
  }
}
