/**
 * `statfs` (`df`, `stat -f`): a full, read-only filesystem the size of the image's content. Sizes of
 * layers not indexed yet (a lazy mount) count with their stored size until they are.
 */
import type { ImageFS } from '../fs/types.js';
import type { FuseStatfs } from './fuse-binding.js';

const BLOCK_SIZE = 4096;
/** `ST_RDONLY`, what `statvfs` reports for a read-only mount. */
const ST_RDONLY = 1;
const NAME_MAX = 255;

export function statfs(img: ImageFS): FuseStatfs {
  let bytes = 0;
  let files = 0;
  for (const layer of img.layers) {
    bytes += layer.uncompressedSize ?? layer.size;
    files += layer.entries ?? 0;
  }
  return {
    bsize: BLOCK_SIZE,
    frsize: BLOCK_SIZE,
    blocks: Math.ceil(bytes / BLOCK_SIZE),
    bfree: 0,
    bavail: 0,
    files,
    ffree: 0,
    favail: 0,
    fsid: 0,
    flag: ST_RDONLY,
    namemax: NAME_MAX,
  };
}
