import { describe, expect, it } from 'vitest';
import type { ImgfsError } from '../../lib/errors.js';
import { expectImgfsErrorSync } from '../helpers/expect-imgfs-error.js';
import { parseBase256, parseNumeric, parseOctal } from '../../lib/tar/large-numbers.js';
import { base256 } from './raw-tar.js';

const where = { archive: 'x.tar', offset: 1024 };
const field = (text: string, length = 12): Buffer => {
  const out = Buffer.alloc(length);
  Buffer.from(text, 'latin1').copy(out);
  return out;
};

function corrupt(fn: () => unknown): ImgfsError {
  return expectImgfsErrorSync(fn, { code: 'ETARCORRUPT', archive: 'x.tar', offset: 1024 });
}

describe('parseOctal', () => {
  it('reads NUL- and space-terminated octal, as ustar and old GNU writers end fields', () => {
    expect(parseOctal(field('0000644\0', 8), 'mode', where)).toBe(0o644);
    expect(parseOctal(field('000644 \0', 8), 'mode', where)).toBe(0o644);
    expect(parseOctal(field('00000000006\0'), 'size', where)).toBe(6);
  });

  it('skips leading spaces (old writers right-align numbers)', () => {
    expect(parseOctal(field('   755 \0', 8), 'mode', where)).toBe(0o755);
  });

  it('accepts a field filled with digits and no terminator (size up to 64 GiB)', () => {
    expect(parseOctal(field('777777777777'), 'size', where)).toBe(8 ** 12 - 1);
  });

  it('reads an all-NUL or all-blank field as 0 (v7 padding, blank fields)', () => {
    expect(parseOctal(Buffer.alloc(8), 'devmajor', where)).toBe(0);
    expect(parseOctal(field('        ', 8), 'devmajor', where)).toBe(0);
  });

  it('ignores what follows the terminator, as GNU tar does', () => {
    expect(parseOctal(field('0017\0xyz', 8), 'uid', where)).toBe(0o17);
  });

  it('rejects non-octal digits with ETARCORRUPT naming the field', () => {
    expect(corrupt(() => parseOctal(field('0000089\0', 8), 'uid', where)).reason).toMatch(/invalid octal number in uid/);
    expect(corrupt(() => parseOctal(field('12a4'), 'size', where)).reason).toMatch(/size/);
  });
});

describe('parseBase256', () => {
  it('reads positive values (GNU tar marks them with 0x80)', () => {
    expect(parseBase256(base256(3_000_000, 8), 'uid', where)).toBe(3_000_000);
    expect(parseBase256(base256(8 ** 11, 12), 'size', where)).toBe(8 ** 11);
    expect(parseBase256(base256(Number.MAX_SAFE_INTEGER, 12), 'size', where)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('reads negative values as two’s complement (mtimes before 1970)', () => {
    expect(parseBase256(base256(-1, 12), 'mtime', where)).toBe(-1);
    expect(parseBase256(base256(-2, 12), 'mtime', where)).toBe(-2);
    expect(parseBase256(base256(-86_400 * 365 * 100, 12), 'mtime', where)).toBe(-86_400 * 365 * 100);
    expect(parseBase256(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]), 'mtime', where)).toBe(-2);
    expect(parseBase256(base256(Number.MIN_SAFE_INTEGER, 12), 'mtime', where)).toBe(Number.MIN_SAFE_INTEGER);
  });

  it('uses the 6 low bits of the first byte as digits', () => {
    expect(parseBase256(Buffer.from([0x80 | 0x01, 0, 0, 0, 0, 0, 0]), 'uid', where)).toBe(2 ** 48);
    expect(parseBase256(Buffer.from([0x80 | 0x3f, 0xff]), 'uid', where)).toBe(0x3fff);
  });

  it('rejects values beyond Number.MAX_SAFE_INTEGER with ETARCORRUPT', () => {
    corrupt(() => parseBase256(base256(2n ** 53n, 12), 'size', where));
    corrupt(() => parseBase256(base256(-(2n ** 53n), 12), 'mtime', where));
    corrupt(() => parseBase256(Buffer.from([0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 'size', where));
  });
});

describe('parseNumeric', () => {
  it('dispatches on the high bit of the first byte', () => {
    expect(parseNumeric(field('0000012\0', 8), 'uid', where)).toBe(10);
    expect(parseNumeric(base256(10, 8), 'uid', where)).toBe(10);
    expect(parseNumeric(base256(-10, 12), 'mtime', where)).toBe(-10);
  });
});
