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
  /** GNU PAX sparse file (`GNU.sparse.*`): its data holds a sparse map, not the file's bytes. */
  sparse: boolean;
}

const XATTR_PREFIX = 'SCHILY.xattr.';
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

    records.set(data.toString('utf8', p + 1, eq), Buffer.from(data.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return records;
}

/**
 * Folds a global ('g') header into the accumulated globals. An empty value removes a global (POSIX);
 * except for xattrs, where an empty value is a value.
 */
export function mergeGlobalPax(globals: PaxRecords, records: PaxRecords): void {
  for (const [keyword, value] of records) {
    if (keyword === 'size') continue; // one size for every following entry is nonsense, never honoured
    if (value.length === 0 && !keyword.startsWith(XATTR_PREFIX)) globals.delete(keyword);
    else globals.set(keyword, value);
  }
}

/** Later local ('x') headers before the same entry override earlier ones, as successive records do. */
export function mergeLocalPax(local: PaxRecords | undefined, records: PaxRecords): PaxRecords {
  if (local === undefined) return records;
  for (const [keyword, value] of records) local.set(keyword, value);
  return local;
}

/**
 * The effective overrides for one entry: local records win over global ones. An empty local value
 * means "no override" (POSIX: the header field applies), so it hides the global value too.
 */
export function interpretPax(globals: PaxRecords, local: PaxRecords | undefined, where: TarLocation): PaxOverrides {
  const effective = local === undefined ? globals : new Map([...globals, ...local]);
  const result: PaxOverrides = { xattrs: {}, sparse: false };
  for (const [keyword, value] of effective) {
    if (keyword.startsWith(XATTR_PREFIX)) {
      result.xattrs[keyword.slice(XATTR_PREFIX.length)] = value;
      continue;
    }
    if (keyword.startsWith('GNU.sparse.')) {
      result.sparse = true;
      if (keyword === 'GNU.sparse.name' && value.length > 0) result.path = nameFromBytes(value);
      continue;
    }
    if (value.length === 0) continue;
    switch (keyword) {
      case 'path':
        result.path ??= nameFromBytes(value);
        break;
      case 'linkpath':
        result.linkpath = nameFromBytes(value);
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
        result[keyword] = paxInteger(keyword, value, where);
        break;
      case 'SCHILY.devmajor':
        result.devmajor = paxInteger(keyword, value, where);
        break;
      case 'SCHILY.devminor':
        result.devminor = paxInteger(keyword, value, where);
        break;
      case 'mtime':
        result.mtimeMs = paxTimeMs(value, where);
        break;
      default:
        break; // atime, ctime, comment, charset, vendor keywords: nothing imgfs serves
    }
  }
  return result;
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
