import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TarEntry, TarEntryType } from '../../lib/tar/tar-entry.js';
import { gzipSync } from 'node:zlib';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { DecompressedSource, SPAN_SIZE } from '../../lib/source/decompressed-source.js';
import { gzipInflater } from '../../lib/source/gzip-inflater.js';
import { walkTar, walkTarBatches } from '../../lib/tar/walk-tar.js';
import { WINDOW_SIZE } from '../../lib/tar/header-window.js';
import { gnuTar, scratchDir, touch, tryRun } from './gnu-tar.js';
import { MemorySource } from './memory-source.js';
import { base256, BLOCK, END, member, padded, paxData, paxMember, rawHeader, withChecksum } from './raw-tar.js';
import { collect, walkFailure } from './walk-helpers.js';

/** Everything but the offsets, which each test checks its own way. */
const meta = ({ headerOffset: _h, dataOffset: _d, ...rest }: TarEntry): Omit<TarEntry, 'headerOffset' | 'dataOffset'> => rest;

const seekable = (bytes: Buffer): MemorySource => new MemorySource(bytes);
const stream = (bytes: Buffer): MemorySource => new MemorySource(bytes, { seekable: false, sizeKnown: false });

describe('walkTar over archives written by GNU tar', () => {
  const scratch = scratchDir();
  const src = join(scratch.dir, 'src');
  const long1 = `${'d'.repeat(60)}/${'f'.repeat(90)}`; // 151 bytes: ustar prefix, GNU 'L', PAX path
  const long2 = `${'e'.repeat(99)}/${'g'.repeat(200)}`; // 300 bytes: beyond what ustar can hold
  const longTarget = `${'../'.repeat(10)}${'t'.repeat(150)}`;
  const unicode = 'héllo-日本.txt';
  const owner = ['--owner=alice:1234', '--group=staff:5678', '--sort=name'];
  let canMknod = false;
  let canXattr = false;

  beforeAll(() => {
    mkdirSync(join(src, 'dir'), { recursive: true });
    mkdirSync(join(src, long1.split('/')[0] ?? ''));
    mkdirSync(join(src, long2.split('/')[0] ?? ''));
    const files: Array<[string, string, number]> = [
      ['hello.txt', 'hello\n', 0o644],
      ['suid', '#!/bin/sh\n', 0o4755],
      ['dir/nested.txt', 'nested', 0o600],
      [long1, 'long one', 0o644],
      [long2, 'long two', 0o644],
      [unicode, 'unicode', 0o644],
      ['future.txt', 'far future', 0o644],
    ];
    for (const [name, content, mode] of files) {
      writeFileSync(join(src, name), content);
      chmodSync(join(src, name), mode);
    }
    symlinkSync('hello.txt', join(src, 'link'));
    symlinkSync(longTarget, join(src, 'longlink'));
    linkSync(join(src, 'hello.txt'), join(src, 'hard'));
    execFileSync('mkfifo', ['-m', '0640', join(src, 'fifo')]);
    chmodSync(join(src, 'dir'), 0o750);
    for (const dir of [long1, long2]) chmodSync(join(src, dir.split('/')[0] ?? ''), 0o755);
    canMknod = tryRun('mknod', ['-m', '0600', join(src, 'cdev'), 'c', '1', '3']);
    canXattr = tryRun('python3', [
      '-c',
      "import os,sys; os.setxattr(sys.argv[1], 'user.mime', b'text/plain'); os.setxattr(sys.argv[1], 'user.bin', b'\\x00\\xff\\n')",
      join(src, 'suid'),
    ]);
    for (const [name] of files) touch(join(src, name), '1600000000');
    touch(join(src, 'hello.txt'), '1700000000.123456789');
    touch(join(src, 'future.txt'), '10000000000'); // > 8^11 - 1: base-256 in GNU format, PAX in posix
    for (const name of ['link', 'longlink', 'fifo', ...(canMknod ? ['cdev'] : [])]) touch(join(src, name), '1650000000');
    for (const dir of ['dir', long1.split('/')[0] ?? '', long2.split('/')[0] ?? '']) touch(join(src, dir), '1500000000');
  });
  afterAll(() => scratch.remove());

  type Expected = Pick<TarEntry, 'name' | 'type' | 'typeflag' | 'mode' | 'size' | 'mtimeMs' | 'linkname'>;
  function expected(format: 'gnu' | 'posix' | 'ustar' | 'v7'): Expected[] {
    const reg = format === 'v7' ? '\0' : '0';
    const file = (name: string, size: number, mode = 0o644, mtimeMs = 1_600_000_000_000): Expected =>
      ({ name, type: 'file', typeflag: reg, mode, size, mtimeMs, linkname: '' });
    const dir = (name: string, mode = 0o755): Expected =>
      ({ name, type: 'directory', typeflag: '5', mode, size: 0, mtimeMs: 1_500_000_000_000, linkname: '' });
    const other = (name: string, type: TarEntryType, typeflag: string, linkname: string, mode: number, mtimeMs: number): Expected =>
      ({ name, type, typeflag, mode, size: 0, mtimeMs, linkname });
    const helloMtime = format === 'posix' ? 1_700_000_000_123 + 0.456789 : 1_700_000_000_000;
    const list: Expected[] = [
      file('hello.txt', 6, 0o644, helloMtime),
      file('suid', 10, 0o4755),
      dir('dir/', 0o750),
      file('dir/nested.txt', 6, 0o600),
      other('link', 'symlink', '2', 'hello.txt', 0o777, 1_650_000_000_000),
      other('hard', 'hardlink', '1', 'hello.txt', 0o644, helloMtime),
      file(unicode, 7),
    ];
    if (format !== 'v7') {
      list.push(other('fifo', 'fifo', '6', '', 0o640, 1_650_000_000_000));
      list.push(dir(`${long1.split('/')[0]}/`), file(long1, 8));
    }
    if (format === 'gnu' || format === 'posix') {
      list.push(dir(`${long2.split('/')[0]}/`), file(long2, 8));
      list.push(other('longlink', 'symlink', '2', longTarget, 0o777, 1_650_000_000_000));
      list.push(file('future.txt', 10, 0o644, 10_000_000_000_000));
    }
    return list;
  }
  const members = (list: Expected[]): string[] =>
    list.filter((e) => !e.name.includes('/') || e.name.endsWith('/')).map((e) => e.name.replace(/\/$/, ''));

  it.each(['gnu', 'posix', 'ustar', 'v7'] as const)('--format=%s: every entry exact, data offsets real', async (format) => {
    const want = expected(format);
    const archive = gnuTar(src, join(scratch.dir, `${format}.tar`), [`--format=${format}`, ...owner], members(want));
    const source = seekable(archive);
    const entries = await collect(source);
    const named = format === 'v7' ? { uname: '', gname: '' } : { uname: 'alice', gname: 'staff' };
    expect(entries.map(meta)).toEqual(
      want.map((e) => ({ ...e, uid: 1234, gid: 5678, ...named, devmajor: 0, devminor: 0, xattrs: {} })),
    );
    for (const entry of entries) {
      expect(entry.dataOffset % BLOCK).toBe(0);
      expect(entry.headerOffset).toBeLessThan(entry.dataOffset);
      if (entry.type === 'file') {
        const onDisk = readFileSync(join(src, entry.name));
        expect(await source.read(entry.dataOffset, entry.size)).toEqual(onDisk);
      }
    }
    // A decompressed source of unknown length yields exactly the same.
    expect(await collect(stream(archive))).toEqual(entries);
  });

  it.each(['gnu', 'posix'] as const)('--format=%s: long names point headerOffset at the first extension header', async (format) => {
    const archive = gnuTar(src, join(scratch.dir, `long-${format}.tar`), [`--format=${format}`], [long2, 'longlink']);
    const entries = await collect(seekable(archive));
    const file = entries.find((e) => e.name === long2);
    const link = entries.find((e) => e.name === 'longlink');
    expect(file?.linkname).toBe('');
    expect(link?.linkname).toBe(longTarget);
    for (const entry of [file, link]) {
      if (entry === undefined) throw new Error('missing entry');
      // The extension header: a real header block, but not the entry's own (which sits just before the data).
      const first = archive.subarray(entry.headerOffset, entry.headerOffset + BLOCK);
      expect(['L', 'K', 'x']).toContain(String.fromCharCode(first[156] ?? 0));
      expect(entry.dataOffset - entry.headerOffset).toBeGreaterThanOrEqual(3 * BLOCK);
    }
  });

  it.each(['gnu', 'posix'] as const)('--format=%s: uid/gid 3000000/4000000 (base-256 or PAX)', async (format) => {
    const archive = gnuTar(src, join(scratch.dir, `big-${format}.tar`), [`--format=${format}`, '--owner=big:3000000', '--group=grp:4000000'], ['hello.txt']);
    const [entry] = await collect(seekable(archive));
    expect(entry).toMatchObject({ name: 'hello.txt', uid: 3_000_000, gid: 4_000_000, uname: 'big', gname: 'grp' });
  });

  it.for(['gnu', 'posix', 'ustar'] as const)('--format=%s: character device', async (format, ctx) => {
    ctx.skip(!canMknod, 'mknod needs root (CAP_MKNOD)');
    const archive = gnuTar(src, join(scratch.dir, `dev-${format}.tar`), [`--format=${format}`, '--numeric-owner'], ['cdev']);
    const [entry] = await collect(seekable(archive));
    expect(entry).toMatchObject({ name: 'cdev', type: 'character-device', typeflag: '3', mode: 0o600, size: 0, devmajor: 1, devminor: 3 });
  });

  it('--format=posix --xattrs: xattr values as exact bytes', async (ctx) => {
    ctx.skip(!canXattr, 'setting user xattrs needs python3 and a filesystem that supports them');
    const archive = gnuTar(src, join(scratch.dir, 'xattr.tar'), ['--format=posix', '--xattrs'], ['suid']);
    const [entry] = await collect(seekable(archive));
    expect(entry?.xattrs).toEqual({ 'user.mime': Buffer.from('text/plain'), 'user.bin': Buffer.from([0, 0xff, 0x0a]) });
    expect(entry?.mode).toBe(0o4755);
  });

  it('reads only headers of a seekable archive holding one 10 MB file', async () => {
    writeFileSync(join(scratch.dir, 'big.bin'), Buffer.alloc(10 * 1024 * 1024, 7));
    const archive = gnuTar(scratch.dir, 'big.tar', ['--format=gnu'], ['big.bin', 'src/hello.txt']);
    const source = seekable(archive);
    const entries = await collect(source);
    expect(entries.map((e) => e.name)).toEqual(['big.bin', 'src/hello.txt']);
    expect(source.bytesRead).toBeLessThan(3 * WINDOW_SIZE);
    expect(source.bytesRead * 50).toBeLessThan(archive.length);
    expect(source.largestRequest).toBeLessThanOrEqual(WINDOW_SIZE);

    // A stream is read forward only, in window-sized requests: skipping the file allocates nothing big.
    const streamed = stream(archive);
    expect(await collect(streamed)).toEqual(entries);
    expect(streamed.largestRequest).toBeLessThanOrEqual(WINDOW_SIZE);
    const offsets = streamed.reads.map((r) => r.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  });
});

describe('walkTar reads', () => {
  it('serves many small headers from a few window reads', async () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 2000; i++) parts.push(member({ name: `f${i}` }, 'x'.repeat(100)));
    const archive = Buffer.concat([...parts, END]);
    const source = seekable(archive);
    const entries = await collect(source);
    expect(entries).toHaveLength(2000);
    expect(entries[1999]).toMatchObject({ name: 'f1999', headerOffset: 1999 * 1024, dataOffset: 1999 * 1024 + 512, size: 100 });
    expect(source.reads.length).toBeLessThanOrEqual(Math.ceil(archive.length / WINDOW_SIZE) + 1);
  });

  it('shrinks the window on a seekable source when every header is followed by more data than it holds', async () => {
    const data = Buffer.alloc(200 * 1024, 1);
    const parts: Buffer[] = [];
    for (let i = 0; i < 100; i++) parts.push(member({ name: `bin${i}` }, data));
    const archive = Buffer.concat([...parts, END]);
    const source = seekable(archive);
    expect(await collect(source)).toHaveLength(100);
    expect(source.bytesRead).toBeLessThan(archive.length / 20);
    expect(source.reads.length).toBe(101);
  });
});

describe('walkTar extension headers', () => {
  it('steps over a global PAX header, which applies to no entry', async () => {
    const archive = Buffer.concat([
      paxMember([['uname', 'global'], ['comment', 'git sha'], ['SCHILY.xattr.user.g', 'G']], 'g'),
      member({ name: 'a', uname: 'header' }, 'A'),
      paxMember([['uname', 'local'], ['mtime', '1.25']]),
      member({ name: 'b' }, 'B'),
      member({ name: 'c' }, 'C'),
      END,
    ]);
    const entries = await collect(seekable(archive));
    expect(entries.map((e) => [e.name, e.uname, e.mtimeMs, e.xattrs])).toEqual([
      ['a', 'header', 1_700_000_000_000, {}],
      ['b', 'local', 1250, {}],
      ['c', '', 1_700_000_000_000, {}],
    ]);
    expect(entries.map((e) => [e.headerOffset, e.dataOffset])).toEqual([
      [1024, 1536],
      [2048, 3584],
      [4096, 4608],
    ]);
  });

  it('applies GNU L and K to the next entry only, PAX path winning over L', async () => {
    const longName = `${'n'.repeat(200)}/file`;
    const longLink = `${'l'.repeat(300)}`;
    const archive = Buffer.concat([
      member({ name: '././@LongLink', typeflag: 'L', magic: 'gnu' }, `${longName}\0`),
      member({ name: '././@LongLink', typeflag: 'K', magic: 'gnu' }, `${longLink}\0`),
      member({ name: 'short', typeflag: '2', linkname: 'shortlink', magic: 'gnu' }),
      member({ name: 'plain', magic: 'gnu' }, 'data'),
      member({ name: '././@LongLink', typeflag: 'L', magic: 'gnu' }, 'from-L\0'),
      paxMember([['path', 'from-pax']]),
      member({ name: 'header-name' }),
      END,
    ]);
    const entries = await collect(seekable(archive));
    expect(entries.map((e) => [e.name, e.linkname, e.type, e.headerOffset, e.dataOffset])).toEqual([
      [longName, longLink, 'symlink', 0, 2560],
      ['plain', '', 'file', 2560, 3072],
      ['from-pax', '', 'file', 3584, 6144],
    ]);
  });

  it('applies only the last of several local PAX headers before one entry', async () => {
    const archive = Buffer.concat([paxMember([['path', 'one'], ['uid', '7']]), paxMember([['path', 'two']]), member({ name: 'x' }), END]);
    expect(await collect(seekable(archive))).toMatchObject([{ name: 'two', uid: 0, headerOffset: 0, dataOffset: 2560 }]);
  });

  it('skips data by the PAX size when the header field cannot hold it', async () => {
    const data = Buffer.alloc(1000, 1);
    const archive = Buffer.concat([paxMember([['size', '1000']]), rawHeader({ name: 'big', size: 0 }), padded(data), member({ name: 'next' }), END]);
    const entries = await collect(seekable(archive));
    expect(entries.map((e) => [e.name, e.size, e.dataOffset])).toEqual([
      ['big', 1000, 1536],
      ['next', 0, 3072],
    ]);
  });

  it('reads a GNU PAX 1.0 sparse map from the data and starts the data after it', async () => {
    const map = Buffer.from('2\n0\n3\n9000\n4\n');
    const archive = Buffer.concat([
      paxMember([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', 'real.img'], ['GNU.sparse.realsize', '9999']]),
      member({ name: 'GNUSparseFile.0/real.img', size: 512 + 7 }),
      padded(map),
      padded(Buffer.from('abcdefg')),
      member({ name: 'after' }),
      END,
    ]);
    const entries = await collect(seekable(archive));
    expect(entries.map((e) => [e.name, e.type, e.typeflag, e.size, e.dataOffset, e.sparse])).toEqual([
      ['real.img', 'file', '0', 7, 2048, { realSize: 9999, regions: [0, 3, 9000, 4] }],
      ['after', 'file', '0', 0, 3072, undefined],
    ]);
  });
});

describe('walkTar types', () => {
  it('maps typeflags; links, devices, dirs and fifos have no data whatever size says', async () => {
    const archive = Buffer.concat([
      member({ name: 'reg', typeflag: '0' }, 'r'),
      member({ name: 'old', typeflag: '\0', magic: 'v7' }, 'o'),
      member({ name: 'olddir/', typeflag: '\0', magic: 'v7' }),
      member({ name: 'contig', typeflag: '7' }, 'c'),
      rawHeader({ name: 'hard', typeflag: '1', linkname: 'reg', size: 100 }),
      rawHeader({ name: 'sym', typeflag: '2', linkname: 'reg', size: 100 }),
      rawHeader({ name: 'chr', typeflag: '3', devmajor: 1, devminor: 3, size: 100 }),
      rawHeader({ name: 'blk', typeflag: '4', devmajor: 8, devminor: 0, size: 100 }),
      rawHeader({ name: 'dir/', typeflag: '5', size: 100 }),
      rawHeader({ name: 'fifo', typeflag: '6', size: 100 }),
      member({ name: 'vol', typeflag: 'V' }, 'label data'),
      member({ name: 'last' }, 'L'),
      END,
    ]);
    const entries = await collect(seekable(archive));
    expect(entries.map((e) => [e.name, e.type, e.typeflag, e.size])).toEqual([
      ['reg', 'file', '0', 1],
      ['old', 'file', '\0', 1],
      ['olddir/', 'directory', '\0', 0],
      ['contig', 'file', '7', 1],
      ['hard', 'hardlink', '1', 0],
      ['sym', 'symlink', '2', 0],
      ['chr', 'character-device', '3', 0],
      ['blk', 'block-device', '4', 0],
      ['dir/', 'directory', '5', 0],
      ['fifo', 'fifo', '6', 0],
      ['vol', 'unsupported', 'V', 10],
      ['last', 'file', '0', 1],
    ]);
    expect(entries.find((e) => e.name === 'blk')).toMatchObject({ devmajor: 8, devminor: 0 });
  });

  it('reads a GNU old-sparse map across extension blocks; the data follows the last block', async () => {
    const header = rawHeader({ name: 'sparse', typeflag: 'S', magic: 'gnu', size: 600 });
    const entry = (block: Buffer, at: number, offset: number, length: number): void => {
      block.write(offset.toString(8).padStart(11, '0'), at, 'latin1');
      block.write(length.toString(8).padStart(11, '0'), at + 12, 'latin1');
    };
    for (let i = 0; i < 4; i++) entry(header, 386 + 24 * i, i * 1000, 100);
    header[482] = 1;
    header.write((1_000_000).toString(8).padStart(11, '0'), 483, 'latin1');
    const ext1 = Buffer.alloc(BLOCK);
    ext1[504] = 1;
    const ext2 = Buffer.alloc(BLOCK, 0);
    entry(ext2, 0, 999_800, 200);
    const archive = Buffer.concat([withChecksum(header), ext1, ext2, padded(Buffer.alloc(600, 9)), member({ name: 'after' }, 'a'), END]);
    const entries = await collect(seekable(archive));
    expect(entries.map((e) => [e.name, e.type, e.size, e.dataOffset, e.sparse])).toEqual([
      ['sparse', 'file', 600, 1536, { realSize: 1_000_000, regions: [0, 100, 1000, 100, 2000, 100, 3000, 100, 999_800, 200] }],
      ['after', 'file', 1, 3072, undefined],
    ]);
  });

  it('reads a negative base-256 mtime (before 1970)', async () => {
    const archive = Buffer.concat([member({ name: 'old', magic: 'gnu', mtime: base256(-86_400, 12) }), END]);
    expect((await collect(seekable(archive)))[0]?.mtimeMs).toBe(-86_400_000);
  });
});

describe('walkTar end of archive', () => {
  const one = member({ name: 'one' }, 'data');

  it.each([
    ['two zero blocks', Buffer.concat([one, END])],
    ['a single zero block at the end', Buffer.concat([one, Buffer.alloc(BLOCK)])],
    ['no zero blocks at all', one],
    ['zero blocks then a partial record of zeros', Buffer.concat([one, Buffer.alloc(BLOCK), Buffer.alloc(100)])],
  ])('ends at %s', async (_label, archive) => {
    for (const source of [seekable(archive), stream(archive)]) {
      expect((await collect(source)).map((e) => e.name)).toEqual(['one']);
    }
  });

  it('stops at two zero blocks without reading what follows', async () => {
    const archive = Buffer.concat([one, END, Buffer.alloc(BLOCK, 0x5a)]);
    expect((await collect(seekable(archive))).map((e) => e.name)).toEqual(['one']);
  });

  it('reads on past a lone zero block, as GNU tar does', async () => {
    const archive = Buffer.concat([one, Buffer.alloc(BLOCK), member({ name: 'two' }), END]);
    expect((await collect(seekable(archive))).map((e) => e.name)).toEqual(['one', 'two']);
  });

  it('yields nothing for an empty source', async () => {
    expect(await collect(seekable(Buffer.alloc(0)))).toEqual([]);
  });
});

describe('walkTar damage', () => {
  const one = member({ name: 'one' }, 'data');

  it('reports a header cut short as ETRUNCATED with its offset', async () => {
    const archive = Buffer.concat([one, member({ name: 'two' }, 'x')]).subarray(0, 1024 + 300);
    for (const source of [seekable(archive), stream(archive)]) {
      const { entries, error } = await walkFailure(source);
      expect(entries.map((e) => e.name)).toEqual(['one']);
      expect(error.code).toBe('ETRUNCATED');
      expect(error.reason).toMatch(/^tar truncated at offset 1324/);
      expect(error.offset).toBe(1324);
      expect(error.archive).toBe('memory.tar');
    }
  });

  it('reports data running past a known end before yielding the entry', async () => {
    const archive = Buffer.concat([one, member({ name: 'big' }, Buffer.alloc(5000))]).subarray(0, 1024 + 512 + 3000);
    const { entries, error } = await walkFailure(seekable(archive));
    expect(entries.map((e) => e.name)).toEqual(['one']);
    expect(error.code).toBe('ETRUNCATED');
    expect(error.offset).toBe(archive.length);
    expect(error.reason).toMatch(/^tar truncated at offset 4536: data of 'big'/);
  });

  it('finds data cut short on a stream of unknown length, by the window or by a probe at the end', async () => {
    for (const size of [5000, 3 * WINDOW_SIZE]) {
      const archive = Buffer.concat([one, member({ name: 'big' }, Buffer.alloc(size))]).subarray(0, 1024 + 512 + size - 1);
      const { error } = await walkFailure(stream(archive));
      expect(error.code).toBe('ETRUNCATED');
      expect(error.reason).toMatch(/data of 'big'/);
    }
  });

  it('accepts an archive whose last data block lacks padding only when the data is whole', async () => {
    const archive = Buffer.concat([one, member({ name: 'big' }, Buffer.alloc(3 * WINDOW_SIZE + 10))]).subarray(0, 1024 + 512 + 3 * WINDOW_SIZE + 10);
    expect((await collect(stream(archive))).map((e) => e.name)).toEqual(['one', 'big']);
  });

  it('reports an extension header with no entry after it', async () => {
    const archive = paxMember([['path', 'x']]);
    const { error } = await walkFailure(seekable(archive));
    expect(error.code).toBe('ETRUNCATED');
    const zero = await walkFailure(seekable(Buffer.concat([archive, END])));
    expect(zero.error.code).toBe('ETARCORRUPT');
    expect(zero.error.offset).toBe(0);
  });

  it('reports PAX data cut short as ETRUNCATED', async () => {
    const archive = paxMember([['path', 'x'.repeat(600)]]).subarray(0, 700);
    expect((await walkFailure(seekable(archive))).error).toMatchObject({ code: 'ETRUNCATED', offset: 700 });
  });

  it('reports a bad checksum as ETARCORRUPT at that header', async () => {
    const bad = member({ name: 'two' }, 'x');
    bad[0] = 0x79;
    const { entries, error } = await walkFailure(seekable(Buffer.concat([one, bad, END])));
    expect(entries.map((e) => e.name)).toEqual(['one']);
    expect(error).toMatchObject({ code: 'ETARCORRUPT', reason: 'header checksum mismatch', offset: 1024 });
  });

  it('reports an absurd PAX record length as ETARCORRUPT inside the extended header', async () => {
    const records = Buffer.concat([paxData([['uid', '1']]), Buffer.from('99999999999 path=x\n')]);
    const archive = Buffer.concat([one, member({ name: 'PaxHeaders/x', typeflag: 'x' }, records), member({ name: 'x' }), END]);
    const { error } = await walkFailure(seekable(archive));
    expect(error.code).toBe('ETARCORRUPT');
    expect(error.offset).toBe(1024 + 512 + paxData([['uid', '1']]).length);
  });

  it('reports a bad PAX number at the offset of the entry’s first header', async () => {
    const archive = Buffer.concat([one, paxMember([['size', '12x']]), member({ name: 'x' }), END]);
    expect((await walkFailure(seekable(archive))).error).toMatchObject({ code: 'ETARCORRUPT', offset: 1024 });
  });
});

describe('walkTar limits and cancellation', () => {
  it('refuses a PAX header larger than maxPaxSize with ELIMIT naming the option', async () => {
    const archive = Buffer.concat([paxMember([['comment', 'c'.repeat(5000)]]), member({ name: 'x' }), END]);
    const { error } = await walkFailure(seekable(archive), { maxPaxSize: 4096 });
    expect(error.code).toBe('ELIMIT');
    expect(error.offset).toBe(0);
    expect(error.reason).toMatch(/maxPaxSize \(4096\)/);
    expect(await collect(seekable(archive), { maxPaxSize: 8192 })).toHaveLength(1);
  });

  it('reads a PAX header larger than one window in pieces', async () => {
    const xattr = Buffer.alloc(3 * WINDOW_SIZE, 0xab);
    const archive = Buffer.concat([paxMember([['SCHILY.xattr.user.big', xattr]]), member({ name: 'x' }, 'z'), END]);
    const source = stream(archive);
    const [entry] = await collect(source);
    expect(entry?.xattrs['user.big']?.equals(xattr)).toBe(true); // toEqual walks 192 KiB byte by byte
    expect(source.largestRequest).toBeLessThanOrEqual(WINDOW_SIZE);
  });

  it('refuses names longer than maxNameLength (GNU L and PAX path)', async () => {
    const viaL = Buffer.concat([member({ name: '././@LongLink', typeflag: 'L', magic: 'gnu' }, `${'a'.repeat(300)}\0`), member({ name: 'x' }), END]);
    const viaPax = Buffer.concat([paxMember([['linkpath', 'b'.repeat(300)]]), member({ name: 'x', typeflag: '2' }), END]);
    for (const archive of [viaL, viaPax]) {
      const { error } = await walkFailure(seekable(archive), { maxNameLength: 256 });
      expect(error.code).toBe('ELIMIT');
      expect(error.reason).toMatch(/maxNameLength \(256\)/);
      expect(await collect(seekable(archive))).toHaveLength(1);
    }
  });

  it('throws the abort reason between headers', async () => {
    const archive = Buffer.concat([member({ name: 'a' }), member({ name: 'b' }), END]);
    const controller = new AbortController();
    const seen: string[] = [];
    const reason = new Error('stop');
    await expect(
      (async () => {
        for await (const entry of walkTar(seekable(archive), { signal: controller.signal })) {
          seen.push(entry.name);
          controller.abort(reason);
        }
      })(),
    ).rejects.toBe(reason);
    expect(seen).toEqual(['a']);
    await expect(collect(seekable(archive), { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('walkTarBatches', () => {
  it('hands over the entries before a bad header first, then its error', async () => {
    const garbage = Buffer.alloc(BLOCK, 0x5a);
    const archive = Buffer.concat([member({ name: 'a' }, 'x'), member({ name: 'b' }), member({ name: 'c' }), garbage, END]);
    const names: string[] = [];
    const error = await (async () => {
      for await (const batch of walkTarBatches(seekable(archive))) names.push(...batch.map((entry) => entry.name));
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(names).toEqual(['a', 'b', 'c']);
    expect(error).toMatchObject({ code: 'ETARCORRUPT', offset: 4 * BLOCK });
  });

  it('ends a batch wherever the walk must wait for bytes, so a consumer sees each member before its data is passed', async () => {
    // 3 000 members of 1 KiB: the walk crosses several decoded spans of a gzip stream.
    const members = Array.from({ length: 3000 }, (_, i) => member({ name: `f${i}` }, Buffer.alloc(1024, i % 251)));
    const tar = Buffer.concat([...members, END]);
    const source = new DecompressedSource(new BufferSource(gzipSync(tar), 'layer.tar.gz'), gzipInflater, { cacheBytes: 2 * SPAN_SIZE });
    let count = 0;
    for await (const batch of walkTarBatches(source)) {
      // Every member of a batch lies in the span the walk was in when the batch was handed over.
      const spans = new Set(batch.map((entry) => Math.floor(entry.headerOffset / SPAN_SIZE)));
      expect(spans.size).toBe(1);
      expect(batch.length).toBeGreaterThan(0);
      count += batch.length;
    }
    expect(count).toBe(3000);
    await source.close();
  });
});
