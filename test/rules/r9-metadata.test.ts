/**
 * R9 metadata: type, permission bits (including setuid, setgid, sticky), numeric uid and gid, user and
 * group names from the tar header, size, mtime with PAX sub-seconds, xattrs from PAX
 * `SCHILY.xattr.*`, device numbers, link target: all from the visible entry (for a hard link, from its
 * target).
 */
import { constants } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { blockDevice, charDevice, dir, fifo, file, hardlink, symlink, type BuildLayerOptions } from '../helpers/layer-tar.js';
import { openLayers } from '../helpers/open-layers.js';

describe('R9 metadata', () => {
  it.each<[string, 'file' | 'dir', number]>([
    ['/setuid', 'file', 0o4755],
    ['/setgid', 'file', 0o2755],
    ['/sticky-dir', 'dir', 0o1777],
    ['/setgid-dir', 'dir', 0o2775],
    ['/all-bits', 'file', 0o7777],
    ['/no-bits', 'file', 0o000],
    ['/odd', 'file', 0o4501],
  ])('%s keeps its permission bits exactly', async (path, type, perm) => {
    const { fs } = await openLayers([
      [
        file('setuid', 'x', { mode: 0o4755 }),
        file('setgid', 'x', { mode: 0o2755 }),
        dir('sticky-dir/', { mode: 0o1777 }),
        dir('setgid-dir/', { mode: 0o2775 }),
        file('all-bits', 'x', { mode: 0o7777 }),
        file('no-bits', 'x', { mode: 0o000 }),
        file('odd', 'x', { mode: 0o4501 }),
      ],
    ]);
    const stats = await fs.lstat(path);
    expect(stats.mode & 0o7777).toBe(perm);
    expect(stats.mode & constants.S_IFMT).toBe(type === 'dir' ? constants.S_IFDIR : constants.S_IFREG);
    expect(stats.mode).toBe((type === 'dir' ? constants.S_IFDIR : constants.S_IFREG) | perm);
  });

  it('shows every symlink as 0777, whatever its header says (as lstat on Linux, Docker and umoci)', async () => {
    const { fs } = await openLayers([[file('f', 'x'), symlink('s644', 'f', { mode: 0o644 }), symlink('s0', 'f', { mode: 0 }), symlink('s4755', 'f', { mode: 0o4755 })]]);
    for (const path of ['/s644', '/s0', '/s4755']) {
      expect((await fs.lstat(path)).mode).toBe(constants.S_IFLNK | 0o777);
      expect((await fs.stat(path)).mode).toBe(constants.S_IFREG | 0o644);
    }
    const dirents = await fs.readdir('/', { withFileTypes: true });
    expect(dirents.filter((d) => d.isSymbolicLink()).map((d) => d.name)).toEqual(['s0', 's4755', 's644']);
  });

  it('ignores type bits a writer put in the header mode field', async () => {
    // Some writers (old Docker, Go's archive/tar FileInfoHeader) store c_ISREG etc. in the mode field.
    const { fs } = await openLayers([[file('f', 'x', { mode: 0o100644 }), dir('d/', { mode: 0o040755 })]]);
    expect((await fs.lstat('/f')).mode).toBe(constants.S_IFREG | 0o644);
    expect((await fs.lstat('/d')).mode).toBe(constants.S_IFDIR | 0o755);
  });

  it.each<[string, BuildLayerOptions]>([
    ['octal', {}],
    ['base-256', { bigNumbers: 'base256' }],
    ['PAX', { bigNumbers: 'pax' }],
  ])('numeric uid and gid (%s)', async (label, build) => {
    const big = label !== 'octal';
    const uid = big ? 3_000_000 : 101;
    const gid = big ? 70_000_000 : 2_097_151; // 2097151 = 0o7777777, the largest octal value
    const { fs } = await openLayers([[file('f', 'x', { uid, gid }), dir('d/', { uid, gid }), symlink('s', 'f', { uid, gid })]], { build });
    for (const path of ['/f', '/d', '/s']) {
      const stats = await fs.lstat(path);
      expect([stats.uid, stats.gid]).toEqual([uid, gid]);
    }
  });

  it('user and group names from the header, and from PAX when long', async () => {
    const long = 'a-user-name-longer-than-thirty-two-bytes';
    const { fs } = await openLayers([
      [
        file('named', 'x', { uid: 101, gid: 102, uname: 'nginx', gname: 'www-data' }),
        file('unnamed', 'x', { uid: 5, gid: 6 }),
        file('long', 'x', { uname: long, gname: 'g' }),
        file('exact32', 'x', { uname: 'u'.repeat(32), gname: 'g'.repeat(32) }),
        file('pax-override', 'x', { uname: 'header', pax: { uname: 'from-pax', gname: 'pax-group' } }),
        file('unicode', 'x', { uname: 'jürgen', gname: 'ärzte' }),
      ],
    ]);
    const names = async (path: string): Promise<[string, string]> => {
      const stats = await fs.lstat(path);
      return [stats.uname, stats.gname];
    };
    expect(await names('/named')).toEqual(['nginx', 'www-data']);
    expect(await names('/unnamed')).toEqual(['', '']);
    expect(await names('/long')).toEqual([long, 'g']);
    expect(await names('/exact32')).toEqual(['u'.repeat(32), 'g'.repeat(32)]);
    expect(await names('/pax-override')).toEqual(['from-pax', 'pax-group']);
    expect(await names('/unicode')).toEqual(['jürgen', 'ärzte']);
  });

  it('size of files, empty files, and 0 for directories, symlinks, devices and fifos', async () => {
    const content = Buffer.alloc(70_000, 7);
    const { fs } = await openLayers([[file('big', content), file('empty', ''), file('one-block', Buffer.alloc(512, 1)), dir('d/'), symlink('s', 'big'), fifo('p'), charDevice('c', 1, 3)]]);
    const sizes = await Promise.all(['/big', '/empty', '/one-block', '/d', '/p', '/c'].map(async (path) => (await fs.lstat(path)).size));
    expect(sizes).toEqual([70_000, 0, 512, 0, 0, 0]);
    expect((await fs.readFile('/big')).equals(content)).toBe(true);
    expect((await fs.readFile('/empty')).length).toBe(0);
    expect((await fs.stat('/s')).size).toBe(70_000);
  });

  it.each<[string, number | string, number]>([
    ['whole seconds', 1_700_000_000, 1_700_000_000_000],
    ['quarter second (PAX)', 1_700_000_000.25, 1_700_000_000_250],
    ['half second (PAX)', '1600000000.5', 1_600_000_000_500],
    ['microseconds (PAX)', '1600000000.000001', 1_600_000_000_000.001],
    ['zero', 0, 0],
    ['before 1970 (base-256)', -86_400, -86_400_000],
    ['after 2242 (base-256)', 10_000_000_000, 10_000_000_000_000],
  ])('mtime: %s', async (_label, mtime, expectedMs) => {
    const { fs } = await openLayers([[file('f', 'x', { mtime }), dir('d/', { mtime }), symlink('s', 'f', { mtime })]]);
    for (const path of ['/f', '/d', '/s']) {
      const stats = await fs.lstat(path);
      expect(stats.mtimeMs).toBeCloseTo(expectedMs, 3);
      expect(stats.mtime.getTime()).toBe(Math.floor(expectedMs));
    }
  });

  it('mtime with nanoseconds keeps the sub-millisecond part in mtimeMs', async () => {
    const { fs } = await openLayers([[file('f', 'x', { mtime: '1700000000.123456789' })]]);
    const stats = await fs.lstat('/f');
    expect(Math.floor(stats.mtimeMs)).toBe(1_700_000_000_123);
    expect(stats.mtimeMs - 1_700_000_000_123).toBeCloseTo(0.456789, 3);
  });

  it('xattrs from PAX SCHILY.xattr records, binary values intact', async () => {
    const capability = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    const { fs } = await openLayers([
      [
        file('ping', 'x', { xattrs: { 'security.capability': capability, 'user.comment': 'hello wörld', 'user.empty': '' } }),
        dir('d/', { xattrs: { 'trusted.overlay.opaque': 'y' } }),
        file('plain', 'x'),
      ],
    ]);
    const ping = await fs.lstat('/ping');
    expect(Object.keys(ping.xattrs).sort()).toEqual(['security.capability', 'user.comment', 'user.empty']);
    expect(Buffer.isBuffer(ping.xattrs['security.capability'])).toBe(true);
    expect(ping.xattrs['security.capability']?.equals(capability)).toBe(true);
    expect(ping.xattrs['user.comment']?.toString('utf8')).toBe('hello wörld');
    expect(ping.xattrs['user.empty']?.length).toBe(0);
    expect((await fs.lstat('/d')).xattrs['trusted.overlay.opaque']?.toString()).toBe('y');
    expect((await fs.lstat('/plain')).xattrs).toEqual({});
  });

  it.each<[string, 'char' | 'block', number, number, number]>([
    ['/dev/null', 'char', 1, 3, 259],
    ['/dev/sda1', 'block', 8, 1, 2049],
    ['/dev/nvme', 'block', 259, 300, 1_114_924],
    ['/dev/zero-zero', 'char', 0, 0, 0],
  ])('device %s: type, major, minor, rdev', async (path, type, major, minor, rdev) => {
    const { fs } = await openLayers([
      [
        charDevice('dev/null', 1, 3, { mode: 0o666 }),
        blockDevice('dev/sda1', 8, 1, { mode: 0o660, gid: 6 }),
        blockDevice('dev/nvme', 259, 300),
        charDevice('dev/zero-zero', 0, 0),
      ],
    ]);
    const stats = await fs.lstat(path);
    expect(stats.type).toBe(type);
    expect(type === 'char' ? stats.isCharacterDevice() : stats.isBlockDevice()).toBe(true);
    expect(stats.mode & constants.S_IFMT).toBe(type === 'char' ? constants.S_IFCHR : constants.S_IFBLK);
    expect([stats.devmajor, stats.devminor, stats.rdev]).toEqual([major, minor, rdev]);
    if (path === '/dev/null') expect(stats.mode & 0o7777).toBe(0o666);
  });

  it('fifo type and mode', async () => {
    const { fs } = await openLayers([[fifo('run/p', { mode: 0o620, uid: 3 })]]);
    const stats = await fs.lstat('/run/p');
    expect([stats.isFIFO(), stats.mode, stats.uid, stats.rdev]).toEqual([true, constants.S_IFIFO | 0o620, 3, 0]);
  });

  it('symlink target as stored, not normalised; undefined for other types', async () => {
    const targets = ['/abs/target', '../rel//x/', './a/./b', 'ünï/cödé', `/${'long/'.repeat(30)}end`];
    const { fs } = await openLayers([[...targets.map((target, i) => symlink(`s${i}`, target)), file('f', 'x'), dir('d/')]]);
    for (const [i, target] of targets.entries()) {
      const stats = await fs.lstat(`/s${i}`);
      expect([stats.type, stats.target]).toEqual(['symlink', target]);
      expect(stats.mode & constants.S_IFMT).toBe(constants.S_IFLNK);
      expect(await fs.readlink(`/s${i}`)).toBe(target);
    }
    expect((await fs.lstat('/f')).target).toBeUndefined();
    expect((await fs.lstat('/d')).target).toBeUndefined();
  });

  it('everything from the visible entry, none from hidden lower ones', async () => {
    const { fs } = await openLayers([
      [file('f', 'lower', { mode: 0o4755, uid: 1, gid: 1, uname: 'one', gname: 'one', mtime: 1, xattrs: { 'user.lower': 'x' } })],
      [file('f', 'upper!', { mode: 0o640, uid: 2, gid: 3, uname: 'two', gname: 'three', mtime: 2 })],
    ]);
    const stats = await fs.lstat('/f');
    expect({ mode: stats.mode, uid: stats.uid, gid: stats.gid, uname: stats.uname, gname: stats.gname, size: stats.size, mtimeMs: stats.mtimeMs, xattrs: stats.xattrs, layer: stats.layer }).toEqual({
      mode: constants.S_IFREG | 0o640,
      uid: 2,
      gid: 3,
      uname: 'two',
      gname: 'three',
      size: 6,
      mtimeMs: 2000,
      xattrs: {},
      layer: 1,
    });
  });

  it('a hard link takes every field from its target, none from its own header', async () => {
    const { fs } = await openLayers([
      [
        file('target', 'target!', { mode: 0o2750, uid: 7, gid: 8, uname: 'seven', gname: 'eight', mtime: '1500000000.75', xattrs: { 'user.t': 't' } }),
        hardlink('link', 'target', { mode: 0o777, uid: 99, gid: 99, uname: 'link', gname: 'link', mtime: 1, xattrs: { 'user.l': 'l' } }),
      ],
    ]);
    const stats = await fs.lstat('/link');
    expect({ type: stats.type, mode: stats.mode, uid: stats.uid, gid: stats.gid, uname: stats.uname, gname: stats.gname, size: stats.size, mtimeMs: stats.mtimeMs, xattrs: Object.keys(stats.xattrs), target: stats.target }).toEqual({
      type: 'file',
      mode: constants.S_IFREG | 0o2750,
      uid: 7,
      gid: 8,
      uname: 'seven',
      gname: 'eight',
      size: 7,
      mtimeMs: 1_500_000_000_750,
      xattrs: ['user.t'],
      target: undefined,
    });
  });

  it('the fs.Stats-shaped fields agree with each other', async () => {
    const { fs } = await openLayers([[file('f', Buffer.alloc(1025), { mtime: 1_700_000_000.5 })]]);
    const stats = await fs.lstat('/f');
    expect(stats.isFile()).toBe(true);
    for (const other of [stats.isDirectory(), stats.isSymbolicLink(), stats.isFIFO(), stats.isCharacterDevice(), stats.isBlockDevice(), stats.isSocket()]) {
      expect(other).toBe(false);
    }
    expect(stats.blocks).toBe(3);
    expect(stats.mtime).toBeInstanceOf(Date);
    expect(stats.mtime.getTime()).toBe(1_700_000_000_500);
    expect(stats.nlink).toBe(1);
    expect(Number.isInteger(stats.ino)).toBe(true);
  });
});
