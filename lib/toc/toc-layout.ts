import type { TarEntry, TarEntryType } from '../tar/tar-entry.js';
import { normalizeEntryName } from '../table/entry-name.js';
import type { TocChunk, TocEntry, TocEntryType } from './toc-model.js';
import { isTocMetadataName } from './toc-metadata.js';

const BLOCK = 512;

const TAR_TYPES: Readonly<Record<TocEntryType, { type: TarEntryType; typeflag: string }>> = {
  reg: { type: 'file', typeflag: '0' },
  hardlink: { type: 'hardlink', typeflag: '1' },
  symlink: { type: 'symlink', typeflag: '2' },
  char: { type: 'character-device', typeflag: '3' },
  block: { type: 'block-device', typeflag: '4' },
  dir: { type: 'directory', typeflag: '5' },
  fifo: { type: 'fifo', typeflag: '6' },
};

/** A run of a file placed in the layer's data space: `[start, start + chunk.size)`. */
export interface PlacedRun {
  readonly start: number;
  readonly chunk: TocChunk;
  /** The member's path, for messages. */
  readonly path: string;
}

/**
 * Where each member's data lies in the "data space" that reads of a TOC layer address. eStargz and
 * zstd:chunked without tar-split do not say where a file's bytes lie in the uncompressed tar (only
 * where its frames lie in the blob), so the space is laid out as a tar would be with one 512-byte
 * header per member: offsets keep the members' order and never overlap, and each run of a file maps
 * to its frame. The format's metadata members (`stargz.index.json`, landmarks) are left out here, as
 * the plain pass leaves them out.
 */
export interface TocLayout {
  readonly members: readonly TarEntry[];
  /** Every run of every file, by `start`. */
  readonly runs: readonly PlacedRun[];
  /** End of the data space. */
  readonly size: number;
}

export function layoutToc(entries: readonly TocEntry[]): TocLayout {
  const members: TarEntry[] = [];
  const runs: PlacedRun[] = [];
  let cursor = 0;
  for (const entry of entries) {
    if (isTocMetadataName(entry.name)) continue;
    const headerOffset = cursor;
    const dataOffset = cursor + BLOCK;
    const { type, typeflag } = TAR_TYPES[entry.type];
    members.push({
      name: entry.name,
      type,
      typeflag,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      uname: entry.uname,
      gname: entry.gname,
      size: entry.size,
      mtimeMs: entry.mtimeMs,
      linkname: entry.linkname,
      devmajor: entry.devmajor,
      devminor: entry.devminor,
      xattrs: entry.xattrs,
      headerOffset,
      dataOffset,
    });
    const path = `/${normalizeEntryName(entry.name)}`;
    for (const chunk of entry.chunks) runs.push({ start: dataOffset + chunk.fileOffset, chunk, path });
    cursor = dataOffset + Math.ceil(entry.size / BLOCK) * BLOCK;
  }
  return { members, runs, size: cursor };
}
