/**
 * What `imgfs mount` asks of an image beyond the public `ImageFS`: where a file of the view lies, as it
 * is, in a file on disk, which it hands its C read path (lib/mount/served-files.ts) so that reads of
 * such files need no JavaScript (only an uncompressed layer's regular member in one piece has one); and
 * a range of a file as one Buffer, without a stream's machinery per kernel request; and checkpoints
 * close together in compressed layers, which a mount reads again and again.
 */
import type { ImageFS, LayerInfo } from './types.js';

/** The file's `size` bytes are at `offset` of the open descriptor `fd`, which the image owns. */
export interface FileExtent {
  readonly fd: number;
  readonly offset: number;
  readonly size: number;
}

/** The file's `size` bytes are at `offset` of the decoded stream of compressed layer `layer`. */
export interface DecodedExtent {
  readonly layer: number;
  readonly offset: number;
  readonly size: number;
}

export interface FileRegions {
  /** The extent of the file at `path` (no symlink followed), or undefined: not a file, not stored as it is, not indexed yet. */
  fileExtent(path: string): FileExtent | undefined;
  /** Bytes [start, end) of the file at `path` (symlinks followed), clamped to its size. */
  readRange(path: string, start: number, end: number): Promise<Buffer>;
  /**
   * Compressed layers not indexed yet record checkpoints from their first pass on, `spacingOf(layer)`
   * decoded bytes apart, so that a read out of order decodes about that much (see
   * LayerReader.recordCheckpointsEvery).
   */
  recordCheckpointsEvery(spacingOf: (layer: LayerInfo) => number): void;
  /** Where the file at `path` (no symlink followed) lies in a compressed layer's decoded stream, or undefined. */
  decodedExtent(path: string): DecodedExtent | undefined;
  /** Hears of every span the compressed layers decode for reads, with the layer's index (see DecompressedSource.onReadSpan). */
  onReadSpan(listener: (layer: number, start: number, span: Buffer) => void): void;
}

export function hasFileRegions(img: ImageFS): img is ImageFS & FileRegions {
  return typeof (img as Partial<FileRegions>).fileExtent === 'function';
}
