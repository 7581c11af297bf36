import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImgfsError } from '../../lib/errors.js';
import { expectImgfsErrorSync } from '../helpers/expect-imgfs-error.js';
import { cString, decodeHeader, isZeroBlock } from '../../lib/tar/header.js';
import { gnuTar, scratchDir, touch } from './gnu-tar.js';
import { base256, BLOCK, rawHeader, withChecksum } from './raw-tar.js';

const where = { archive: 'h.tar', offset: 4096 };
const scratch = scratchDir();
afterAll(() => scratch.remove());

function decodeError(block: Buffer): ImgfsError {
  return expectImgfsErrorSync(() => decodeHeader(block, where), {});
}

describe('decodeHeader on headers written by GNU tar', () => {
  beforeAll(() => {
    writeFileSync(join(scratch.dir, 'hello.txt'), 'hello\n');
    chmodSync(join(scratch.dir, 'hello.txt'), 0o640); // explicit: the umask must not decide the test
    touch(join(scratch.dir, 'hello.txt'), '1700000000');
  });
  const args = ['--owner=alice:1234', '--group=staff:5678', '--mode=u+s'];

  it.each([
    ['posix', 'ustar'],
    ['ustar', 'ustar'],
    ['gnu', 'gnu'],
    ['v7', 'v7'],
  ] as const)('--format=%s gives a %s header with every field', (tarFormat, format) => {
    const archive = gnuTar(scratch.dir, `${tarFormat}.tar`, [`--format=${tarFormat}`, ...args], ['hello.txt']);
    // posix puts a PAX header (atime/ctime) first; the file's own header follows it.
    const offset = tarFormat === 'posix' ? 1024 : 0;
    const header = decodeHeader(archive.subarray(offset, offset + BLOCK), where);
    expect(header).toEqual({
      name: 'hello.txt',
      mode: 0o4640,
      uid: 1234,
      gid: 5678,
      size: 6,
      mtime: 1_700_000_000,
      typeflag: format === 'v7' ? '\0' : '0',
      linkname: '',
      format,
      uname: format === 'v7' ? '' : 'alice',
      gname: format === 'v7' ? '' : 'staff',
      devmajor: 0,
      devminor: 0,
    });
  });

  it('reads a base-256 uid written by GNU tar for uid 3000000', () => {
    const archive = gnuTar(scratch.dir, 'big.tar', ['--format=gnu', '--owner=big:3000000'], ['hello.txt']);
    expect(archive[108]).toBe(0x80);
    const header = decodeHeader(archive.subarray(0, BLOCK), where);
    expect(header.uid).toBe(3_000_000);
    expect(header.uname).toBe('big');
  });
});

describe('decodeHeader fields', () => {
  it('joins the ustar prefix and name', () => {
    const prefix = `${'p'.repeat(60)}/${'q'.repeat(60)}`;
    const header = decodeHeader(rawHeader({ name: 'n'.repeat(100), prefix }), where);
    expect(header.name).toBe(`${prefix}/${'n'.repeat(100)}`);
  });

  it('ignores the prefix bytes in GNU headers, where they hold atime and ctime', () => {
    const block = rawHeader({ name: 'plain', magic: 'gnu' });
    block.write('14000000000\0', 345, 'latin1'); // atime
    expect(decodeHeader(withChecksum(block), where).name).toBe('plain');
  });

  it('reads star headers, whose prefix is cut short by atime/ctime and a "tar\\0" trailer', () => {
    const block = rawHeader({ name: 'file', prefix: 'dir' });
    block.write('14000000000\0', 476, 'latin1');
    block.write('tar\0', 508, 'latin1');
    expect(decodeHeader(withChecksum(block), where).name).toBe('dir/file');
  });

  it('decodes names as UTF-8 up to the first NUL', () => {
    const name = Buffer.concat([Buffer.from('héllo-日本.txt'), Buffer.from([0]), Buffer.from('junk')]);
    expect(decodeHeader(rawHeader({ name }), where).name).toBe('héllo-日本.txt');
    expect(cString(Buffer.from('abc'))).toBe('abc');
  });

  it('uses a 100-byte name that fills its field without a NUL', () => {
    const name = 'x'.repeat(100);
    const block = rawHeader({ name, linkname: 'target' });
    expect(decodeHeader(block, where)).toMatchObject({ name, linkname: 'target' });
  });

  it('keeps only permission bits of mode (some writers include S_IFREG)', () => {
    expect(decodeHeader(rawHeader({ mode: 0o100755 }), where).mode).toBe(0o755);
    expect(decodeHeader(rawHeader({ mode: 0o7777 }), where).mode).toBe(0o7777);
  });

  it('reads base-256 numbers: uid, size, negative mtime', () => {
    const header = decodeHeader(
      rawHeader({ uid: base256(3_000_000, 8), gid: base256(2 ** 40, 8), size: base256(2 ** 34, 12), mtime: base256(-1000, 12) }),
      where,
    );
    expect(header).toMatchObject({ uid: 3_000_000, gid: 2 ** 40, size: 2 ** 34, mtime: -1000 });
  });

  it('reads device numbers', () => {
    const header = decodeHeader(rawHeader({ typeflag: '3', devmajor: 1, devminor: 3 }), where);
    expect(header).toMatchObject({ typeflag: '3', devmajor: 1, devminor: 3 });
  });

  it('does not read uname/devices from v7 headers, which end at byte 257', () => {
    const block = rawHeader({ magic: 'v7' });
    block.write('garbage', 329, 'latin1');
    expect(decodeHeader(withChecksum(block), where)).toMatchObject({ format: 'v7', uname: '', devmajor: 0 });
  });

  it('rejects negative sizes and owners', () => {
    expect(decodeError(rawHeader({ size: base256(-1, 12) })).code).toBe('ETARCORRUPT');
    expect(decodeError(rawHeader({ uid: base256(-5, 8) })).code).toBe('ETARCORRUPT');
  });

  it('rejects garbage in a numeric field', () => {
    const e = decodeError(rawHeader({ size: Buffer.from('00000000zz\0\0', 'latin1') }));
    expect(e.code).toBe('ETARCORRUPT');
    expect(e.offset).toBe(4096);
  });
});

describe('checksum', () => {
  it('accepts the signed sum that old Sun/NeXT tars wrote for non-ASCII names', () => {
    const block = rawHeader({ name: Buffer.from([0xe9, 0xe9]) });
    let signed = 0;
    block.fill(0x20, 148, 156);
    for (const byte of block) signed += byte >= 0x80 ? byte - 256 : byte;
    block.write(`${signed.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    // The name's bytes are kept (name-bytes.ts), not replaced by U+FFFD.
    expect(decodeHeader(block, where).name).toBe('\udce9\udce9');
  });

  it('sums the same wherever the header lies in memory (by words on a 4-byte boundary, by bytes elsewhere)', () => {
    const unsigned = rawHeader({ name: Buffer.from('caf\xe9-\xff\x80', 'latin1') });
    const signed = Buffer.from(unsigned);
    let sum = 0;
    signed.fill(0x20, 148, 156);
    for (const byte of signed) sum += byte >= 0x80 ? byte - 256 : byte;
    signed.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    for (const block of [unsigned, signed]) {
      for (let shift = 0; shift < 8; shift++) {
        const memory = Buffer.alloc(BLOCK + 8);
        block.copy(memory, shift);
        expect(decodeHeader(memory.subarray(shift, shift + BLOCK), where).name, `shift ${shift}`).toBe('caf\udce9-\udcff\udc80');
        // A byte changed in any of the words is noticed, as is one in the field itself.
        for (const at of [0, 3, 147, 150, 156, 511]) {
          const changed = Buffer.from(memory);
          changed[shift + at] = (changed[shift + at] as number) ^ 0x81;
          expect(decodeError(changed.subarray(shift, shift + BLOCK)).reason, `shift ${shift}, byte ${at}`).toBe('header checksum mismatch');
        }
      }
    }
  });

  it('rejects a mismatch with ETARCORRUPT "header checksum mismatch" at the header offset', () => {
    const block = rawHeader();
    block[10] = 0x41; // changed after the checksum was computed
    const e = decodeError(block);
    expect(e.code).toBe('ETARCORRUPT');
    expect(e.reason).toBe('header checksum mismatch');
    expect(e.offset).toBe(4096);
    expect(e.archive).toBe('h.tar');
  });

  it('rejects a checksum field that is not a number', () => {
    const block = rawHeader();
    block.write('zzzzzz\0 ', 148, 'latin1');
    expect(decodeError(block).reason).toBe('header checksum mismatch');
  });

  it('rejects random bytes', () => {
    const block = Buffer.alloc(BLOCK, 0x5a);
    expect(decodeError(block).reason).toBe('header checksum mismatch');
  });
});

describe('isZeroBlock', () => {
  it('is true only for 512 NULs', () => {
    expect(isZeroBlock(Buffer.alloc(BLOCK))).toBe(true);
    const block = Buffer.alloc(BLOCK);
    block[511] = 1;
    expect(isZeroBlock(block)).toBe(false);
  });
});
