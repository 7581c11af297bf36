import { tarCorrupt, type TarLocation } from './tar-errors.js';
import { nameFromBytes } from './name-bytes.js';

/**
 * PAX records of one extended header (or the accumulated global ones): keyword → raw value bytes.
 * Values stay bytes because PAX values are bytes (xattr values are binary); only the keywords this
 * library understands are decoded, by `interpretPax`.
 */
export type PaxRecords = Map<string, Buffer>;

/** What the PAX records say about the entry they apply to; absent fields come from the ustar header. */
export interface PaxOverrides {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Milliseconds, with sub-millisecond digits kept in the fraction. */
  mtimeMs?: number;
  devmajor?: number;
  devminor?: number;
  /** `SCHILY.xattr.NAME` → value bytes (copied, so they do not pin the header window in memory). */
  xattrs: Record<string, Buffer>;
  /** A GNU PAX sparse file, when the records really say it is one. */
  sparse?: PaxSparse;
}

/** What the GNU sparse records of one entry say. */
export interface PaxSparse {
  /** '0.x': the map is in the records; '1.0': the map starts the entry's data. */
  version: '0.x' | '1.0';
  /** `GNU.sparse.name`: the real name (the ustar/PAX path is a `GNUSparseFile.N/…` stand-in). */
  name?: string;
  /** `GNU.sparse.size` (or 0.1's `realsize`): the logical file size. */
  realSize?: number;
  /** 0.x: offset, length pairs of the data regions. */
  regions?: number[];
}

const XATTR_PREFIX = 'SCHILY.xattr.';
const SPARSE_MAP = 'GNU.sparse.map';
/** Records whose values name files: a NUL in them is a corrupt header (Go), never part of a name. */
const NAME_KEYWORDS = new Set(['path', 'linkpath', 'uname', 'gname']);
/** A record length needs at most this many digits: no extended header we accept is ≥ 10^16 bytes. */
const MAX_LENGTH_DIGITS = 16;

/**
 * Parses `"%d %s=%s\n"` records. Each length counts its own digits and the newline, so a wrong one
 * desynchronises everything after it: every length is checked against the record's newline and the
 * header's end rather than trusted. `where.offset` is the offset of the records' first byte, so an
 * error points at the bad record itself.
 */
export function parsePaxRecords(data: Buffer, where: TarLocation): PaxRecords {
  const records: PaxRecords = new Map();
  const sparse00: string[] = [];
  let pos = 0;
  while (pos < data.length) {
    const at = { archive: where.archive, offset: where.offset + pos };
    // Some writers pad the extended header's data with NULs; nothing follows the padding.
    if (data[pos] === 0 && isAllZero(data, pos)) break;

    let p = pos;
    while (p < data.length && (data[p] ?? 0) >= 0x30 && (data[p] ?? 0) <= 0x39) p++;
    if (p === pos || data[p] !== 0x20) throw tarCorrupt('malformed PAX record: no length', at);
    if (p - pos > MAX_LENGTH_DIGITS) throw tarCorrupt('malformed PAX record: absurd length', at);
    const length = Number(data.toString('latin1', pos, p));
    const end = pos + length;
    // Shortest possible record: the digits, a space, a one-byte keyword, '=' and '\n'.
    if (length < p - pos + 4 || end > data.length) {
      throw tarCorrupt(`malformed PAX record: length ${length} does not fit the extended header`, at);
    }
    if (data[end - 1] !== 0x0a) throw tarCorrupt('malformed PAX record: not ended by a newline', at);
    const eq = data.indexOf(0x3d, p + 1);
    if (eq === -1 || eq >= end - 1 || eq === p + 1) throw tarCorrupt('malformed PAX record: no keyword', at);

    const keyword = data.toString('utf8', p + 1, eq);
    const value = Buffer.from(data.subarray(eq + 1, end - 1));
    if (keyword.includes('\0')) throw tarCorrupt(`malformed PAX record: NUL in keyword ${JSON.stringify(keyword)}`, at);
    if (NAME_KEYWORDS.has(keyword) && value.includes(0)) throw tarCorrupt(`malformed PAX record: NUL in ${keyword}`, at);
    if (keyword === 'GNU.sparse.offset' || keyword === 'GNU.sparse.numbytes') {
      // GNU sparse 0.0 repeats these two keywords once per region: kept in order, as a 0.1 map.
      const expected = sparse00.length % 2 === 0 ? 'GNU.sparse.offset' : 'GNU.sparse.numbytes';
      if (keyword !== expected || value.includes(0x2c)) throw tarCorrupt(`malformed GNU sparse 0.0 map: ${keyword} out of order`, at);
      sparse00.push(value.toString('latin1'));
    } else {
      records.set(keyword, value);
    }
    pos = end;
  }
  if (sparse00.length > 0) records.set(SPARSE_MAP, Buffer.from(sparse00.join(','), 'latin1'));
  return records;
}

/** What members without a PAX header get (shared and frozen). */
const NO_OVERRIDES: PaxOverrides = Object.freeze({ xattrs: Object.freeze({}) as Record<string, Buffer> });

/**
 * The effective overrides for one entry, from the local ('x') extended header before it (the last one
 * when there were several: each replaces the previous, as in Go's and GNU tar's readers). Global ('g')
 * headers are not applied to entries at all, as Go's reader (and so Docker) does not.
 *
 * An empty `uname` or `gname` deletes the field (POSIX): it becomes "" rather than falling back to the
 * ustar header. An empty `path` or `linkpath` keeps the header's name, as Go does: where a member lands
 * is what a runtime extracts, and a layer must not be able to hide a member from imgfs that Docker
 * still creates. An empty number keeps the header's number, as Go and GNU tar do (POSIX defines no
 * "absent" number; Python reads it as 0).
 */
export function interpretPax(local: PaxRecords | undefined, where: TarLocation): PaxOverrides {
  // Most members have no PAX header: one shared, frozen answer saves two objects per member.
  if (local === undefined) return NO_OVERRIDES;
  const result: PaxOverrides = { xattrs: {} };
  for (const [keyword, value] of local) {
    if (keyword.startsWith(XATTR_PREFIX)) {
      result.xattrs[keyword.slice(XATTR_PREFIX.length)] = value;
      continue;
    }
    switch (keyword) {
      case 'path':
        if (value.length > 0) result.path = nameFromBytes(value);
        break;
      case 'linkpath':
        if (value.length > 0) result.linkpath = nameFromBytes(value);
        break;
      case 'uname':
        result.uname = value.toString('utf8');
        break;
      case 'gname':
        result.gname = value.toString('utf8');
        break;
      case 'size':
      case 'uid':
      case 'gid':
        if (value.length > 0) result[keyword] = paxInteger(keyword, value, where);
        break;
      case 'SCHILY.devmajor':
        if (value.length > 0) result.devmajor = paxInteger(keyword, value, where);
        break;
      case 'SCHILY.devminor':
        if (value.length > 0) result.devminor = paxInteger(keyword, value, where);
        break;
      case 'mtime':
        if (value.length > 0) result.mtimeMs = paxTimeMs(value, where);
        break;
      default:
        break; // atime, ctime, comment, charset, vendor keywords: nothing imgfs serves
    }
  }
  const sparse = paxSparse(local, where);
  if (sparse !== undefined) {
    result.sparse = sparse;
    if (sparse.name !== undefined) result.path = sparse.name;
  }
  return result;
}

/**
 * GNU's PAX sparse formats, recognised as Go's reader recognises them: version 0.0 or 0.1 (map in
 * records; 0.0 wrote no version, only the map), or 1.0 (map at the start of the data). An unknown
 * version or a stray `GNU.sparse.*` keyword makes nothing sparse: the entry is read as a plain file.
 */
function paxSparse(records: PaxRecords, where: TarLocation): PaxSparse | undefined {
  const text = (keyword: string): string => records.get(keyword)?.toString('utf8') ?? '';
  const major = text('GNU.sparse.major');
  const minor = text('GNU.sparse.minor');
  let version: PaxSparse['version'];
  if (major === '0' && (minor === '0' || minor === '1')) version = '0.x';
  else if (major === '1' && minor === '0') version = '1.0';
  else if (major !== '' || minor !== '') return undefined;
  else if (text(SPARSE_MAP) !== '') version = '0.x';
  else return undefined;

  const sparse: PaxSparse = { version };
  const name = records.get('GNU.sparse.name');
  if (name !== undefined && name.length > 0) sparse.name = nameFromBytes(name);
  const size = records.get('GNU.sparse.size') ?? records.get('GNU.sparse.realsize');
  if (size !== undefined && size.length > 0) sparse.realSize = paxInteger('GNU.sparse.size', size, where);
  if (version === '0.x') {
    const count = paxInteger('GNU.sparse.numblocks', records.get('GNU.sparse.numblocks') ?? Buffer.alloc(0), where);
    const map = text(SPARSE_MAP);
    const numbers = map === '' ? [] : map.split(',').map((n) => paxInteger(SPARSE_MAP, Buffer.from(n, 'latin1'), where));
    if (numbers.length !== 2 * count) {
      throw tarCorrupt(`GNU sparse map has ${numbers.length / 2} regions but numblocks says ${count}`, where);
    }
    sparse.regions = numbers;
  }
  return sparse;
}

function paxInteger(keyword: string, value: Buffer, where: TarLocation): number {
  const text = value.toString('latin1');
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n)) {
    throw tarCorrupt(`invalid PAX ${keyword} value ${JSON.stringify(text)}`, where);
  }
  return n;
}

/**
 * `[-]seconds[.fraction]` → milliseconds. Whole milliseconds are computed exactly and the remaining
 * digits added as a fraction, so nanosecond stamps keep what a double can hold instead of losing the
 * millisecond digits to a `seconds * 1000` rounding.
 */
export function paxTimeMs(value: Buffer, where: TarLocation): number {
  const text = value.toString('latin1');
  const match = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(text);
  const seconds = Number(match?.[2]);
  if (match === null || !Number.isSafeInteger(seconds * 1000)) {
    throw tarCorrupt(`invalid PAX mtime value ${JSON.stringify(text)}`, where);
  }
  const fraction = match[3] ?? '';
  const wholeMs = seconds * 1000 + Number(fraction.slice(0, 3).padEnd(3, '0'));
  const subMs = fraction.length > 3 ? Number(`0.${fraction.slice(3)}`) : 0;
  return (match[1] === '-' ? -1 : 1) * (wholeMs + subMs);
}

function isAllZero(data: Buffer, from: number): boolean {
  for (let i = from; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}
