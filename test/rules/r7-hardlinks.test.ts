/**
 * R7 hard links: a hard link in layer L is resolved as runtimes apply the layer, in tar order: against
 * the view of the layers below L plus the members of L listed before it (a link listed before its
 * target is replaced or whited out in the same layer keeps the old file). It is the same inode as its target: same content, mode, owners, size, mtime;
 * `nlink` counts the names that share it in the merged view. Deleting or replacing the target in a
 * later layer does not change what the link reads. A link whose target cannot be found is dropped,
 * with a warning that names the layer and both paths.
 */
import { describe, expect, it } from 'vitest';
import { dir, file, hardlink, opaque, symlink, whiteout } from '../helpers/layer-tar.js';
import { openLayers, walkPaths } from '../helpers/open-layers.js';
import { expectCode } from '../helpers/expect-fs-error.js';
import type { ImageStats } from '../../lib/index.js';

const target = () => file('data/target', 'target bytes', { mode: 0o4750, uid: 11, gid: 12, uname: 'eleven', gname: 'twelve', mtime: 1_500_000_000.5, xattrs: { 'user.k': 'v' } });
/** A link header whose own metadata differs from its target's in every field: none of it may show. */
const link = (name: string, to = 'data/target') => hardlink(name, to, { mode: 0o777, uid: 99, gid: 98, uname: 'link', gname: 'link', mtime: 1_000 });

function inode(stats: ImageStats): unknown {
  return {
    type: stats.type,
    mode: stats.mode,
    uid: stats.uid,
    gid: stats.gid,
    uname: stats.uname,
    gname: stats.gname,
    size: stats.size,
    mtimeMs: stats.mtimeMs,
    ino: stats.ino,
    nlink: stats.nlink,
    xattrs: stats.xattrs,
    layer: stats.layer,
  };
}

describe('R7 hard links', () => {
  it('a link to a target in the same layer is the same inode', async () => {
    const { fs, warnings } = await openLayers([[target(), link('data/link')]]);
    const t = await fs.lstat('/data/target');
    const l = await fs.lstat('/data/link');
    expect(inode(l)).toEqual(inode(t));
    expect(l.mode).toBe(0o104750);
    expect([l.uid, l.gid, l.uname, l.gname, l.size, l.mtimeMs]).toEqual([11, 12, 'eleven', 'twelve', 12, 1_500_000_000_500]);
    expect(l.nlink).toBe(2);
    expect(l.layer).toBe(0);
    expect(l.isFile()).toBe(true);
    expect(l.xattrs['user.k']?.toString()).toBe('v');
    expect(await fs.readFile('/data/link', 'utf8')).toBe('target bytes');
    expect(warnings).toEqual([]);
  });

  it('a link to a target in a lower layer is the same inode, provided by the target layer', async () => {
    const { fs } = await openLayers([[target()], [file('other', 'o')], [link('elsewhere/link')]]);
    const t = await fs.lstat('/data/target');
    const l = await fs.lstat('/elsewhere/link');
    expect(inode(l)).toEqual(inode(t));
    expect([l.nlink, l.layer, l.ino === t.ino]).toEqual([2, 0, true]);
    expect(await fs.readFile('/elsewhere/link', 'utf8')).toBe('target bytes');
  });

  it('nlink counts every name: three names, and a link to a link', async () => {
    const { fs } = await openLayers([[target(), link('a')], [link('b'), link('c', 'a')]]);
    const all = await Promise.all(['/data/target', '/a', '/b', '/c'].map((path) => fs.lstat(path)));
    expect(all.map((stats) => stats.nlink)).toEqual([4, 4, 4, 4]);
    expect(new Set(all.map((stats) => stats.ino)).size).toBe(1);
    for (const path of ['/a', '/b', '/c']) expect(await fs.readFile(path, 'utf8')).toBe('target bytes');
  });

  it('distinct files have distinct inodes and nlink 1', async () => {
    const { fs } = await openLayers([[file('x', 'same'), file('y', 'same')]]);
    const [x, y] = await Promise.all([fs.lstat('/x'), fs.lstat('/y')]);
    expect(x.ino).not.toBe(y.ino);
    expect([x.nlink, y.nlink]).toEqual([1, 1]);
  });

  it('the link survives the deletion of its target in a later layer and reads the old bytes', async () => {
    const { fs } = await openLayers([[target(), link('link')], [whiteout('data/target')]]);
    await expectCode(fs.lstat('/data/target'), 'ENOENT');
    const l = await fs.lstat('/link');
    expect([l.nlink, l.size, l.mode & 0o7777, l.uid]).toEqual([1, 12, 0o4750, 11]);
    expect(await fs.readFile('/link', 'utf8')).toBe('target bytes');
  });

  it('the link survives the deletion of its target directory, by whiteout or by opaque marker', async () => {
    const { fs } = await openLayers([[target(), link('keep/link1'), file('gone/x', 'x'), link('keep/link2', 'gone/x')], [whiteout('data'), opaque('gone')]]);
    await expectCode(fs.lstat('/data'), 'ENOENT');
    await expectCode(fs.lstat('/gone/x'), 'ENOENT');
    expect(await fs.readFile('/keep/link1', 'utf8')).toBe('target bytes');
    expect(await fs.readFile('/keep/link2', 'utf8')).toBe('x');
    expect([(await fs.lstat('/keep/link1')).nlink, (await fs.lstat('/keep/link2')).nlink]).toEqual([1, 1]);
  });

  it('the link survives the replacement of its target and keeps the old bytes and metadata', async () => {
    const { fs } = await openLayers([[target(), link('link')], [file('data/target', 'NEW', { mode: 0o600, uid: 1 })]]);
    const t = await fs.lstat('/data/target');
    const l = await fs.lstat('/link');
    expect(await fs.readFile('/data/target', 'utf8')).toBe('NEW');
    expect(await fs.readFile('/link', 'utf8')).toBe('target bytes');
    expect(l.ino).not.toBe(t.ino);
    expect([t.nlink, l.nlink]).toEqual([1, 1]);
    expect([l.mode & 0o7777, l.uid, l.size, l.layer]).toEqual([0o4750, 11, 12, 0]);
    expect([t.mode & 0o7777, t.uid, t.size, t.layer]).toEqual([0o600, 1, 3, 1]);
  });

  it('the target survives the deletion of a link name; nlink drops', async () => {
    const { fs } = await openLayers([[target(), link('a'), link('b')], [whiteout('a')]]);
    expect((await fs.lstat('/data/target')).nlink).toBe(2);
    expect((await fs.lstat('/b')).nlink).toBe(2);
  });

  it('a link resolves against the view up to its layer: a target deleted below is not found', async () => {
    const { fs, warnings } = await openLayers([[target()], [whiteout('data/target')], [hardlink('late-link', 'data/target')]]);
    await expectCode(fs.lstat('/late-link'), 'ENOENT');
    expect(warnings).toHaveLength(1);
  });

  it('a link resolves against the view up to its layer: it takes the version of the target current at that layer', async () => {
    const { fs } = await openLayers([[file('t', 'v0')], [file('t', 'v1')], [hardlink('link', 't')], [file('t', 'v3')]]);
    expect(await fs.readFile('/link', 'utf8')).toBe('v1');
    expect(await fs.readFile('/t', 'utf8')).toBe('v3');
    expect((await fs.lstat('/link')).layer).toBe(1);
  });

  describe('in tar order within its layer', () => {
    it('a link listed before its lower target is replaced in the same layer keeps the old file', async () => {
      const { fs, warnings } = await openLayers([[target()], [link('link'), file('data/target', 'NEW', { mode: 0o600 })]]);
      expect(await fs.readFile('/link', 'utf8')).toBe('target bytes');
      expect(await fs.readFile('/data/target', 'utf8')).toBe('NEW');
      const [l, t] = [await fs.lstat('/link'), await fs.lstat('/data/target')];
      expect([l.layer, l.mode & 0o7777, l.nlink, t.layer, t.nlink, l.ino === t.ino]).toEqual([0, 0o4750, 1, 1, 1, false]);
      expect(warnings).toEqual([]);
    });

    it('a link listed after the replacement takes the new file', async () => {
      const { fs } = await openLayers([[target()], [file('data/target', 'NEW'), link('link')]]);
      expect(await fs.readFile('/link', 'utf8')).toBe('NEW');
      expect((await fs.lstat('/link')).nlink).toBe(2);
    });

    it('a link listed before a whiteout of its target in the same layer survives it', async () => {
      const { fs, warnings } = await openLayers([[target()], [link('link'), whiteout('data/target')]]);
      await expectCode(fs.lstat('/data/target'), 'ENOENT');
      expect(await fs.readFile('/link', 'utf8')).toBe('target bytes');
      expect((await fs.lstat('/link')).nlink).toBe(1);
      expect(warnings).toEqual([]);
    });

    it.each([
      ['a whiteout of the target', () => whiteout('data/target')],
      ['a whiteout of its directory', () => whiteout('data')],
      ['an opaque marker on its directory', () => opaque('data')],
      ['a file replacing its directory', () => file('data', 'now a file')],
    ])('a link listed after %s in the same layer finds nothing and is dropped', async (_, remove) => {
      const { fs, warnings } = await openLayers([[target()], [remove(), link('link')]]);
      await expectCode(fs.lstat('/link'), 'ENOENT');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('/link');
    });

    it('a link between two versions of its target in one layer cannot show the first (R2 keeps the last): it says so', async () => {
      const { fs, warnings } = await openLayers([[target()], [file('data/target', 'first'), link('link'), file('data/target', 'second')]]);
      // A runtime would show 'first'; that member is not kept, so the link falls back to the layers below.
      expect(await fs.readFile('/link', 'utf8')).toBe('target bytes');
      expect(await fs.readFile('/data/target', 'utf8')).toBe('second');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('/link -> /data/target');
      expect(warnings[0]).toContain('replaced later in the same layer');
    });

    it('a link listed before its target, which only its own layer has, is dropped', async () => {
      const { fs, warnings } = await openLayers([[link('link'), target()]]);
      await expectCode(fs.lstat('/link'), 'ENOENT');
      expect(await fs.readFile('/data/target', 'utf8')).toBe('target bytes');
      expect(warnings).toHaveLength(1);
    });
  });

  it('a link whose target is only in a higher layer is dropped', async () => {
    const { fs, warnings } = await openLayers([[hardlink('early-link', 'later-target')], [file('later-target', 'x')]]);
    await expectCode(fs.lstat('/early-link'), 'ENOENT');
    expect(await walkPaths(fs)).toEqual(['/later-target']);
    expect(warnings).toHaveLength(1);
  });

  it('a link whose target is missing is dropped, with a warning naming the layer and both paths', async () => {
    const seen: string[] = [];
    const { fs, warnings } = await openLayers([[file('present', 'p')], [dir('links/'), hardlink('links/dangling-link', 'missing/target-file')]], {
      onWarning: (warning) => seen.push(warning.message),
    });
    await expectCode(fs.lstat('/links/dangling-link'), 'ENOENT');
    expect(await fs.readdir('/links')).toEqual([]);
    expect(seen).toEqual(warnings);
    expect(warnings).toHaveLength(1);
    const message = warnings[0] ?? '';
    expect(message).toMatch(/layer 1\b/);
    expect(message).toContain('links/dangling-link');
    expect(message).toContain('missing/target-file');
  });

  it('a link to a symlink is the symlink (same target)', async () => {
    const { fs } = await openLayers([[file('real', 'r'), symlink('sym', 'real'), hardlink('hl', 'sym')]]);
    const hl = await fs.lstat('/hl');
    expect([hl.isSymbolicLink(), hl.target, hl.nlink]).toEqual([true, 'real', 2]);
    expect(await fs.readlink('/hl')).toBe('real');
    expect(await fs.readFile('/hl', 'utf8')).toBe('r');
  });

  it('walk yields every name of a linked file, with equal stats', async () => {
    const { fs } = await openLayers([[target(), link('a'), link('z/z')]]);
    const stats = new Map<string, ImageStats>();
    for await (const entry of fs.walk('/')) stats.set(entry.path, entry.stats);
    expect([...stats.keys()]).toEqual(['/a', '/data', '/data/target', '/z', '/z/z']);
    expect(inode(stats.get('/a') as ImageStats)).toEqual(inode(stats.get('/data/target') as ImageStats));
    expect(inode(stats.get('/z/z') as ImageStats)).toEqual(inode(stats.get('/data/target') as ImageStats));
    expect(stats.get('/a')?.nlink).toBe(3);
  });
});
