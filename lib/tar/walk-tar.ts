import { ImgfsError } from '../errors.js';
import type { ByteSource } from '../source/byte-source.js';
import { LIMITS } from '../limits.js';
import { foreignCompression } from './foreign-magic.js';
import { entryType, GNU_LONG_LINK, GNU_LONG_NAME, hasData, PAX_GLOBAL, PAX_LOCAL } from './entry-type.js';
import { BLOCK_SIZE, cString, decodeHeader, isZeroBlock } from './header.js';
import { HeaderWindow } from './header-window.js';
import { interpretPax, parsePaxRecords, type PaxOverrides, type PaxRecords } from './pax.js';
import { checkSparseMap, readOldGnuSparse, readSparseMap1x0, type SparseMap } from './sparse-map.js';
import type { TarEntry } from './tar-entry.js';
import { tarCorrupt, tarLimit, tarTruncated, type TarLocation } from './tar-errors.js';

export const DEFAULT_MAX_PAX_SIZE = LIMITS.maxPaxSize.default;
export const DEFAULT_MAX_NAME_LENGTH = LIMITS.maxNameLength.default;

export interface TarWalkOptions {
  /** Largest PAX extended header accepted, in bytes (default and reason: lib/limits.ts); a larger one is ELIMIT. */
  maxPaxSize?: number;
  /** Largest member or link name accepted, in UTF-8 bytes (default and reason: lib/limits.ts); a longer one is ELIMIT. */
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

/** What a walk reads: the bytes of a tar stream (the name the table stage builds from). */
export type TarBytes = ByteSource;

/** The last entry that had data, to check at the end of the source that its data really exists. */
export type DataSpan = Pick<TarEntry, 'name' | 'dataOffset' | 'size'>;

/** Where `walkTarInto` hands each member, in order, as soon as it is read. */
export interface TarSink {
  add(member: TarEntry): void;
  /** Optional: takes plain members straight from their header bytes (see PlainLane). */
  readonly lane?: PlainLane | undefined;
}

/**
 * Takes members whose headers need nothing of the general walk (no extension header before them, no
 * damage, nothing unusual) straight from the window's bytes, and leaves every other header to the walk,
 * which decodes it into a TarEntry as usual; the walk then asks the lane again at the next header.
 */
export interface PlainLane {
  /** Takes the members from `offset` on while they are plain; returns the offset of the first header it did not take. */
  take(window: HeaderWindow, offset: number): number;
  /** The last member with data the last `take` took, or undefined when it took none with data. */
  lastData(): DataSpan | undefined;
  /** Optional: the buffer the walk's window is to be refilled into (see HeaderWindow). */
  readonly windowBuffer?: Buffer | undefined;
}

/**
 * `walkTar` into a sink: each member handed over as it is read, and nothing batched, so that a lane
 * taking plain members straight from their bytes keeps the members in tar order. Resolves at the end.
 */
export async function walkTarInto(source: ByteSource, sink: TarSink, options: TarWalkOptions = {}): Promise<void> {
  for await (const batch of walkBatches(source, options, [], sink)) void batch; // never yields: the sink has them
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
  for await (const batch of walkTarBatches(source, options)) {
    for (const entry of batch) {
      // Between entries, as between headers: the rest of a batch is not handed out once aborted.
      options.signal?.throwIfAborted();
      yield entry;
    }
  }
}

/** Entries handed over at once at most, by `walkTarBatches`. */
const MAX_BATCH = 256;

/**
 * `walkTar`'s entries in batches, in order: each batch ends where the walk has to wait for bytes (or
 * after MAX_BATCH entries), so that a consumer that does its work between reads (a scan hashing each
 * member from the span just decoded) still does it before the walk reads past that member. Headers
 * already in the window, or read synchronously, cost no promise each: on a layer of small files the
 * per-entry promises of an async generator were as dear as decoding the headers.
 */
export async function* walkTarBatches(source: ByteSource, options: TarWalkOptions = {}): AsyncGenerator<TarEntry[]> {
  const pending: TarEntry[][] = [];
  try {
    for await (const batch of walkBatches(source, options, pending)) yield batch;
  } catch (error) {
    // The entries before a bad header are handed over before its error, as a walk one by one would.
    const [unsent] = pending;
    if (unsent !== undefined && unsent.length > 0) yield unsent;
    throw error;
  }
}

/** The walk itself; `pending[0]` is the batch being filled, so that `walkTarBatches` can hand it over when the walk fails. */
async function* walkBatches(source: ByteSource, options: TarWalkOptions, pending: TarEntry[][], sink?: TarSink): AsyncGenerator<TarEntry[]> {
  const maxPaxSize = options.maxPaxSize ?? DEFAULT_MAX_PAX_SIZE;
  const maxNameLength = options.maxNameLength ?? DEFAULT_MAX_NAME_LENGTH;
  const archive = source.name;
  const window = new HeaderWindow(source, sink?.lane?.windowBuffer);
  let meta: PendingMeta | undefined;
  let last: DataSpan | undefined;
  let offset = 0;

  /** Bytes of an extension header's data, which (unlike file data) must be read. */
  const readMeta = async (at: number, length: number, what: string): Promise<Buffer> => {
    const data = window.readNow(at, length) ?? (await window.read(at, length));
    if (data.length < length) throw tarTruncated(archive, at + data.length, `${what} data is cut short`);
    return data;
  };

  const checkName = (name: string, what: string, where: TarLocation): void => {
    // A UTF-16 unit is at most 3 UTF-8 bytes: most names need no count.
    if (name.length * 3 <= maxNameLength) return;
    const length = Buffer.byteLength(name);
    if (length > maxNameLength) throw tarLimit(what, length, 'maxNameLength', maxNameLength, where);
  };

  // Not with a signal: the lane does not stop between headers to look at it.
  const lane = options.signal === undefined ? sink?.lane : undefined;
  let batch: TarEntry[] = [];
  pending[0] = batch;
  for (;;) {
    options.signal?.throwIfAborted();
    // After the first header, whose bytes are looked at for a compressed stream first.
    if (lane !== undefined && meta === undefined && offset > 0) {
      const next = lane.take(window, offset);
      if (next !== offset) {
        offset = next;
        last = lane.lastData() ?? last;
      }
    }
    let block = window.readNow(offset, BLOCK_SIZE);
    if (block === undefined || batch.length >= MAX_BATCH) {
      if (batch.length > 0) yield batch;
      batch = [];
      pending[0] = batch;
      block ??= await window.read(offset, BLOCK_SIZE);
    }
    if (block.length === 0) {
      if (meta?.needsEntry) {
        throw tarTruncated(archive, offset, `extension header at offset ${meta.headerOffset} has no entry after it`);
      }
      if (last !== undefined && last.size > 0 && !(await window.has(last.dataOffset + last.size - 1))) {
        throw missingData(archive, window, last);
      }
      if (batch.length > 0) yield batch;
      return;
    }
    if (offset === 0) {
      const compression = foreignCompression(block);
      if (compression !== undefined) {
        throw new ImgfsError('ECOMPRESSION', `${compression}-compressed tar: not supported (imgfs reads uncompressed, gzip and zstd tars)`, {
          archive,
          offset: 0,
        });
      }
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
      const next = window.readNow(offset + BLOCK_SIZE, BLOCK_SIZE) ?? (await window.read(offset + BLOCK_SIZE, BLOCK_SIZE));
      if (next.every((byte) => byte === 0)) {
        if (batch.length > 0) yield batch;
        return;
      }
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
      // A global header is checked but applied to nothing, as in Go's reader (and so Docker): an image
      // must not look different to imgfs than to the runtime that unpacks it.
      if (typeflag !== PAX_GLOBAL) {
        meta ??= { headerOffset: offset, needsEntry: false };
        // Several local headers before one entry: the last one's records alone apply (Go, GNU tar).
        meta.local = records;
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
    const entryWhere = meta === undefined ? where : { archive, offset: headerOffset };
    const pax = interpretPax(meta?.local, entryWhere);
    const name = pax.path ?? meta?.longName ?? header.name;
    const linkname = pax.linkpath ?? meta?.longLink ?? header.linkname;
    meta = undefined;
    checkName(name, 'member name', entryWhere);
    checkName(linkname, 'link name', entryWhere);

    const type = entryType(typeflag, name);
    let dataOffset = dataStart;
    let size = hasData(type) ? (pax.size ?? header.size) : 0;
    let sparse: SparseMap | undefined;
    if (typeflag === 'S' || pax.sparse !== undefined) {
      const found = await sparseLayout(block, header.format, typeflag, type, pax, window, dataStart, size, maxPaxSize, entryWhere);
      ({ sparse, dataOffset, size } = found);
    }

    // Known length (files, slices, or a short window read): check before yielding anything built on it.
    const end = window.end;
    if (end !== undefined && dataOffset + size > end) throw missingData(archive, window, { name, dataOffset, size });

    const entry: TarEntry = {
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
      sparse,
    };
    if (sink === undefined) batch.push(entry);
    else sink.add(entry);

    if (size > 0) last = entry;
    offset = dataOffset + padToBlock(size);
  }
}

function padToBlock(size: number): number {
  return Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE;
}

/**
 * Where a sparse entry's stored regions start, how many bytes they take, and its map: old GNU 'S'
 * (map in the header and extension blocks after it) or GNU PAX 0.0/0.1 (map in the records) or 1.0
 * (map at the start of the data). The map is checked against the real size and the stored bytes.
 */
async function sparseLayout(
  block: Buffer,
  format: string,
  typeflag: string,
  type: string,
  pax: PaxOverrides,
  window: HeaderWindow,
  dataStart: number,
  storedSize: number,
  maxBytes: number,
  where: TarLocation,
): Promise<{ sparse: SparseMap; dataOffset: number; size: number }> {
  if (type !== 'file') throw tarCorrupt(`GNU sparse map on a member of type '${typeflag}'`, where);
  let sparse: SparseMap;
  let dataOffset = dataStart;
  let size = storedSize;
  if (typeflag === 'S') {
    // star wrote 'S' headers of its own layout: only GNU's is understood (as in Go).
    if (format !== 'gnu') throw tarCorrupt("sparse ('S') header without GNU magic", where);
    ({ map: sparse, dataOffset } = await readOldGnuSparse(block, window, dataStart, maxBytes, where));
  } else {
    const info = pax.sparse as NonNullable<PaxOverrides['sparse']>;
    let regions = info.regions ?? [];
    if (info.version === '1.0') {
      const found = await readSparseMap1x0(window, dataStart, storedSize, maxBytes, where);
      regions = found.regions;
      dataOffset += found.mapBytes;
      size -= found.mapBytes;
    }
    sparse = { realSize: info.realSize ?? size, regions };
  }
  checkSparseMap(sparse, size, where);
  return { sparse, dataOffset, size };
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
