import type { TarEntry, TarEntryType } from '../../lib/tar/tar-entry.js';

/**
 * A member as the tar walk hands it on, for tests that build tables from members without writing a
 * tar: empty, owned by root, its header `ordinal` KiB into the layer. A symlink points at `target`.
 */
export function tarMember(name: string, type: TarEntryType, ordinal: number): TarEntry {
  return {
    name,
    type,
    typeflag: type === 'directory' ? '5' : '0', // read by diagnostics only
    mode: 0o644,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    size: 0,
    mtimeMs: 0,
    linkname: type === 'symlink' ? 'target' : '',
    devmajor: 0,
    devminor: 0,
    xattrs: {},
    headerOffset: ordinal * 1024,
    dataOffset: ordinal * 1024 + 512,
  };
}
