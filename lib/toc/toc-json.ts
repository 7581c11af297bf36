import { tocError } from './toc-errors.js';
import type { TocEntryType } from './toc-model.js';

/**
 * One `entries[]` record of a TOC JSON document, with every field checked for type and range. The two
 * formats share one schema (zstd:chunked copied eStargz's "CRFS" TOC): containers/storage adds
 * `endOffset`, `chunkType` and RFC 3339 nanosecond times and has no user or group names; eStargz adds
 * `userName`/`groupName` (stated only on the first entry of each uid/gid) and `innerOffset`.
 */
export interface TocRecord {
  type: TocEntryType | 'chunk';
  name: string;
  linkName: string;
  mode: number;
  size: number;
  uid: number;
  gid: number;
  userName: string | undefined;
  groupName: string | undefined;
  modtimeMs: number;
  devMajor: number;
  devMinor: number;
  xattrs: Record<string, Buffer>;
  digest: string | undefined;
  offset: number;
  endOffset: number;
  innerOffset: number;
  chunkOffset: number;
  chunkSize: number;
  chunkDigest: string | undefined;
  /** Position in `entries`, for messages. */
  index: number;
}

const TYPES = new Set(['reg', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo', 'chunk']);
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** Longest name or link target accepted (the tar walker's default limit). */
const MAX_NAME_BYTES = 16 * 1024;

export interface TocDocument {
  records: TocRecord[];
  /** zstd:chunked: digest of the stored tar-split stream (containers/storage 1.54 and later). */
  tarSplitDigest: string | undefined;
}

/** Parses and checks the TOC document; anything it does not expect is an error naming the entry. */
export function parseTocJson(json: Buffer): TocDocument {
  let document: unknown;
  try {
    document = JSON.parse(json.toString('utf8'));
  } catch (error) {
    throw tocError(`not JSON (${(error as Error).message})`);
  }
  if (!isObject(document)) throw tocError('the document is not a JSON object');
  if (document['version'] !== 1) throw tocError(`unsupported version ${JSON.stringify(document['version'])}`);
  const entries = document['entries'];
  if (!Array.isArray(entries)) throw tocError('"entries" is not an array');
  const tarSplitDigest = document['tarSplitDigest'];
  if (tarSplitDigest !== undefined && tarSplitDigest !== '' && (typeof tarSplitDigest !== 'string' || !DIGEST.test(tarSplitDigest))) {
    throw tocError('"tarSplitDigest" is not a sha256 digest');
  }
  return { records: entries.map((entry, index) => parseRecord(entry, index)), tarSplitDigest: tarSplitDigest || undefined };
}

function parseRecord(value: unknown, index: number): TocRecord {
  const fail = (reason: string): Error => tocError(`entry ${index}: ${reason}`);
  if (!isObject(value)) throw fail('not an object');
  const type = value['type'];
  if (typeof type !== 'string' || !TYPES.has(type)) throw fail(`unknown type ${JSON.stringify(type)}`);
  const text = (key: string, required = false): string | undefined => {
    const field = value[key];
    if (field === undefined || field === null) {
      if (required) throw fail(`"${key}" is missing`);
      return undefined;
    }
    if (typeof field !== 'string') throw fail(`"${key}" is not a string`);
    if (Buffer.byteLength(field) > MAX_NAME_BYTES) throw fail(`"${key}" is longer than ${MAX_NAME_BYTES} bytes`);
    return field;
  };
  const count = (key: string): number => {
    const field = value[key];
    if (field === undefined || field === null) return 0;
    if (typeof field !== 'number' || !Number.isSafeInteger(field) || field < 0) throw fail(`"${key}" is not a whole number ≥ 0 (${JSON.stringify(field)})`);
    return field;
  };
  const digest = (key: string): string | undefined => {
    const field = text(key);
    if (field === undefined || field === '') return undefined;
    if (!DIGEST.test(field)) throw fail(`"${key}" is not a sha256 digest (${JSON.stringify(field.slice(0, 80))})`);
    return field;
  };
  const name = text('name', type !== 'chunk') ?? '';
  const modtime = text('modtime');
  return {
    type: type as TocRecord['type'],
    name,
    linkName: text('linkName') ?? '',
    mode: count('mode'),
    size: count('size'),
    uid: count('uid'),
    gid: count('gid'),
    userName: text('userName'),
    groupName: text('groupName'),
    modtimeMs: modtime === undefined || modtime === '' ? 0 : rfc3339Ms(modtime, fail),
    devMajor: count('devMajor'),
    devMinor: count('devMinor'),
    xattrs: xattrsOf(value['xattrs'], fail),
    digest: digest('digest'),
    offset: count('offset'),
    endOffset: count('endOffset'),
    innerOffset: count('innerOffset'),
    chunkOffset: count('chunkOffset'),
    chunkSize: count('chunkSize'),
    chunkDigest: digest('chunkDigest'),
    index,
  };
}

/** Extended attributes: name → base64 value in both formats (Go's `[]byte` and containers/storage's base64 strings). */
function xattrsOf(value: unknown, fail: (reason: string) => Error): Record<string, Buffer> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw fail('"xattrs" is not an object');
  const out: Record<string, Buffer> = {};
  for (const [key, encoded] of Object.entries(value)) {
    if (typeof encoded !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) throw fail(`xattr ${JSON.stringify(key)} is not base64`);
    out[key] = Buffer.from(encoded, 'base64');
  }
  return out;
}

/**
 * RFC 3339 (`2024-03-01T12:00:00Z`, optional fraction of up to nine digits, `Z` or `±hh:mm`) to
 * milliseconds, fraction kept as the tar walker keeps PAX sub-seconds. Go's zero time
 * (`0001-01-01T00:00:00Z`), which containers/storage writes for unset times, is 0 like an unset one.
 */
export function rfc3339Ms(text: string, fail: (reason: string) => Error): number {
  const match = /^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d\d):(\d\d))$/.exec(text);
  if (match === null) throw fail(`modtime ${JSON.stringify(text.slice(0, 60))} is not RFC 3339`);
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (year === 1 && month === 1 && day === 1 && hour === 0 && minute === 0 && second === 0) return 0;
  const zone = match[8] !== undefined ? 0 : (match[9] === '-' ? -1 : 1) * (Number(match[10]) * 60 + Number(match[11]));
  const wholeSeconds = Date.UTC(year, month - 1, day, hour, minute, second) / 1000 - zone * 60;
  const fraction = match[7] ?? '';
  const wholeMs = wholeSeconds * 1000 + Number(fraction.slice(0, 3).padEnd(3, '0'));
  const subMs = fraction.length > 3 ? Number(`0.${fraction.slice(3)}`) : 0;
  return wholeMs + subMs;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
