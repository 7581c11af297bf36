import type { SparseMap } from './sparse-map.js';

/** What the tar layer knows about one archive member, with PAX and GNU extensions already applied. */

export type TarEntryType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'hardlink'
  | 'character-device'
  | 'block-device'
  | 'fifo'
  /** Anything else (e.g. volume labels, GNU dump directories): indexed so it can be reported, never served. */
  | 'unsupported';

export interface TarEntry {
  /** Member name exactly as stored (PAX `path` > GNU long name > ustar prefix + name), not normalised. */
  name: string;
  type: TarEntryType;
  /** The raw typeflag character, for diagnostics. */
  typeflag: string;
  /** Permission bits including setuid, setgid and sticky (`mode & 0o7777`); no file-type bits. */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /**
   * Bytes of data stored from `dataOffset` (0 for links and directories). For a sparse file, the
   * stored regions only; its logical size is `sparse.realSize`.
   */
  size: number;
  /** Modification time in milliseconds since the epoch, with PAX sub-second precision. */
  mtimeMs: number;
  /** Symlink target, or hard-link target member name (raw, not normalised). */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** PAX `SCHILY.xattr.NAME` records, name → raw value bytes. Empty object when there are none. */
  xattrs: Record<string, Buffer>;
  /** Offset of this entry's first header (including PAX / GNU long-name headers that precede it). */
  headerOffset: number;
  /** Offset of the first byte of the entry's data in the (decompressed) tar stream. */
  dataOffset: number;
  /** A GNU sparse file (old 'S', or PAX 0.0, 0.1, 1.0): where its stored regions belong. */
  sparse?: SparseMap;
}
