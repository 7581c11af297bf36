import type { TarEntryType } from './tar-entry.js';

/** Typeflags of headers that describe the next entry instead of being one. */
export const PAX_LOCAL = new Set(['x', 'X']); // 'X': Solaris' name for the same thing, as GNU tar reads it
export const PAX_GLOBAL = 'g';
export const GNU_LONG_NAME = 'L';
export const GNU_LONG_LINK = 'K';

/**
 * Maps a typeflag to the entry type. v7 had no directory typeflag: a regular-file entry whose name
 * ends with '/' is a directory (as GNU tar and Go's archive/tar read it). An old GNU sparse file ('S')
 * is a regular file whose stored regions the walker maps (sparse-map.ts).
 */
export function entryType(typeflag: string, name: string): TarEntryType {
  switch (typeflag) {
    case '0':
    case '\0':
      return name.endsWith('/') ? 'directory' : 'file';
    case '7':
    case 'S':
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'character-device';
    case '4':
      return 'block-device';
    case '5':
      return 'directory';
    case '6':
      return 'fifo';
    default:
      return 'unsupported';
  }
}

/**
 * Whether data blocks follow the header. POSIX: links carry size 0, and for devices and FIFOs "no data
 * logical records shall be stored"; Go's archive/tar (which writes and reads most container layers)
 * ignores `size` for all of hard link, symlink, char, block, directory and FIFO, PAX `size` included.
 * We do the same, so a bogus size on such an entry cannot make the walker skip real headers.
 * Everything else, unknown types included, is followed by `size` bytes.
 */
export function hasData(type: TarEntryType): boolean {
  return type === 'file' || type === 'unsupported';
}
