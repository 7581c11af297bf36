/**
 * Names are bytes in a tar (and on Linux); imgfs's paths are JS strings. This is the one codec between
 * the two, and it round-trips: Python's `surrogateescape`. Valid UTF-8 decodes as usual; each byte of
 * an invalid sequence (always ≥ 0x80) becomes the lone surrogate U+DC80–U+DCFF (U+DC00 + byte), which
 * valid UTF-8 can never produce, so `caf\xe9` and `caf\xe8` stay two names ('caf\udce9', 'caf\udce8')
 * where a lossy decode would make both `caf\uFFFD`. Encoding maps those lone surrogates back to their
 * bytes and everything else to UTF-8.
 */

import { isUtf8 } from 'node:buffer';

const ESCAPE_BASE = 0xdc00;
const FIRST_ESCAPE = 0xdc80;
const LAST_ESCAPE = 0xdcff;
/** A lone surrogate that stands for one raw byte. */
const ESCAPED_BYTE = /[\udc80-\udcff]/;
const ANY_SURROGATE = /[\ud800-\udfff]/;

/** Decodes name bytes, keeping every byte of an invalid UTF-8 sequence as its own escape. */
export function nameFromBytes(bytes: Uint8Array, start = 0, end = bytes.length): string {
  if (end - start <= SHORT_NAME && isAscii(bytes, start, end)) return latin1Slice.call(bytes, start, end);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start);
  // The common cases cost what a plain decode costs.
  if (isUtf8(buffer)) return buffer.toString('utf8');
  let text = '';
  let i = 0;
  while (i < buffer.length) {
    const length = validSequenceLength(buffer, i);
    if (length === 0) {
      text += String.fromCharCode(ESCAPE_BASE + (buffer[i] as number));
      i++;
    } else {
      text += buffer.toString('utf8', i, i + length);
      i += length;
    }
  }
  return text;
}

/**
 * Names up to this long are checked for ASCII byte by byte here: for the short strings of a tar header
 * (nearly always ASCII) that is cheaper than a view, a native validation and a native decode; longer
 * runs (a table's whole path column) go to the native validator.
 */
const SHORT_NAME = 256;
/** Decodes bytes one to one into a string's code units; for ASCII that is the UTF-8 reading too. */
export const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;

/** Whether `bytes[start, end)` are all ASCII (a loop: the short runs of a header cost no native call). */
export function isAscii(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if ((bytes[i] as number) >= 0x80) return false;
  return true;
}

/** The bytes a name stands for: the inverse of `nameFromBytes` (a Node fs path `Buffer`). */
export function nameToBytes(name: string): Buffer {
  if (!ESCAPED_BYTE.test(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit < FIRST_ESCAPE || unit > LAST_ESCAPE || isHighSurrogate(name.charCodeAt(i - 1))) continue;
    if (i > run) parts.push(Buffer.from(name.slice(run, i), 'utf8'));
    parts.push(Buffer.of(unit - ESCAPE_BASE));
    run = i + 1;
  }
  if (run < name.length) parts.push(Buffer.from(name.slice(run), 'utf8'));
  return Buffer.concat(parts);
}

/** Whether a name holds bytes that are not UTF-8 (and so is not printable as its own text). */
export function hasEscapedBytes(name: string): boolean {
  return ESCAPED_BYTE.test(name);
}

/**
 * A path as imgfs keys it, from what a caller passed: a Buffer is decoded with `nameFromBytes`; a
 * string is taken as the bytes it encodes to, so that a string holding other lone surrogates means
 * what Node's fs would make of it (U+FFFD) and two spellings of one byte name meet.
 */
export function pathFromInput(path: string | Uint8Array): string {
  if (typeof path !== 'string') return nameFromBytes(path);
  // Text without any surrogate is already canonical: no copy.
  if (!ANY_SURROGATE.test(path)) return path;
  return nameFromBytes(nameToBytes(path));
}

/**
 * Length of the valid UTF-8 sequence starting at `at`, or 0 when the byte there starts none. Valid as
 * `isUtf8` and the WHATWG decoder see it: no overlong forms, no surrogates, nothing above U+10FFFF.
 */
function validSequenceLength(bytes: Buffer, at: number): number {
  const lead = bytes[at] as number;
  if (lead < 0x80) return 1;
  const continuation = (offset: number, low = 0x80, high = 0xbf): boolean => {
    const byte = bytes[at + offset];
    return byte !== undefined && byte >= low && byte <= high;
  };
  if (lead >= 0xc2 && lead <= 0xdf) return continuation(1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    // E0 needs A0.. (else overlong); ED needs ..9F (else a surrogate).
    const low = lead === 0xe0 ? 0xa0 : 0x80;
    const high = lead === 0xed ? 0x9f : 0xbf;
    return continuation(1, low, high) && continuation(2) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const low = lead === 0xf0 ? 0x90 : 0x80;
    const high = lead === 0xf4 ? 0x8f : 0xbf;
    return continuation(1, low, high) && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}
