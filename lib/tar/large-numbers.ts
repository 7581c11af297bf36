import { tarCorrupt, type TarLocation } from './tar-errors.js';

/**
 * Decodes a numeric header field: octal ASCII, or GNU base-256 when the first byte has its high bit
 * set (how GNU tar, star and Go store uids ≥ 2097152, sizes ≥ 8 GiB and mtimes before 1970).
 * `what` names the field in error messages.
 */
export function parseNumeric(field: Buffer, what: string, where: TarLocation, start = 0, end = field.length): number {
  const first = field[start];
  if (start < end && first !== undefined && (first & 0x80) !== 0) return parseBase256(field.subarray(start, end), what, where);
  return parseOctal(field, what, where, start, end);
}

/**
 * Octal digits after optional leading spaces, ended by NUL, space or the end of the field (some
 * writers fill all 12 bytes of `size` with digits). What follows the terminator is ignored, as GNU
 * tar does. An empty or blank field is 0: v7 headers leave unused fields as NULs, some writers blanks.
 */
export function parseOctal(field: Buffer, what: string, where: TarLocation, start = 0, end = field.length): number {
  const value = scanOctal(field, start, end);
  if (value >= 0) return value;
  if (value === BAD_TERMINATOR) {
    throw tarCorrupt(`invalid octal number in ${what} field: ${JSON.stringify(printable(field.subarray(start, end)))}`, where);
  }
  throw tooLarge(what, where);
}

/** What `scanOctal` returns for a field `parseOctal` rejects for what follows its digits. */
const BAD_TERMINATOR = -1;
/** What `scanOctal` returns for a number beyond 2^53 - 1. */
const TOO_LARGE = -2;

/**
 * `parseOctal` without an error: the value, or a negative number where `parseOctal` throws. For
 * callers that only need to know whether a field is plain octal (the plain-member lane, a checksum).
 */
export function scanOctal(field: Uint8Array, start: number, end: number): number {
  // Reads `field[start, end)` in place: a header's eight numeric fields cost no views.
  let i = start;
  while (i < end && field[i] === 0x20) i++;
  let value = 0;
  for (; i < end; i++) {
    const c = field[i] as number;
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
  }
  const terminator = i < end ? field[i] : undefined;
  if (terminator !== undefined && terminator !== 0 && terminator !== 0x20) return BAD_TERMINATOR;
  return Number.isSafeInteger(value) ? value : TOO_LARGE;
}

/**
 * GNU base-256: with the marker bit (0x80 of the first byte) removed, the field is a big-endian two's
 * complement number, so 0x40 of the first byte is the sign. GNU tar decodes it the same way:
 * `(first & 0x3f) - (first & 0x40)`, then one byte at a time.
 */
export function parseBase256(field: Buffer, what: string, where: TarLocation): number {
  const first = field[0] ?? 0;
  let value = BigInt(first & 0x3f) - BigInt(first & 0x40);
  for (let i = 1; i < field.length; i++) value = value * 256n + BigInt(field[i] ?? 0);
  if (value < BigInt(Number.MIN_SAFE_INTEGER)) throw tarCorrupt(`negative ${what} ${value}`, where);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw tooLarge(what, where);
  return Number(value);
}

function tooLarge(what: string, where: TarLocation): Error {
  return tarCorrupt(`${what} field exceeds the largest exact integer (2^53 - 1)`, where);
}

function printable(field: Buffer): string {
  return field.toString('latin1').replace(/\0+$/, '');
}
