import { isAscii } from 'node:buffer';
import { crc32 } from 'node:zlib';
import { nameToBytes } from '../tar/name-bytes.js';
import { EncodedNames, nameList, nameStarts } from './encoded-names.js';
import { NUMBER_FIELDS, SMALL_FIELDS, type LayerSnapshot } from './layer-columns.js';

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
 * columns aligned in the file; a CRC-32 header).
 */
export const SNAPSHOT_FORMAT_VERSION = 6;
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
}

/** Throws SnapshotFormatError when a name holds a NUL byte, which the string tables use as separator. */
export function encodeSnapshot(snapshot: LayerSnapshot): Buffer {
  const pathList = nameList(snapshot.paths);
  const linkList = nameList(snapshot.linknames);
  if (pathList.some((path) => path.includes('\0')) || linkList.some((link) => link.includes('\0'))) {
    throw new SnapshotFormatError('a name holds a NUL byte');
  }
  const paths = encodeNames(pathList);
  // Lookups are binary searches: an unsorted path column would answer ENOENT for files that exist.
  // Checked here, once, when the file is written; a load trusts the order of a file whose CRC-32 says
  // it is the one written (the check cost a warm lookup 3–5 ms for three layers of 4–9 k entries).
  if (!new EncodedNames(paths.bytes, paths.starts).strictlyAscending()) throw new SnapshotFormatError('paths are not sorted');
  const links = encodeNames(linkList);
  const meta: SnapshotMeta = {
    count: pathList.length,
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
  };
  const metaBytes = Buffer.from(JSON.stringify(meta), 'utf8');
  // The typed columns come first, each at an offset of the file that its element size divides, so a
  // load can use them where they lie in the file's buffer instead of copying them out.
  const lead = HEADER_BYTES + 4 + metaBytes.length;
  const body = Buffer.concat([
    u32(metaBytes.length),
    metaBytes,
    Buffer.alloc(padding(lead, Float64Array.BYTES_PER_ELEMENT)),
    bytesOf(snapshot.numbers),
    bytesOf(snapshot.small),
    bytesOf(paths.starts),
    bytesOf(links.starts),
    bytesOf(snapshot.kinds),
    paths.bytes,
    links.bytes,
  ]);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(SNAPSHOT_FORMAT_VERSION, MAGIC.length);
  header.writeUInt32LE(crc32(body), MAGIC.length + 4);
  return Buffer.concat([header, body]);
}

/** Throws SnapshotFormatError for anything but an intact file of this format version. */
export function decodeSnapshot(file: Buffer): LayerSnapshot {
  if (file.length < HEADER_BYTES || !file.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new SnapshotFormatError('not an imgfs index file');
  }
  const version = file.readUInt32LE(MAGIC.length);
  if (version !== SNAPSHOT_FORMAT_VERSION) throw new SnapshotFormatError(`index format ${version}, expected ${SNAPSHOT_FORMAT_VERSION}`);
  const body = file.subarray(HEADER_BYTES);
  if (crc32(body) !== file.readUInt32LE(MAGIC.length + 4)) throw new SnapshotFormatError('checksum mismatch');
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
  const numbers = column(take(8 * count * NUMBER_FIELDS), Float64Array);
  const small = column(take(4 * count * SMALL_FIELDS), Uint32Array);
  const pathStarts = column(take(4 * (count + 1)), Uint32Array);
  const linkStarts = column(take(4 * (count + 1)), Uint32Array);
  const kinds = take(count);
  const pathBytes = take(meta.pathBytes);
  const linkBytes = take(meta.linkBytes);
  if (!startsFit(pathStarts, pathBytes) || !startsFit(linkStarts, linkBytes)) throw new SnapshotFormatError('string tables do not match the entry count');
  const paths = new EncodedNames(pathBytes, pathStarts);
  const linknames = new EncodedNames(linkBytes, linkStarts);
  // The paths' order was checked when the file was written (encodeSnapshot).
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
    numbers,
    small,
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
function column<T extends Float64Array | Uint32Array>(bytes: Buffer, type: { new (buffer: ArrayBufferLike, offset: number, length: number): T; new (length: number): T; BYTES_PER_ELEMENT: number }): T {
  const length = bytes.length / type.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % type.BYTES_PER_ELEMENT === 0) return new type(bytes.buffer, bytes.byteOffset, length);
  const copy = new type(length);
  Buffer.from(copy.buffer).set(bytes);
  return copy;
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

function bytesOf(array: Uint8Array | Float64Array | Uint32Array): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}
