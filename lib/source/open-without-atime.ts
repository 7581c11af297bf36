import { constants, openSync } from 'node:fs';

/**
 * Opening an image's files for reading without touching their access times. With relatime (the usual
 * mount option) the first read of a file whose atime is older than its mtime or ctime writes its
 * inode: a metadata write into the user's image, which imgfs promises never to make. O_NOATIME stops
 * it; Linux allows it only to the file's owner (or CAP_FOWNER) and answers EPERM otherwise, so such a
 * file is opened as usual, and platforms without the flag open as usual.
 */
const NO_ATIME: number = constants.O_NOATIME ?? 0;

export function openSyncWithoutAtime(path: string): number {
  if (NO_ATIME === 0) return openSync(path, 'r');
  try {
    return openSync(path, constants.O_RDONLY | NO_ATIME);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
    return openSync(path, 'r');
  }
}
