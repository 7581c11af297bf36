import { parseNumeric, scanOctal } from './large-numbers.js';
import { nameFromBytes } from './name-bytes.js';
import { NOT_A_HEADER, tarCorrupt, type TarLocation } from './tar-errors.js';

export const BLOCK_SIZE = 512;

/**
 * `ustar`: POSIX (also pax, whose extended headers are separate entries). `gnu`: GNU tar's own
 * format, where the ustar prefix bytes hold atime/ctime/sparse data instead. `v7`: no magic at all.
 */
export type TarHeaderFormat = 'ustar' | 'gnu' | 'v7';

/** One 512-byte header block as stored, before PAX or GNU long-name extensions are applied. */
export interface TarHeader {
  /** `prefix + '/' + name` for ustar headers that use the prefix field. */
  name: string;
  /** `mode & 0o7777`: some old writers put file-type bits in the mode field too. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch; may be negative (base-256). */
  mtime: number;
  /** The raw typeflag character; `'\0'` for old regular files. */
  typeflag: string;
  linkname: string;
  format: TarHeaderFormat;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

export const USTAR_MAGIC = Buffer.from('ustar\0', 'latin1');
export const GNU_MAGIC = Buffer.from('ustar  \0', 'latin1');
/** star's "xstar" trailer: its prefix is shortened to 131 bytes to make room for atime/ctime. */
export const STAR_TRAILER = Buffer.from('tar\0', 'latin1');

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK_SIZE; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * A NUL-terminated (or field-filling) string, bytes decoded as UTF-8 with the bytes of invalid
 * sequences kept (name-bytes.ts), so that two names differing only there stay two names.
 */
export function cString(buf: Buffer, start = 0, end = buf.length): string {
  // A header's fields are short (most are empty or a few bytes): a plain loop finds the NUL for less
  // than a native indexOf call costs.
  let nul = start;
  while (nul < end && buf[nul] !== 0) nul++;
  return nul === start ? '' : nameFromBytes(buf, start, nul);
}

/**
 * Decodes one header block. Callers check `isZeroBlock` first: a zero block is the end marker, not a
 * header, and would fail the checksum. Throws ETARCORRUPT with `where.offset` for a block that fails
 * its checksum (garbage, or a data block read as a header after a wrong size) or holds a bad number.
 */
export function decodeHeader(block: Buffer, where: TarLocation): TarHeader {
  if (block.length < BLOCK_SIZE) throw tarCorrupt('header shorter than 512 bytes', where);
  verifyChecksum(block, where);

  const format = headerFormat(block);
  const typeflag = String.fromCharCode(block[156] ?? 0);

  // Called directly, not through a closure: one object less per header.
  const size = parseNumeric(block, 'size', where, 124, 136);
  if (size < 0) throw tarCorrupt(`negative size ${size}`, where);
  const uid = parseNumeric(block, 'uid', where, 108, 116);
  const gid = parseNumeric(block, 'gid', where, 116, 124);
  if (uid < 0 || gid < 0) throw tarCorrupt(`negative owner ${uid}:${gid}`, where);

  let name = cString(block, 0, 100);
  if (format === 'ustar') {
    const prefixEnd = bytesAt(block, 508, STAR_TRAILER) ? 476 : 500;
    const prefix = cString(block, 345, prefixEnd);
    if (prefix !== '') name = `${prefix}/${name}`;
  }

  // v7 headers end at byte 257; whatever is beyond is padding, not uname/devmajor.
  const extended = format !== 'v7';
  const devmajor = extended ? parseNumeric(block, 'devmajor', where, 329, 337) : 0;
  const devminor = extended ? parseNumeric(block, 'devminor', where, 337, 345) : 0;
  if (devmajor < 0 || devminor < 0) throw tarCorrupt(`negative device number ${devmajor},${devminor}`, where);

  return {
    name,
    mode: parseNumeric(block, 'mode', where, 100, 108) & 0o7777,
    uid,
    gid,
    size,
    mtime: parseNumeric(block, 'mtime', where, 136, 148),
    typeflag,
    linkname: cString(block, 157, 257),
    format,
    uname: extended ? ownerName(block, 265, 297, lastUname) : '',
    gname: extended ? ownerName(block, 297, 329, lastGname) : '',
    devmajor,
    devminor,
  };
}

/** An owner name field as last decoded: its bytes up to the NUL, and the string. */
interface OwnerName {
  bytes: Uint8Array;
  length: number;
  text: string;
}

const lastUname: OwnerName = { bytes: new Uint8Array(32), length: 0, text: '' };
const lastGname: OwnerName = { bytes: new Uint8Array(32), length: 0, text: '' };

/**
 * `cString` of an owner name field (32 bytes), as the same string as last time when the bytes are the
 * same: a layer's members nearly all share one or two owners, and a string per member and field was
 * garbage for the collector to take back.
 */
function ownerName(block: Buffer, start: number, end: number, last: OwnerName): string {
  const { bytes, length } = last;
  let i = 0;
  while (i < length && block[start + i] === bytes[i]) i++;
  if (i === length && (start + i === end || block[start + i] === 0)) return last.text;
  let nul = start;
  while (nul < end && block[nul] !== 0) nul++;
  last.length = nul - start;
  bytes.set(block.subarray(start, nul));
  last.text = nul === start ? '' : nameFromBytes(block, start, nul);
  return last.text;
}

function headerFormat(block: Buffer): TarHeaderFormat {
  if (bytesAt(block, 257, GNU_MAGIC)) return 'gnu';
  if (bytesAt(block, 257, USTAR_MAGIC)) return 'ustar';
  return 'v7';
}

/** Whether `block` holds `expected` at `at` (compared in place: this runs for every header). */
export function bytesAt(block: Uint8Array, at: number, expected: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (block[at + i] !== expected[i]) return false;
  return true;
}

function verifyChecksum(block: Buffer, where: TarLocation): void {
  if (!checksumMatches(block, 0)) throw tarCorrupt(NOT_A_HEADER, where);
}

/**
 * Whether the header block at `bytes[at, at + 512)` holds its own checksum. POSIX says the sum is of
 * unsigned bytes, but old BSD-derived tars (Sun, NeXT) summed signed chars; GNU tar accepts either and
 * so do we, so that archives with non-ASCII names from those tars open.
 */
export function checksumMatches(bytes: Uint8Array, at: number): boolean {
  let unsigned = 8 * 0x20;
  let high = 0;
  const words = wordsOf(bytes, at);
  if (words !== undefined) {
    // Four bytes a step: two 16-bit lanes add up alternate bytes, a byte lane counts high bits; none
    // can overflow in 128 words. About four times fewer steps than byte by byte.
    const first = (bytes.byteOffset + at) >>> 2;
    let evenOdd = 0;
    let oddEven = 0;
    let highBits = 0;
    for (let i = first; i < first + BLOCK_SIZE / 4; i++) {
      const word = words[i] as number;
      evenOdd += word & 0x00ff00ff;
      oddEven += (word >>> 8) & 0x00ff00ff;
      highBits += (word >>> 7) & 0x01010101;
    }
    unsigned += (evenOdd & 0xffff) + (evenOdd >>> 16) + (oddEven & 0xffff) + (oddEven >>> 16);
    high += (highBits & 0xff) + ((highBits >>> 8) & 0xff) + ((highBits >>> 16) & 0xff) + (highBits >>> 24);
    // The checksum field counts as the eight spaces already added, not as its own bytes.
    for (let i = at + 148; i < at + 156; i++) {
      const byte = bytes[i] as number;
      unsigned -= byte;
      high -= byte >> 7;
    }
  } else {
    for (let i = at; i < at + 148; i++) {
      const byte = bytes[i] as number;
      unsigned += byte;
      high += byte >> 7;
    }
    for (let i = at + 156; i < at + BLOCK_SIZE; i++) {
      const byte = bytes[i] as number;
      unsigned += byte;
      high += byte >> 7;
    }
  }
  // Old writers summed signed chars: each byte ≥ 0x80 then counts 256 less.
  const signed = unsigned - 256 * high;
  // A checksum field that is no octal number matches nothing (scanOctal gives a negative number).
  const recorded = scanOctal(bytes, at + 148, at + 156);
  return recorded === unsigned || recorded === signed;
}

/**
 * The header's memory as 32-bit words, when it starts on a word boundary: one view per underlying
 * buffer, kept while headers keep coming from it (a walk reads them all from one reused window, or
 * from one decoded span after another), so that summing by words allocates nothing per header.
 */
let wordsBuffer: ArrayBufferLike | undefined;
let words: Uint32Array | undefined;
function wordsOf(block: Uint8Array, at: number): Uint32Array | undefined {
  if (((block.byteOffset + at) & 3) !== 0) return undefined;
  if (block.buffer !== wordsBuffer) {
    wordsBuffer = block.buffer;
    words = new Uint32Array(block.buffer, 0, block.buffer.byteLength >>> 2);
  }
  return words;
}
