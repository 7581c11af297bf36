/**
 * Where a file of the view lies, as it is, in a file on disk: not part of the public `ImageFS`, but
 * what `imgfs mount` hands its C read path (lib/mount/served-files.ts) so that reads of such files need
 * no JavaScript. Only an uncompressed layer's regular member in one piece has one.
 */
import type { FileRegion } from '../source/byte-source.js';
import type { ImageFS } from './types.js';

/** The file's `size` bytes are at `offset` of the open descriptor `fd`, which the image owns. */
export interface FileExtent extends FileRegion {
  readonly size: number;
}

export interface FileRegions {
  /** The extent of the file at `path` (no symlink followed), or undefined: not a file, not stored as it is, not indexed yet. */
  fileExtent(path: string): FileExtent | undefined;
}

export function hasFileRegions(img: ImageFS): img is ImageFS & FileRegions {
  return typeof (img as Partial<FileRegions>).fileExtent === 'function';
}
