/**
 * R1 of DESIGN.md: the one place where member names become paths. Paths inside imgfs are
 * root-relative without a leading slash ('' is the root) so they can be used as map keys directly;
 * the public API adds the '/' at its boundary.
 */

import { nameToBytes } from '../tar/name-bytes.js';

/** A path as a caller gave it (string or bytes), as imgfs keys it: lib/fs takes names from here. */
export { pathFromInput } from '../tar/name-bytes.js';

export const ROOT = '';

/** A `.` or `..` component, or an empty one (`//`). */
const NEEDS_SPLIT = /(?:^|\/)\.\.?(?:\/|$)|\/\//;

/** Lexical normalisation of a tar member name: `./a//b/../c/` → `a/c`; `..` never climbs above root. */
export function normalizeEntryName(raw: string): string {
  // normalizeName's quick path without its result object: this runs once per member of every layer.
  const quick = quickNormal(raw);
  return quick ?? normalizeByComponents(raw).path;
}

/** The name without leading `./` or `/` and one trailing `/`, when nothing else needs doing; else undefined. */
function quickNormal(raw: string): string | undefined {
  let start = 0;
  while (raw.startsWith('/', start) || raw.startsWith('./', start)) start += raw.startsWith('/', start) ? 1 : 2;
  const rest = start === 0 && !raw.endsWith('/') ? raw : raw.slice(start, raw.endsWith('/') ? -1 : raw.length);
  return start < raw.length && !rest.endsWith('/') && !NEEDS_SPLIT.test(rest) ? rest : undefined;
}

/**
 * The one lexical normaliser of names (layer members, outer-archive members): `./` and `/` prefixes,
 * repeated and trailing `/` and `.` components go, `..` is resolved lexically and clamped at the root.
 * `climbsOut` says whether a `..` tried to go above the root (an outer archive refuses such a name).
 */
export function normalizeName(raw: string): { path: string; climbsOut: boolean } {
  // Most names need at most a leading `./` or `/` and a trailing `/` taken off: found with one native
  // scan and cut out without splitting (a 5 000-deep chain's names are 10 kB each, one per member).
  const quick = quickNormal(raw);
  return quick !== undefined ? { path: quick, climbsOut: false } : normalizeByComponents(raw);
}

/** `normalizeName` the long way: component by component (what its quick path must agree with). */
export function normalizeByComponents(raw: string): { path: string; climbsOut: boolean } {
  const parts: string[] = [];
  let climbsOut = false;
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) climbsOut = true;
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return { path: parts.join('/'), climbsOut };
}

export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? ROOT : path.slice(0, slash);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === ROOT ? name : `${dir}/${name}`;
}

/** Proper ancestors of a path, nearest first, root excluded: `a/b/c` → `a/b`, `a`. */
export function* ancestorsOf(path: string): Generator<string> {
  let end = path.lastIndexOf('/');
  while (end > 0) {
    yield path.slice(0, end);
    end = path.lastIndexOf('/', end - 1);
  }
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const AUFS_META_PREFIX = '.wh..wh.';

/** What a member name means for the overlay: an ordinary path, a whiteout, an opaque marker, or aufs internals. */
export type NameRole =
  | { role: 'path' }
  | { role: 'whiteout'; hides: string }
  | { role: 'opaque'; dir: string }
  | { role: 'aufs-meta' };

/** The answer for nearly every member: one object, not one per member. */
const ORDINARY: NameRole = Object.freeze({ role: 'path' });

export function classifyName(path: string): NameRole {
  // Whiteouts and aufs names all hold the prefix: one native scan clears the rest.
  if (!path.includes(WHITEOUT_PREFIX)) return ORDINARY;
  // aufs keeps its hard-link store and orphans in `.wh..wh.*` directories: nothing under them is
  // image content either.
  if (path.includes('/.wh..wh.') || path.startsWith('.wh..wh.')) {
    const base = baseName(path);
    if (base === OPAQUE_MARKER && !parentOf(path).includes('.wh..wh.')) return { role: 'opaque', dir: parentOf(path) };
    return { role: 'aufs-meta' };
  }
  const base = baseName(path);
  if (!base.startsWith(WHITEOUT_PREFIX)) return ORDINARY;
  if (base === OPAQUE_MARKER) return { role: 'opaque', dir: parentOf(path) };
  // `.wh..wh.plnk`, `.wh..wh.aufs` … are aufs bookkeeping: never visible, hide nothing (R4).
  if (base.startsWith(AUFS_META_PREFIX)) return { role: 'aufs-meta' };
  const hidden = base.slice(WHITEOUT_PREFIX.length);
  if (hidden === '' || hidden === '.' || hidden === '..') return { role: 'aufs-meta' };
  return { role: 'whiteout', hides: joinPath(parentOf(path), hidden) };
}

/**
 * Compares names by the bytes they stand for, the order DESIGN.md fixes for readdir and walk, mostly
 * without encoding them: UTF-8 byte order is code point order, which differs from UTF-16 unit order
 * only when a surrogate (a code point above U+FFFF) meets a BMP unit of U+E000 or more. A name byte
 * that is not UTF-8 (a lone U+DC80–U+DCFF, name-bytes.ts) compares as that byte, which may equal the
 * lead byte of a character on the other side: then the rest is compared as bytes.
 */
export function compareNameBytes(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (isEscapedByte(a, i) || isEscapedByte(b, i)) return Buffer.compare(nameToBytes(a.slice(i)), nameToBytes(b.slice(i)));
    const xSurrogate = x >= 0xd800 && x <= 0xdfff;
    const ySurrogate = y >= 0xd800 && y <= 0xdfff;
    if (xSurrogate !== ySurrogate) return xSurrogate ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * The order of a pre-order walk with children sorted by name bytes, for whole paths: component by
 * component, an ancestor before its descendants (`/a/b` < `/a-c`, which plain byte order gets wrong).
 * Leading, trailing and repeated slashes do not count.
 */
export function comparePaths(a: string, b: string): number {
  const ap = a.split('/').filter((part) => part !== '');
  const bp = b.split('/').filter((part) => part !== '');
  const length = Math.min(ap.length, bp.length);
  for (let i = 0; i < length; i++) {
    const order = compareNameBytes(ap[i] as string, bp[i] as string);
    if (order !== 0) return order;
  }
  return ap.length - bp.length;
}

/** A lone low surrogate of the escape range at `i` (not the second half of a pair). */
function isEscapedByte(text: string, i: number): boolean {
  const unit = text.charCodeAt(i);
  if (unit < 0xdc80 || unit > 0xdcff) return false;
  const before = text.charCodeAt(i - 1);
  return !(before >= 0xd800 && before <= 0xdbff);
}
