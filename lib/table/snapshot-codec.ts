import { createHash } from 'node:crypto';
import { isAscii } from 'node:buffer';
import { nameToBytes } from '../tar/name-bytes.js';
import { EncodedNames, nameList, nameStarts } from './encoded-names.js';
import { NUMBER_FIELDS, SMALL_FIELDS, type LayerSnapshot } from './layer-columns.js';

/**
 * The on-disk form of a layer index: a fixed header (magic, format version, sha256 of the rest),
 * a small JSON part, then the big columns as raw bytes so that loading is a few buffer copies, not a
 * parse of 100 k objects.
 */
const MAGIC = Buffer.from('IMGFSIDX', 'latin1');
/**
 * Bump on any change of what the columns mean (v2: paths sorted, duplicates resolved; v3: sparse maps;
 * v4: names keep the bytes of invalid UTF-8, stored as those bytes, and whiteouts and opaque markers
 * carry their ordinal; v5: the directories a layer reaches into without a member, for R6; v6: where
 * each path and link name starts, so that names are decoded one at a time, when asked for).
 */
export const SNAPSHOT_FORMAT_VERSION = 6;
const HEADER_BYTES = MAGIC.length + 4 + 32;

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
  // Typed arrays are copied out into aligned memory when loading, so no padding is needed here.
  const body = Buffer.concat([
    u32(metaBytes.length),
    metaBytes,
    paths.bytes,
    links.bytes,
    bytesOf(paths.starts),
    bytesOf(links.starts),
    bytesOf(snapshot.kinds),
    bytesOf(snapshot.numbers),
    bytesOf(snapshot.small),
  ]);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(SNAPSHOT_FORMAT_VERSION, MAGIC.length);
  createHash('sha256').update(body).digest().copy(header, MAGIC.length + 4);
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
  const expected = file.subarray(MAGIC.length + 4, HEADER_BYTES);
  if (!createHash('sha256').update(body).digest().equals(expected)) throw new SnapshotFormatError('checksum mismatch');
  let at = 0;
  const take = (length: number): Buffer => {
    if (length < 0 || at + length > body.length) throw new SnapshotFormatError('index file is cut short');
    const part = body.subarray(at, at + length);
    at += length;
    return part;
  };
  const meta = JSON.parse(take(take(4).readUInt32LE(0)).toString('utf8')) as SnapshotMeta;
  const count = meta.count;
  const pathBytes = take(meta.pathBytes);
  const linkBytes = take(meta.linkBytes);
  const pathStarts = u32Column(take(4 * (count + 1)));
  const linkStarts = u32Column(take(4 * (count + 1)));
  if (!startsFit(pathStarts, pathBytes) || !startsFit(linkStarts, linkBytes)) throw new SnapshotFormatError('string tables do not match the entry count');
  const paths = new EncodedNames(pathBytes, pathStarts);
  const linknames = new EncodedNames(linkBytes, linkStarts);
  // Lookups are binary searches: an unsorted path column would answer ENOENT for files that exist.
  if (!paths.strictlyAscending()) throw new SnapshotFormatError('paths are not sorted');
  const kinds = Uint8Array.from(take(count));
  const numbers = new Float64Array(count * NUMBER_FIELDS);
  Buffer.from(numbers.buffer).set(take(numbers.byteLength));
  const small = new Uint32Array(count * SMALL_FIELDS);
  Buffer.from(small.buffer).set(take(small.byteLength));
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

/** A Uint32Array copied out of the file (typed arrays need aligned memory). */
function u32Column(bytes: Buffer): Uint32Array {
  const column = new Uint32Array(bytes.length / 4);
  Buffer.from(column.buffer).set(bytes);
  return column;
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
