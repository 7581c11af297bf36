import { describe, expect, it } from 'vitest';
import type { ImgfsError } from '../../lib/errors.js';
import { expectImgfsErrorSync } from '../helpers/expect-imgfs-error.js';
import {
  interpretPax,
  parsePaxRecords,
  paxTimeMs,
  type PaxRecords,
} from '../../lib/tar/pax.js';
import { paxData } from './raw-tar.js';

const where = { archive: 'p.tar', offset: 512 };
const records = (entries: Array<[string, string | Buffer]>): PaxRecords => parsePaxRecords(paxData(entries), where);

function corruptAt(data: Buffer): ImgfsError {
  return expectImgfsErrorSync(() => parsePaxRecords(data, where), 'ETARCORRUPT');
}

describe('parsePaxRecords', () => {
  it('parses records as GNU tar writes them', () => {
    const data = Buffer.from('30 mtime=1795649381.471279481\n21 path=dir/file.txt\n');
    const parsed = parsePaxRecords(data, where);
    expect([...parsed.keys()]).toEqual(['mtime', 'path']);
    expect(parsed.get('path')?.toString()).toBe('dir/file.txt');
  });

  it('keeps values as exact bytes, including NUL, 0xff and newlines', () => {
    const value = Buffer.from([0x00, 0xff, 0x0a, 0x3d, 0x80]);
    const parsed = records([['SCHILY.xattr.user.bin', value]]);
    expect(parsed.get('SCHILY.xattr.user.bin')).toEqual(value);
  });

  it('splits at the first "=" only', () => {
    expect(records([['comment', 'a=b=c']]).get('comment')?.toString()).toBe('a=b=c');
  });

  it('lets a later record for the same keyword win', () => {
    expect(records([['path', 'a'], ['path', 'b']]).get('path')?.toString()).toBe('b');
  });

  it('accepts NUL padding after the last record', () => {
    const data = Buffer.concat([paxData([['path', 'x']]), Buffer.alloc(20)]);
    expect(parsePaxRecords(data, where).get('path')?.toString()).toBe('x');
  });

  it('accepts an empty value', () => {
    expect(parsePaxRecords(Buffer.from('8 path=\n'), where).get('path')).toEqual(Buffer.alloc(0));
  });

  it('rejects a length that is too long for the header, naming the record offset', () => {
    const data = Buffer.concat([paxData([['path', 'ok']]), Buffer.from('99 path=x\n')]);
    const e = corruptAt(data);
    expect(e.offset).toBe(512 + paxData([['path', 'ok']]).length);
    expect(e.reason).toMatch(/length 99/);
  });

  it('rejects an absurd length', () => {
    expect(corruptAt(Buffer.from('99999999999999999999999999 path=x\n')).reason).toMatch(/absurd length/);
    expect(corruptAt(Buffer.from('9007199254740993 path=x\n')).code).toBe('ETARCORRUPT');
  });

  it('rejects a length that is too short or off by one', () => {
    expect(corruptAt(Buffer.from('3 a=\n')).code).toBe('ETARCORRUPT');
    expect(corruptAt(Buffer.from('8 path=x\n')).reason).toMatch(/newline/);
    expect(corruptAt(Buffer.from('11 path=x\n')).code).toBe('ETARCORRUPT');
  });

  it('rejects records without a length, a space, or a keyword', () => {
    expect(corruptAt(Buffer.from('path=x\n')).reason).toMatch(/no length/);
    expect(corruptAt(Buffer.from('10path=xy\n')).reason).toMatch(/no length/);
    expect(corruptAt(Buffer.from('9 pathxy\n')).reason).toMatch(/no keyword/);
    expect(corruptAt(Buffer.from('6 =xy\n')).reason).toMatch(/no keyword/);
  });

  it('rejects garbage after NUL that is not padding', () => {
    expect(corruptAt(Buffer.from('\0junk')).code).toBe('ETARCORRUPT');
  });
});

describe('interpretPax', () => {
  it('decodes the fields imgfs uses', () => {
    const local = records([
      ['path', 'héllo/日本.txt'],
      ['linkpath', 'target'],
      ['size', '12345678901'],
      ['uid', '3000000'],
      ['gid', '4000000'],
      ['uname', 'ünïcode'],
      ['gname', 'staff'],
      ['mtime', '1700000000.5'],
      ['SCHILY.devmajor', '8'],
      ['SCHILY.devminor', '1'],
      ['SCHILY.xattr.user.mime', 'text/plain'],
      ['SCHILY.xattr.security.capability', Buffer.from([1, 0, 0, 2, 0xff])],
      ['atime', '1.0'],
      ['comment', 'ignored'],
    ]);
    expect(interpretPax(local, where)).toEqual({
      path: 'héllo/日本.txt',
      linkpath: 'target',
      size: 12_345_678_901,
      uid: 3_000_000,
      gid: 4_000_000,
      uname: 'ünïcode',
      gname: 'staff',
      mtimeMs: 1_700_000_000_500,
      devmajor: 8,
      devminor: 1,
      xattrs: {
        'user.mime': Buffer.from('text/plain'),
        'security.capability': Buffer.from([1, 0, 0, 2, 0xff]),
      },
    });
  });

  it('marks GNU PAX sparse 1.0 files and takes their real name from GNU.sparse.name', () => {
    const local = records([
      ['GNU.sparse.major', '1'],
      ['GNU.sparse.minor', '0'],
      ['GNU.sparse.name', 'real/name'],
      ['GNU.sparse.realsize', '4096'],
      ['path', 'GNUSparseFile.0/name'],
    ]);
    expect(interpretPax(local, where)).toMatchObject({ path: 'real/name', sparse: { version: '1.0', realSize: 4096 } });
  });

  it('reads a GNU sparse 0.0 map from repeated offset/numbytes records, in order', () => {
    const local = records([
      ['GNU.sparse.size', '100'],
      ['GNU.sparse.numblocks', '2'],
      ['GNU.sparse.offset', '0'],
      ['GNU.sparse.numbytes', '5'],
      ['GNU.sparse.offset', '50'],
      ['GNU.sparse.numbytes', '7'],
    ]);
    expect(interpretPax(local, where).sparse).toEqual({ version: '0.x', realSize: 100, regions: [0, 5, 50, 7] });
    expect(() => records([['GNU.sparse.numbytes', '5']])).toThrow(/out of order/);
  });

  it('rejects a 0.1 map whose length disagrees with numblocks', () => {
    expect(() => interpretPax(records([['GNU.sparse.map', '0,5,9'], ['GNU.sparse.numblocks', '2']]), where)).toThrow(/numblocks/);
  });

  it('rejects invalid numbers with ETARCORRUPT at the entry offset', () => {
    for (const [keyword, value] of [['size', '-1'], ['uid', '1e3'], ['gid', 'x'], ['size', '99999999999999999999'], ['mtime', '1.2.3']]) {
      expectImgfsErrorSync(() => interpretPax(records([[keyword ?? '', value ?? '']]), where), { code: 'ETARCORRUPT', offset: 512 });
    }
  });
});

describe('paxTimeMs', () => {
  const ms = (text: string): number => paxTimeMs(Buffer.from(text), where);

  it('converts seconds with fractions to milliseconds, keeping sub-millisecond digits', () => {
    expect(ms('1700000000')).toBe(1_700_000_000_000);
    expect(ms('1700000000.1')).toBe(1_700_000_000_100);
    expect(ms('1700000000.123')).toBe(1_700_000_000_123);
    expect(ms('1700000000.123456789')).toBeCloseTo(1_700_000_000_123.456789, 3);
    expect(ms('1700000000.123456789') % 1).toBeGreaterThan(0.456);
    expect(ms('0.000001')).toBe(0.001);
    expect(ms('5.')).toBe(5000);
  });

  it('handles negative times as negative milliseconds', () => {
    expect(ms('-1.5')).toBe(-1500);
    expect(ms('-86400')).toBe(-86_400_000);
  });

  it('rejects malformed times', () => {
    for (const bad of ['', 'abc', '1e9', '--1', '1.2.3', '99999999999999999999']) {
      expectImgfsErrorSync(() => ms(bad), 'ETARCORRUPT');
    }
  });
});
