import type { ByteSource } from '../source/byte-source.js';
import { LIMITS } from '../limits.js';
import { entryType, GNU_LONG_LINK, GNU_LONG_NAME, hasData, PAX_GLOBAL, PAX_LOCAL } from './entry-type.js';
import { BLOCK_SIZE, cString, decodeHeader, isZeroBlock, sparseContinues } from './header.js';
import { HeaderWindow } from './header-window.js';
import { interpretPax, mergeGlobalPax, mergeLocalPax, parsePaxRecords, type PaxRecords } from './pax.js';
import type { TarEntry } from './tar-entry.js';
import { tarCorrupt, tarLimit, tarTruncated, type TarLocation } from './tar-errors.js';

export const DEFAULT_MAX_PAX_SIZE = LIMITS.maxPaxSize.default;
export const DEFAULT_MAX_NAME_LENGTH = LIMITS.maxNameLength.default;

export interface TarWalkOptions {
  /** Largest PAX extended header accepted, in bytes (default 1 MiB); a larger one is ELIMIT. */
  maxPaxSize?: number;
  /**
   * Largest member or link name accepted, in UTF-8 bytes (default 16 KiB: four times Linux's PATH_MAX,
   * room for 8 000 levels of directories). Path work downstream grows with the square of the depth, so
   * this also bounds what one hostile name can cost: a 64 KiB name of `a/a/…` would take a gigabyte to
   * walk. A longer one is ELIMIT.
   */
  maxNameLength?: number;
  /** Checked between headers; the walk throws the signal's reason. */
  signal?: AbortSignal;
}

/** Extension headers seen since the last real entry, waiting to be applied to the next one. */
interface PendingMeta {
  headerOffset: number;
  local?: PaxRecords;
  longName?: string;
  longLink?: string;
  /** A local PAX or GNU long-name header was seen, so an entry must follow (a global one needs none). */
  needsEntry: boolean;
}

/** The last entry that had data, to check at the end of the source that its data really exists. */
interface DataSpan {
  name: string;
  dataOffset: number;
  size: number;
}

/**
 * Yields the entries of a tar archive with PAX and GNU extensions applied, reading headers only:
 * data is skipped by offset arithmetic, which is what lets a layer be indexed without reading (or, on a
 * seekable source, even touching) its file bytes.
 *
 * Ends at two zero blocks, or leniently (as GNU tar) at one zero block followed by the end of the
 * source, or at the end of the source on a header boundary. A lone zero block followed by a header is
 * skipped, as GNU tar does. A cut header or missing data is ETRUNCATED; a bad header ETARCORRUPT.
 */
export async function* walkTar(source: ByteSource, options: TarWalkOptions = {}): AsyncGenerator<TarEntry> {
  const maxPaxSize = options.maxPaxSize ?? DEFAULT_MAX_PAX_SIZE;
  const maxNameLength = options.maxNameLength ?? DEFAULT_MAX_NAME_LENGTH;
  const archive = source.name;
  const window = new HeaderWindow(source);
  const globals: PaxRecords = new Map();
  let meta: PendingMeta | undefined;
  let last: DataSpan | undefined;
  let offset = 0;

  /** Bytes of an extension header's data, which (unlike file data) must be read. */
  const readMeta = async (at: number, length: number, what: string): Promise<Buffer> => {
    const data = await window.read(at, length);
    if (data.length < length) throw tarTruncated(archive, at + data.length, `${what} data is cut short`);
    return data;
  };

  const checkName = (name: string, what: string, where: TarLocation): void => {
    const length = Buffer.byteLength(name);
    if (length > maxNameLength) throw tarLimit(what, length, 'maxNameLength', maxNameLength, where);
  };

  for (;;) {
    options.signal?.throwIfAborted();
    const block = await window.read(offset, BLOCK_SIZE);
    if (block.length === 0) {
      if (meta?.needsEntry) {
        throw tarTruncated(archive, offset, `extension header at offset ${meta.headerOffset} has no entry after it`);
      }
      if (last !== undefined && last.size > 0 && !(await window.has(last.dataOffset + last.size - 1))) {
        throw missingData(archive, window, last);
      }
      return;
    }
    if (block.length < BLOCK_SIZE) {
      throw tarTruncated(archive, offset + block.length, `header at offset ${offset} is cut short`);
    }
    const where = { archive, offset };

    if (isZeroBlock(block)) {
      if (meta?.needsEntry) {
        throw tarCorrupt(`extension header at offset ${meta.headerOffset} is followed by a zero block, not an entry`, {
          archive,
          offset: meta.headerOffset,
        });
      }
      meta = undefined;
      const next = await window.read(offset + BLOCK_SIZE, BLOCK_SIZE);
      if (next.every((byte) => byte === 0)) return;
      const nextOffset = offset + BLOCK_SIZE;
      if (next.length < BLOCK_SIZE) {
        throw tarTruncated(archive, nextOffset + next.length, `header at offset ${nextOffset} is cut short`);
      }
      // A lone zero block with a header after it: GNU tar warns and reads on, and so do we.
      offset = nextOffset;
      continue;
    }

    const header = decodeHeader(block, where);
    const typeflag = header.typeflag;
    const dataStart = offset + BLOCK_SIZE;
    const afterData = dataStart + padToBlock(header.size);

    if (PAX_LOCAL.has(typeflag) || typeflag === PAX_GLOBAL) {
      if (header.size > maxPaxSize) throw tarLimit('PAX extended header', header.size, 'maxPaxSize', maxPaxSize, where);
      const data = await readMeta(dataStart, header.size, `PAX header at offset ${offset}:`);
      const records = parsePaxRecords(data, { archive, offset: dataStart });
      meta ??= { headerOffset: offset, needsEntry: false };
      if (typeflag === PAX_GLOBAL) {
        mergeGlobalPax(globals, records);
      } else {
        meta.local = mergeLocalPax(meta.local, records);
        meta.needsEntry = true;
      }
      offset = afterData;
      continue;
    }

    if (typeflag === GNU_LONG_NAME || typeflag === GNU_LONG_LINK) {
      const what = typeflag === GNU_LONG_NAME ? 'GNU long name' : 'GNU long link name';
      if (header.size > maxNameLength) throw tarLimit(what, header.size, 'maxNameLength', maxNameLength, where);
      const name = cString(await readMeta(dataStart, header.size, `${what} at offset ${offset}:`));
      meta ??= { headerOffset: offset, needsEntry: false };
      if (typeflag === GNU_LONG_NAME) meta.longName = name;
      else meta.longLink = name;
      meta.needsEntry = true;
      offset = afterData;
      continue;
    }

    const headerOffset = meta?.headerOffset ?? offset;
    const entryWhere = { archive, offset: headerOffset };
    const pax = interpretPax(globals, meta?.local, entryWhere);
    const name = pax.path ?? meta?.longName ?? header.name;
    const linkname = pax.linkpath ?? meta?.longLink ?? header.linkname;
    meta = undefined;
    checkName(name, 'member name', entryWhere);
    checkName(linkname, 'link name', entryWhere);

    const type = entryType(typeflag, name, pax.sparse);
    const dataOffset = header.sparseExtended
      ? await skipSparseExtensions(window, dataStart, archive, options.signal)
      : dataStart;
    const size = hasData(type) ? (pax.size ?? header.size) : 0;

    // Known length (files, slices, or a short window read): check before yielding anything built on it.
    const end = window.end;
    if (end !== undefined && dataOffset + size > end) throw missingData(archive, window, { name, dataOffset, size });

    yield {
      name,
      type,
      typeflag,
      mode: header.mode,
      uid: pax.uid ?? header.uid,
      gid: pax.gid ?? header.gid,
      uname: pax.uname ?? header.uname,
      gname: pax.gname ?? header.gname,
      size,
      mtimeMs: pax.mtimeMs ?? header.mtime * 1000,
      linkname,
      devmajor: pax.devmajor ?? header.devmajor,
      devminor: pax.devminor ?? header.devminor,
      xattrs: pax.xattrs,
      headerOffset,
      dataOffset,
    };

    if (size > 0) last = { name, dataOffset, size };
    offset = dataOffset + padToBlock(size);
  }
}

function padToBlock(size: number): number {
  return Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE;
}

/** Old GNU sparse ('S') headers chain 512-byte blocks of further sparse map before the data. */
async function skipSparseExtensions(
  window: HeaderWindow,
  at: number,
  archive: string,
  signal: AbortSignal | undefined,
): Promise<number> {
  let pos = at;
  for (;;) {
    signal?.throwIfAborted();
    const block = await window.read(pos, BLOCK_SIZE);
    if (block.length < BLOCK_SIZE) {
      throw tarTruncated(archive, pos + block.length, `GNU sparse extension block at offset ${pos} is cut short`);
    }
    pos += BLOCK_SIZE;
    if (!sparseContinues(block)) return pos;
  }
}

/**
 * Where the source really ends is known for files and usually for decompressed sources once they hit
 * their end; otherwise the furthest byte seen is the best lower bound for the offset to report.
 */
function missingData(archive: string, window: HeaderWindow, span: DataSpan): Error {
  const at = window.end ?? window.extent;
  const detail = `data of '${span.name}' needs ${span.size} bytes from offset ${span.dataOffset}`;
  return tarTruncated(archive, at, detail);
}
