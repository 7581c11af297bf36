/**
 * The test encoder is only useful if a real tar reads what it writes. GNU tar is the referee: it lists
 * (`-tv`) and extracts (`--xattrs -x`) each archive, and we compare names, types, modes, owners, link
 * targets, device numbers, mtimes and bytes with what we asked for.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, lstatSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  blockDevice,
  buildLayer,
  charDevice,
  DEFAULT_MTIME,
  dir,
  fifo,
  file,
  hardlink,
  opaque,
  symlink,
  whiteout,
  type BuildLayerOptions,
  type LayerEntrySpec,
} from './layer-tar.js';

const scratch = mkdtempSync(join(tmpdir(), 'imgfs-layer-tar-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;

function writeLayer(entries: LayerEntrySpec[], options?: BuildLayerOptions): string {
  const path = join(scratch, `layer-${counter++}.tar`);
  writeFileSync(path, buildLayer(entries, options));
  return path;
}

function gnuTar(args: string[]): string {
  return execFileSync('tar', args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8', TZ: 'UTC' } });
}

/** `tar -tf` with names exactly as stored (no leading-slash stripping, no escaping). */
function listNames(tarPath: string): string[] {
  return gnuTar(['--absolute-names', '--quoting-style=literal', '-tf', tarPath])
    .split('\n')
    .filter((line) => line !== '');
}

interface Listed {
  perms: string;
  owner: string;
  size: string;
  date: string;
  rest: string;
}

/** `tar -tv --numeric-owner --full-time`, split into columns. */
function listVerbose(tarPath: string, extra: string[] = []): Listed[] {
  return gnuTar(['--absolute-names', '--quoting-style=literal', '--numeric-owner', '--full-time', ...extra, '-tvf', tarPath])
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const match = /^(\S+) (\S+)\s+(\S+(?:,\s*\S+)?) (\S+ \S+) (.*)$/.exec(line);
      if (match === null) throw new Error(`unparsed tar -tv line: ${line}`);
      return { perms: match[1] ?? '', owner: match[2] ?? '', size: match[3] ?? '', date: match[4] ?? '', rest: match[5] ?? '' };
    });
}

function extract(tarPath: string): string {
  const target = join(scratch, `x-${counter++}`);
  mkdirSync(target);
  gnuTar(['--xattrs', '--xattrs-include=*', '--same-owner', '--same-permissions', '--numeric-owner', '-xf', tarPath, '-C', target]);
  return target;
}

describe('buildLayer', () => {
  it('writes whole 512-byte blocks ending in two zero blocks, with valid checksums', () => {
    const tar = buildLayer([file('a', 'hello'), dir('d/')]);
    expect(tar.length % 512).toBe(0);
    expect(tar.length).toBe(512 + 512 + 512 + 1024);
    expect(tar.subarray(tar.length - 1024).every((byte) => byte === 0)).toBe(true);
    for (const offset of [0, 1024]) {
      const header = tar.subarray(offset, offset + 512);
      const stored = parseInt(header.subarray(148, 154).toString('latin1'), 8);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
      expect(stored).toBe(sum);
    }
    expect(buildLayer([file('a')], { endBlocks: 0 }).length).toBe(512);
  });

  it('keeps raw names verbatim, duplicates and missing parents included', () => {
    const names = ['./a', '/abs', 'a//b/', 'x/y/z/deep', './a', 'dup', 'dup', '.', './', 'ü/naïve-日本.txt', '../up'];
    const path = writeLayer(names.map((name) => file(name, name)));
    expect(listNames(path)).toEqual(names);
  });

  it('encodes every entry kind with its type, mode, owners, size, date and link target', () => {
    const path = writeLayer([
      dir('etc/', { mode: 0o755, uid: 0, gid: 0 }),
      file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n', { mode: 0o644, uid: 101, gid: 102, mtime: 1_600_000_000 }),
      file('bin/su', 'ELF', { mode: 0o4755 }),
      dir('tmp', { mode: 0o1777 }),
      file('sgid', '', { mode: 0o2755 }),
      symlink('rel', '../etc/passwd'),
      symlink('abs', '/etc/passwd'),
      hardlink('etc/passwd-hl', 'etc/passwd'),
      fifo('run/fifo', { mode: 0o600 }),
      charDevice('dev/null', 1, 3, { mode: 0o666 }),
      blockDevice('dev/sda', 8, 0, { mode: 0o660, gid: 6 }),
      whiteout('etc/gone'),
      opaque('var/lib'),
      opaque(''),
    ]);
    const listed = listVerbose(path);
    expect(listed.map((entry) => [entry.perms, entry.owner, entry.rest])).toEqual([
      ['drwxr-xr-x', '0/0', 'etc/'],
      ['-rw-r--r--', '101/102', 'etc/passwd'],
      ['-rwsr-xr-x', '0/0', 'bin/su'],
      ['drwxrwxrwt', '0/0', 'tmp'],
      ['-rwxr-sr-x', '0/0', 'sgid'],
      ['lrwxrwxrwx', '0/0', 'rel -> ../etc/passwd'],
      ['lrwxrwxrwx', '0/0', 'abs -> /etc/passwd'],
      ['hrw-r--r--', '0/0', 'etc/passwd-hl link to etc/passwd'],
      ['prw-------', '0/0', 'run/fifo'],
      ['crw-rw-rw-', '0/0', 'dev/null'],
      ['brw-rw----', '0/6', 'dev/sda'],
      ['-rw-r--r--', '0/0', 'etc/.wh.gone'],
      ['-rw-r--r--', '0/0', 'var/lib/.wh..wh..opq'],
      ['-rw-r--r--', '0/0', '.wh..wh..opq'],
    ]);
    expect(listed[1]?.size).toBe('26');
    expect(listed[1]?.date).toBe('2020-09-13 12:26:40');
    expect(listed[0]?.date).toBe(new Date(DEFAULT_MTIME * 1000).toISOString().replace('T', ' ').slice(0, 19));
    expect(listed[9]?.size.replace(/\s/g, '')).toBe('1,3');
    expect(listed[10]?.size.replace(/\s/g, '')).toBe('8,0');
  });

  it('writes uname and gname, and names longer than 32 bytes through PAX', () => {
    const longOwner = 'a-very-long-user-name-that-exceeds-32';
    const path = writeLayer([
      file('a', '', { uid: 101, gid: 101, uname: 'nginx', gname: 'www-data' }),
      file('b', '', { uid: 7, uname: longOwner, gname: 'g' }),
    ]);
    const listed = gnuTar(['--full-time', '-tvf', path]).split('\n');
    expect(listed[0]).toMatch(/^-rw-r--r-- nginx\/www-data /);
    expect(listed[1]).toMatch(new RegExp(`^-rw-r--r-- ${longOwner}/g `));
  });

  it.each<[string, BuildLayerOptions]>([
    ['pax', { longNames: 'pax' }],
    ['gnu', { longNames: 'gnu' }],
    ['ustar', { longNames: 'ustar' }],
  ])('writes names and link targets longer than 100 bytes (%s)', (_label, options) => {
    const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
    const longName = `${longDir}/${'f'.repeat(90)}`;
    const longTarget = `/${'t'.repeat(50)}/${'u'.repeat(70)}`;
    const entries: LayerEntrySpec[] = [file(longName, 'long content'), dir(`${longDir}/`)];
    // A ustar header has no room for a long link target; only PAX and GNU can write one.
    if (options.longNames !== 'ustar') entries.push(symlink(`${longDir}/s`, longTarget), hardlink(`${longDir}/h`, longName));
    const path = writeLayer(entries, options);
    const names = listNames(path);
    expect(names.slice(0, 2)).toEqual([longName, `${longDir}/`]);
    if (options.longNames !== 'ustar') {
      const listed = listVerbose(path);
      expect(listed[2]?.rest).toBe(`${longDir}/s -> ${longTarget}`);
      expect(listed[3]?.rest).toBe(`${longDir}/h link to ${longName}`);
    }
    const out = extract(path);
    expect(readFileSync(join(out, longName), 'utf8')).toBe('long content');
    if (options.longNames !== 'ustar') {
      expect(readlinkSync(join(out, longDir, 's'))).toBe(longTarget);
      expect(lstatSync(join(out, longDir, 'h')).ino).toBe(lstatSync(join(out, longName)).ino);
    }
    if (options.longNames === 'gnu') {
      const tar = buildLayer(entries, options);
      expect(tar.subarray(0, 13).toString('latin1')).toBe('././@LongLink');
      expect(tar[156]).toBe('L'.charCodeAt(0));
      expect(tar.subarray(257, 265).toString('latin1')).toBe('ustar  \0');
    }
    if (options.longNames === 'pax') expect(buildLayer(entries, options)[156]).toBe('x'.charCodeAt(0));
  });

  it('throws for a ustar name that has no prefix split', () => {
    expect(() => buildLayer([file('x'.repeat(120))], { longNames: 'ustar' })).toThrow(/ustar prefix/);
  });

  it.each<[string, BuildLayerOptions]>([
    ['base-256', { bigNumbers: 'base256' }],
    ['pax', { bigNumbers: 'pax' }],
  ])('writes numbers too big for octal fields (%s)', (label, options) => {
    const path = writeLayer(
      [
        file('big-ids', 'x', { uid: 3_000_000, gid: 70_000_000 }),
        file('old', '', { mtime: -86_400 }),
        file('future', '', { mtime: 10_000_000_000 }),
      ],
      options,
    );
    const listed = listVerbose(path);
    expect(listed[0]?.owner).toBe('3000000/70000000');
    if (label === 'base-256') {
      const tar = buildLayer([file('big', '', { uid: 3_000_000 })], options);
      expect(tar[108]).toBe(0x80);
      expect(listed[1]?.date).toBe('1969-12-31 00:00:00');
    }
    expect(listed[2]?.date).toBe('2286-11-20 17:46:40');
  });

  it('writes fractional mtimes as PAX records that tar applies with sub-second precision', () => {
    const path = writeLayer([
      file('frac', 'a', { mtime: 1_700_000_000.25 }),
      file('nanos', 'b', { mtime: '1700000000.123456789' }),
      file('whole', 'c', { mtime: 1_700_000_000 }),
    ]);
    const tar = buildLayer([file('whole', 'c', { mtime: 1_700_000_000 })]);
    expect(tar[156]).toBe('0'.charCodeAt(0));
    const out = extract(path);
    expect(lstatSync(join(out, 'frac')).mtimeMs).toBe(1_700_000_000_250);
    expect(lstatSync(join(out, 'nanos'), { bigint: true }).mtimeNs).toBe(1_700_000_000_123_456_789n);
    expect(lstatSync(join(out, 'whole')).mtimeMs).toBe(1_700_000_000_000);
  });

  it('extracts with the modes, owners, link targets, hard links, devices and bytes asked for', () => {
    const binary = Buffer.from(Array.from({ length: 1500 }, (_, i) => (i * 7) % 256));
    const path = writeLayer([
      dir('etc', { mode: 0o750, uid: 5, gid: 6 }),
      file('etc/data.bin', binary, { mode: 0o640, uid: 101, gid: 101 }),
      hardlink('etc/data-hl', 'etc/data.bin'),
      symlink('etc/link', '../etc/data.bin', { uid: 7, gid: 8 }),
      file('sbin/suid', '#!/bin/sh\n', { mode: 0o4755 }),
      dir('tmp', { mode: 0o1777 }),
      charDevice('dev/null', 1, 3, { mode: 0o666 }),
      blockDevice('dev/loop9', 7, 9, { mode: 0o660 }),
      fifo('fifo', { mode: 0o600 }),
      file('ü/naïve.txt', 'unicode'),
    ]);
    const out = extract(path);
    const etc = lstatSync(join(out, 'etc'));
    expect([etc.mode & 0o7777, etc.uid, etc.gid, etc.isDirectory()]).toEqual([0o750, 5, 6, true]);
    const data = lstatSync(join(out, 'etc/data.bin'));
    expect([data.mode & 0o7777, data.uid, data.gid, data.size, data.nlink]).toEqual([0o640, 101, 101, 1500, 2]);
    expect(readFileSync(join(out, 'etc/data.bin')).equals(binary)).toBe(true);
    expect(lstatSync(join(out, 'etc/data-hl')).ino).toBe(data.ino);
    const link = lstatSync(join(out, 'etc/link'));
    expect([link.isSymbolicLink(), link.uid, link.gid]).toEqual([true, 7, 8]);
    expect(readlinkSync(join(out, 'etc/link'))).toBe('../etc/data.bin');
    expect(lstatSync(join(out, 'sbin/suid')).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(out, 'tmp')).mode & 0o7777).toBe(0o1777);
    const nul = lstatSync(join(out, 'dev/null'));
    expect([nul.isCharacterDevice(), nul.rdev, nul.mode & 0o7777]).toEqual([true, (1 << 8) | 3, 0o666]);
    const loop = lstatSync(join(out, 'dev/loop9'));
    expect([loop.isBlockDevice(), loop.rdev]).toEqual([true, (7 << 8) | 9]);
    expect(lstatSync(join(out, 'fifo')).isFIFO()).toBe(true);
    expect(readFileSync(join(out, 'ü/naïve.txt'), 'utf8')).toBe('unicode');
  });

  it('writes xattrs as PAX SCHILY.xattr records that tar restores', () => {
    const path = writeLayer([
      file('with-xattrs', 'x', { xattrs: { 'user.comment': 'hello', 'user.bin': Buffer.from([0, 1, 2, 255]) } }),
      file('plain', 'y'),
    ]);
    const tar = buildLayer([file('with-xattrs', 'x', { xattrs: { 'user.comment': 'hello' } })]);
    expect(tar[156]).toBe('x'.charCodeAt(0));
    expect(tar.subarray(512, 1024).toString('latin1')).toContain('35 SCHILY.xattr.user.comment=hello\n');
    // `tar -tvv --xattrs` prints each xattr of an entry on its own `  x: SIZE NAME` line.
    const listing = gnuTar(['--xattrs', '--xattrs-include=*', '-tvvf', path]);
    expect(listing).toMatch(/x:\s+5 user\.comment/);
    expect(listing).toMatch(/x:\s+4 user\.bin/);
    extract(path);
  });

  it('writes a PAX global header that tar applies to later entries', () => {
    const path = writeLayer([{ type: 'pax-global', records: { comment: 'made by a test' } }, file('a', 'x')]);
    expect(listNames(path)).toEqual(['a']);
  });

  it('computes PAX record lengths that count their own digits', () => {
    // A record whose length crosses from 2 to 3 digits at exactly the boundary.
    for (let size = 85; size < 110; size++) {
      const value = 'v'.repeat(size);
      const tar = buildLayer([file('a', '', { pax: { comment: value } })]);
      const text = tar.subarray(512, 1024).toString('latin1').replace(/\0+$/, '');
      const [length] = text.split(' ');
      expect(Number(length)).toBe(Buffer.byteLength(text));
    }
  });
});
