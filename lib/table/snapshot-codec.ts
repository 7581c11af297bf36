import { isAscii } from 'node:buffer';
import { zlib } from '../lazy-zlib.js';
import { nameToBytes } from '../tar/name-bytes.js';
import { EncodedNames, nameList, nameStarts, type NameColumn } from './encoded-names.js';
import { FIELDS, type LayerSnapshot } from './layer-columns.js';
import { COLUMN_ARRAYS, columnType, type ColumnType, type NumericArray, type NumericColumn } from './numeric-column.js';

/**
 * The on-disk form of a layer index: a fixed header (magic, format version, CRC-32 of the rest), a
 * small JSON part, then the big columns as raw bytes, used where they lie once loaded: no parse of a
 * million objects. The checksum catches a damaged file (a cut write, a flipped bit); it is no defence
 * against someone who can write the cache, which is why only proved digests are shared keys
 * (SECURITY.md). CRC-32 rather than sha256: a 100 MB table is checked in a third of the time.
 */
const MAGIC = Buffer.from('IMGFSIDX', 'latin1');
/**
 * Bump on any change of what the columns mean (v2: paths sorted, duplicates resolved; v3: sparse maps;
 * v4: names keep the bytes of invalid UTF-8, stored as those bytes, and whiteouts and opaque markers
 * carry their ordinal; v5: the directories a layer reaches into without a member, for R6; v6: where
 * each path and link name starts, so that names are decoded one at a time, when asked for; numeric
 * columns aligned in the file; a CRC-32 header; v7: each numeric field a column of its own, as narrow
 * as its values allow, or one value for all).
 */
export const SNAPSHOT_FORMAT_VERSION = 7;
const HEADER_BYTES = MAGIC.length + 4 + 4;

export class SnapshotFormatError extends Error {}

interface SnapshotMeta {
  count: number;
  memberCount: number;
  whiteoutCount: number;
  tarEnd: number;
  whiteouts: Array<[string, number]>;
  opaques: Array<[string, number]>;
  reachedDirs: string[];
  names: string[];
  xattrs: Array<[number, Record<string, string>]>;
  sparse: LayerSnapshot['sparse'];
  pathBytes: number;
  linkBytes: number;
  /** Per entry of FIELDS: the one value every member has, or the type of its column in the file. */
  fields: Array<number | ColumnType>;
}

/** Throws SnapshotFormatError when a name holds a NUL byte, which the string tables use as separator. */
export function encodeSnapshot(snapshot: LayerSnapshot): Buffer {
  const paths = storedNames(snapshot.paths);
  const links = storedNames(snapshot.linknames);
  const meta: SnapshotMeta = {
    count: snapshot.paths.length,
    memberCount: snapshot.memberCount,
    whiteoutCount: snapshot.whiteoutCount,
    tarEnd: snapshot.tarEnd,
    whiteouts: snapshot.whiteouts,
    opaques: snapshot.opaques,
    reachedDirs: snapshot.reachedDirs,
    names: snapshot.names,
    xattrs: snapshot.xattrs.map(([slot, values]) => [
      slot,
      Object.fromEntries(Object.entries(values).map(([name, value]) => [name, value.toString('base64')])),
    ]),
    sparse: snapshot.sparse,
    pathBytes: paths.bytes.length,
    linkBytes: links.bytes.length,
    fields: snapshot.fields.map((column) => (typeof column === 'number' ? column : columnType(column))),
  };
  const metaBytes = Buffer.from(JSON.stringify(meta), 'utf8');
  // The typed columns come first, widest first, each at an offset of the file that its element size
  // divides, so a load can use them where they lie in the file's buffer instead of copying them out.
  const lead = HEADER_BYTES + 4 + metaBytes.length;
  const body = Buffer.concat([
    u32(metaBytes.length),
    metaBytes,
    Buffer.alloc(padding(lead, Float64Array.BYTES_PER_ELEMENT)),
    ...storedColumns(snapshot.fields, 'f64'),
    ...storedColumns(snapshot.fields, 'u32'),
    bytesOf(paths.starts),
    bytesOf(links.starts),
    ...storedColumns(snapshot.fields, 'u16'),
    ...storedColumns(snapshot.fields, 'u8'),
    bytesOf(snapshot.kinds),
    paths.bytes,
    links.bytes,
  ]);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(SNAPSHOT_FORMAT_VERSION, MAGIC.length);
  header.writeUInt32LE(zlib().crc32(body), MAGIC.length + 4);
  return Buffer.concat([header, body]);
}

/**
 * Throws SnapshotFormatError for anything but an intact file of this format version. `fromWorker`:
 * bytes this process's own table worker encoded a moment ago and handed over in memory (nothing could
 * have damaged them), so the checks that guard files on disk are skipped.
 */
export function decodeSnapshot(file: Buffer, { fromWorker = false } = {}): LayerSnapshot {
  if (file.length < HEADER_BYTES || !file.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new SnapshotFormatError('not an imgfs index file');
  }
  const version = file.readUInt32LE(MAGIC.length);
  if (version !== SNAPSHOT_FORMAT_VERSION) throw new SnapshotFormatError(`index format ${version}, expected ${SNAPSHOT_FORMAT_VERSION}`);
  const body = file.subarray(HEADER_BYTES);
  if (!fromWorker && zlib().crc32(body) !== file.readUInt32LE(MAGIC.length + 4)) throw new SnapshotFormatError('checksum mismatch');
  let at = 0;
  const take = (length: number): Buffer => {
    if (length < 0 || at + length > body.length) throw new SnapshotFormatError('index file is cut short');
    const part = body.subarray(at, at + length);
    at += length;
    return part;
  };
  const meta = JSON.parse(take(take(4).readUInt32LE(0)).toString('utf8')) as SnapshotMeta;
  const count = meta.count;
  take(padding(HEADER_BYTES + at, Float64Array.BYTES_PER_ELEMENT));
  const known = (field: unknown): boolean => (typeof field === 'number' && Number.isFinite(field)) || (typeof field === 'string' && Object.hasOwn(COLUMN_ARRAYS, field));
  if (!Array.isArray(meta.fields) || meta.fields.length !== FIELDS.length || !meta.fields.every(known)) throw new SnapshotFormatError('numeric columns missing');
  const fields: NumericColumn[] = meta.fields.map((field) => (typeof field === 'number' ? field : 0));
  const typed = (type: ColumnType): void => {
    meta.fields.forEach((field, i) => {
      if (field === type) fields[i] = column(take(COLUMN_ARRAYS[type].BYTES_PER_ELEMENT * count), COLUMN_ARRAYS[type]);
    });
  };
  typed('f64');
  typed('u32');
  const pathStarts = column(take(4 * (count + 1)), Uint32Array);
  const linkStarts = column(take(4 * (count + 1)), Uint32Array);
  typed('u16');
  typed('u8');
  const kinds = take(count);
  const pathBytes = take(meta.pathBytes);
  const linkBytes = take(meta.linkBytes);
  if (!fromWorker && (!startsFit(pathStarts, pathBytes) || !startsFit(linkStarts, linkBytes))) throw new SnapshotFormatError('string tables do not match the entry count');
  // The path column is sorted by its writer, and the checksum says the file is what was written; its
  // order is not checked again here (a pass over every name, a third of a warm lookup in a 3 × 1 M
  // image). An index written with another layout carries another format version.
  const paths = new EncodedNames(pathBytes, pathStarts);
  const linknames = new EncodedNames(linkBytes, linkStarts);
  return {
    memberCount: meta.memberCount,
    whiteoutCount: meta.whiteoutCount,
    tarEnd: meta.tarEnd,
    whiteouts: meta.whiteouts,
    opaques: meta.opaques,
    reachedDirs: meta.reachedDirs,
    names: meta.names,
    paths,
    linknames,
    kinds,
    fields,
    xattrs: meta.xattrs.map(([slot, values]) => [
      slot,
      Object.fromEntries(Object.entries(values).map(([name, value]) => [name, Buffer.from(value, 'base64')])),
    ]),
    sparse: checkedSparse(meta.sparse, count),
  };
}

/**
 * Sparse maps steer reads, so a cache file must not smuggle in one that reads outside its entry: the
 * shape is checked here (the checksum already rules out accidents; this rules out a planted file).
 */
function checkedSparse(sparse: unknown, count: number): LayerSnapshot['sparse'] {
  if (!Array.isArray(sparse)) throw new SnapshotFormatError('sparse maps missing');
  for (const item of sparse as unknown[]) {
    const [slot, map] = Array.isArray(item) ? (item as unknown[]) : [];
    const { realSize, regions } = (map ?? {}) as { realSize?: unknown; regions?: unknown };
    const ok =
      Number.isSafeInteger(slot) &&
      (slot as number) >= 0 &&
      (slot as number) < count &&
      Number.isSafeInteger(realSize) &&
      Array.isArray(regions) &&
      regions.length % 2 === 0 &&
      regions.every((n) => Number.isSafeInteger(n) && (n as number) >= 0);
    if (!ok) throw new SnapshotFormatError('malformed sparse map');
  }
  return sparse as LayerSnapshot['sparse'];
}

/** A column's names as the file stores them; SnapshotFormatError when one holds a NUL byte. */
function storedNames(column: NameColumn): { bytes: Buffer; starts: Uint32Array } {
  if (column instanceof EncodedNames) {
    if (column.holdsNul) throw new SnapshotFormatError('a name holds a NUL byte');
    return column.stored();
  }
  const names = nameList(column);
  if (names.some((name) => name.includes('\0'))) throw new SnapshotFormatError('a name holds a NUL byte');
  return encodeNames(names);
}

/**
 * A list of names as the file stores them: their own bytes (a UTF-8 encoding would turn each kept
 * invalid byte into U+FFFD), NUL-separated, and where each one starts.
 */
function encodeNames(names: readonly string[]): { bytes: Buffer; starts: Uint32Array } {
  const bytes = nameToBytes(names.join('\0'));
  if (bytes.length >= 2 ** 32 - 1) throw new SnapshotFormatError('names too long for one index file');
  if (!isAscii(bytes)) return { bytes, starts: nameStarts(bytes, names.length) };
  // ASCII: a name's byte length is its string length.
  const starts = new Uint32Array(names.length + 1);
  let at = 0;
  names.forEach((name, slot) => {
    starts[slot] = at;
    at += name.length + 1;
  });
  starts[names.length] = bytes.length + 1;
  return { bytes, starts };
}

/** Zero bytes that bring `offset` to a multiple of `alignment`. */
function padding(offset: number, alignment: number): number {
  return (alignment - (offset % alignment)) % alignment;
}

/**
 * A typed column where it lies in the file's buffer when that is aligned for it (the file was written
 * so that it is), else a copy (typed arrays need aligned memory).
 */
function column<T extends NumericArray>(bytes: Buffer, type: { new (buffer: ArrayBufferLike, offset: number, length: number): T; new (length: number): T; BYTES_PER_ELEMENT: number }): T {
  const length = bytes.length / type.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % type.BYTES_PER_ELEMENT === 0) return new type(bytes.buffer, bytes.byteOffset, length);
  const copy = new type(length);
  Buffer.from(copy.buffer).set(bytes);
  return copy;
}

/** The bytes of the fields stored as columns of `type`, in FIELDS order. */
function storedColumns(fields: readonly NumericColumn[], type: ColumnType): Buffer[] {
  return fields.flatMap((column) => (typeof column !== 'number' && columnType(column) === type ? [bytesOf(column)] : []));
}

/** Starts that rise from 0 to the end of their bytes, each name ending on a NUL: nothing reads outside. */
function startsFit(starts: Uint32Array, bytes: Buffer): boolean {
  const count = starts.length - 1;
  if (starts[count] !== bytes.length + 1) return false;
  if (count === 0) return bytes.length === 0;
  if (starts[0] !== 0) return false;
  for (let i = 1; i <= count; i++) {
    const start = starts[i] as number;
    if (start <= (starts[i - 1] as number) || (i < count && bytes[start - 1] !== 0)) return false;
  }
  return true;
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value, 0);
  return buffer;
}

function bytesOf(array: NumericArray): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}
