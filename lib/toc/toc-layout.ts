import type { ByteSource } from '../source/byte-source.js';
import type { TarEntry, TarEntryType } from '../tar/tar-entry.js';
import { walkTar } from '../tar/walk-tar.js';
import { tocError } from './toc-errors.js';
import { TarSplitSource, type TarSplit } from './tar-split.js';
import { normalizeEntryName } from '../table/entry-name.js';
import type { TocChunk, TocEntry, TocEntryType } from './toc-model.js';
import { isTocMetadataPath } from './toc-metadata.js';

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
  /**
   * zstd:chunked with a tar-split: the data space is the exact tar stream, and this serves its own
   * bytes (headers, padding) between the runs.
   */
  readonly tarBytes?: ByteSource | undefined;
}

export function layoutToc(entries: readonly TocEntry[]): TocLayout {
  const members: TarEntry[] = [];
  const runs: PlacedRun[] = [];
  let cursor = 0;
  for (const entry of entries) {
    const path = normalizeEntryName(entry.name);
    if (isTocMetadataPath(path)) continue;
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
    for (const chunk of entry.chunks) runs.push({ start: dataOffset + chunk.fileOffset, chunk, path: `/${path}` });
    cursor = dataOffset + Math.ceil(entry.size / BLOCK) * BLOCK;
  }
  return { members, runs, size: cursor };
}

/**
 * zstd:chunked with a tar-split: the members are what the tar walker reads from the tar-split's
 * headers, so they are exactly a plain pass's (user and group names, PAX records, offsets), and each
 * file's runs are placed at its real data offset. The TOC and the tar-split must describe the same
 * members (containers/storage requires it too); where they do not, the TOC is unusable.
 */
export async function layoutFromTarSplit(entries: readonly TocEntry[], split: TarSplit, name: string): Promise<TocLayout> {
  const claimed = new Map<string, TocEntry[]>();
  for (const entry of entries) {
    const path = normalizeEntryName(entry.name);
    if (isTocMetadataPath(path)) continue;
    const list = claimed.get(path) ?? [];
    list.push(entry);
    claimed.set(path, list);
  }
  const tarBytes = new TarSplitSource(split, `${name} (tar-split)`);
  const members: TarEntry[] = [];
  const runs: PlacedRun[] = [];
  for await (const member of walkTar(tarBytes)) {
    const path = normalizeEntryName(member.name);
    if (isTocMetadataPath(path)) continue;
    const entry = claimed.get(path)?.shift();
    if (entry === undefined) throw tocError(`the tar-split has /${path}, the TOC does not list it`, member.headerOffset);
    if (TAR_TYPES[entry.type].type !== member.type || entry.size !== member.size) {
      throw tocError(`/${path} is a ${member.type} of ${member.size} bytes in the tar-split, a ${entry.type} of ${entry.size} in the TOC`, member.headerOffset);
    }
    members.push(member);
    for (const chunk of entry.chunks) runs.push({ start: member.dataOffset + chunk.fileOffset, chunk, path: `/${path}` });
  }
  for (const [path, rest] of claimed) if (rest.length > 0) throw tocError(`the TOC lists /${path}, the tar-split does not have it`);
  runs.sort((a, b) => a.start - b.start);
  return { members, runs, size: split.size, tarBytes };
}
