/**
 * How extension headers apply to entries, following Go's archive/tar (what Docker, containerd and umoci
 * apply layers with), and POSIX where Go keeps a header field that an empty PAX value deletes.
 */
import { describe, expect, it } from 'vitest';
import { collect, walkFailure } from './walk-helpers.js';
import { MemorySource } from './memory-source.js';
import { END, member, paxMember } from './raw-tar.js';

const walk = (...parts: Buffer[]) => collect(new MemorySource(Buffer.concat([...parts, END])));
const failure = (...parts: Buffer[]) => walkFailure(new MemorySource(Buffer.concat([...parts, END])));

describe('several local PAX headers before one entry', () => {
  it('gives the entry the last header’s records only, as Go and GNU tar do', async () => {
    const entries = await walk(
      paxMember([['path', 'first/one'], ['uid', '7'], ['uname', 'seven']]),
      paxMember([['path', 'second']]),
      member({ name: 'header-name', uid: 1, uname: 'hdr' }),
    );
    expect(entries.map((e) => [e.name, e.uid, e.uname])).toEqual([['second', 1, 'hdr']]);
  });
});

describe('global PAX headers', () => {
  it('change no later entry (Go’s reader, and so Docker)', async () => {
    const entries = await walk(
      paxMember([['path', 'renamed'], ['uname', 'global'], ['mtime', '5'], ['SCHILY.xattr.user.g', 'G']], 'g'),
      member({ name: 'a', uname: 'hdr', mtime: 100 }, 'A'),
      member({ name: 'b' }, 'B'),
    );
    expect(entries.map((e) => [e.name, e.uname, e.mtimeMs, e.xattrs])).toEqual([
      ['a', 'hdr', 100_000, {}],
      ['b', '', 1_700_000_000_000, {}],
    ]);
  });

  it('hide nothing when they carry GNU sparse keywords', async () => {
    const entries = await walk(
      paxMember([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', 'evil']], 'g'),
      member({ name: 'etc/passwd' }, 'root:x:0:0\n'),
    );
    expect(entries.map((e) => [e.name, e.type, e.size, e.sparse])).toEqual([['etc/passwd', 'file', 11, undefined]]);
  });

  it('are still checked: a malformed global header is ETARCORRUPT', async () => {
    const bad = member({ name: 'GlobalHead', typeflag: 'g' }, '5 x\n');
    const { error } = await failure(bad, member({ name: 'a' }));
    expect(error.code).toBe('ETARCORRUPT');
  });
});

describe('GNU sparse keywords', () => {
  it('an unknown GNU.sparse.* keyword makes nothing sparse', async () => {
    const entries = await walk(paxMember([['GNU.sparse.whatever', '1'], ['GNU.sparse.name', 'hidden']]), member({ name: 'shown' }, 'data'));
    expect(entries.map((e) => [e.name, e.type, e.size, e.sparse])).toEqual([['shown', 'file', 4, undefined]]);
  });

  it('an unknown sparse version makes nothing sparse (Go)', async () => {
    const entries = await walk(paxMember([['GNU.sparse.major', '7'], ['GNU.sparse.minor', '0']]), member({ name: 'plain' }, 'data'));
    expect(entries.map((e) => [e.name, e.type, e.sparse])).toEqual([['plain', 'file', undefined]]);
  });

  it('a sparse marker applies to its entry only', async () => {
    const entries = await walk(
      paxMember([['GNU.sparse.map', '0,2'], ['GNU.sparse.numblocks', '1'], ['GNU.sparse.size', '10'], ['GNU.sparse.name', 's']]),
      member({ name: 'GNUSparseFile.1/s' }, 'ab'),
      member({ name: 'next' }, 'n'),
    );
    expect(entries.map((e) => [e.name, e.type, e.size, e.sparse])).toEqual([
      ['s', 'file', 2, { realSize: 10, regions: [0, 2] }],
      ['next', 'file', 1, undefined],
    ]);
  });
});

describe('empty PAX values', () => {
  it('delete the owner names (POSIX: uname= gives "")', async () => {
    const entries = await walk(
      paxMember([['uname', ''], ['gname', '']]),
      member({ name: 'l', typeflag: '2', linkname: 'target', uname: 'alice', gname: 'staff' }),
    );
    expect(entries.map((e) => [e.uname, e.gname, e.linkname])).toEqual([['', '', 'target']]);
  });

  it('keep the header’s name and link target, which decide what a runtime extracts (Go)', async () => {
    const entries = await walk(
      paxMember([['path', ''], ['linkpath', '']]),
      member({ name: 'etc/cron.d/job', typeflag: '2', linkname: '/tmp/payload' }),
    );
    expect(entries.map((e) => [e.name, e.linkname])).toEqual([['etc/cron.d/job', '/tmp/payload']]);
  });

  it('keep numeric header fields, as Go and GNU tar do', async () => {
    const entries = await walk(paxMember([['uid', ''], ['mtime', ''], ['size', '']]), member({ name: 'f', uid: 5, mtime: 1000 }, 'xyz'));
    expect(entries.map((e) => [e.uid, e.mtimeMs, e.size])).toEqual([[5, 1_000_000, 3]]);
  });
});

describe('NUL bytes in PAX records', () => {
  for (const [keyword, value] of [
    ['path', 'a\0b'],
    ['linkpath', 'x\0'],
    ['SCHILY.xattr.user.a\0b', 'v'],
  ] as const) {
    it(`in ${JSON.stringify(keyword)} make the header ETARCORRUPT (Go)`, async () => {
      const { error } = await failure(paxMember([[keyword, value]]), member({ name: 'f', typeflag: '2', linkname: 't' }));
      expect(error.code).toBe('ETARCORRUPT');
      expect(error.reason).toMatch(/NUL/);
      expect(error.offset).toBe(512);
    });
  }

  it('are fine inside an xattr value, which is binary', async () => {
    const entries = await walk(paxMember([['SCHILY.xattr.user.bin', Buffer.from([0, 1, 0])]]), member({ name: 'f' }));
    expect(entries[0]?.xattrs).toEqual({ 'user.bin': Buffer.from([0, 1, 0]) });
  });
});
