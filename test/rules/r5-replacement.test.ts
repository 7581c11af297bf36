/**
 * R5 replacement: a non-directory at P in layer L hides everything at or under P in lower layers. A
 * directory at P in L over a lower directory merges with it; over a lower non-directory it replaces
 * it. A directory entry's metadata (mode, owner, mtime) comes from the topmost layer that has an entry
 * for it.
 */
import { describe, expect, it } from 'vitest';
import { charDevice, dir, fifo, file, hardlink, symlink, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { openLayers, walkPaths } from '../helpers/open-layers.js';
import { expectCode } from '../helpers/expect-fs-error.js';

describe('R5 replacement', () => {
  it.each<[string, LayerEntrySpec]>([
    ['a file', file('p', 'now a file', { mode: 0o600 })],
    ['a symlink', symlink('p', '/elsewhere')],
    ['a fifo', fifo('p')],
    ['a character device', charDevice('p', 1, 3)],
    ['a hard link to a file', hardlink('p', 'src')],
  ])('%s over a lower directory hides the directory and its whole subtree', async (_label, entry) => {
    const upper: LayerEntrySpec[] = entry.type === 'hardlink' ? [file('src', 'source bytes'), entry] : [entry];
    const { fs } = await openLayers([[dir('p/', { mode: 0o700 }), file('p/a', 'a'), file('p/sub/b', 'b'), file('other', 'o')], upper]);
    const stats = await fs.lstat('/p');
    expect(stats.isDirectory()).toBe(false);
    expect(stats.type).toBe(entry.type === 'hardlink' ? 'file' : entry.type);
    expect(stats.layer).toBe(1);
    const walked = await walkPaths(fs);
    expect(walked.filter((path) => path.startsWith('/p/'))).toEqual([]);
    expect(walked).toContain('/other');
    // /p/a does not exist: through a file it is ENOTDIR, through the dangling symlink ENOENT.
    await expectCode(fs.lstat('/p/a'), entry.type === 'symlink' ? 'ENOENT' : 'ENOTDIR');
    await expectCode(fs.lstat('/p/sub/b'), entry.type === 'symlink' ? 'ENOENT' : 'ENOTDIR');
  });

  it('a file over a lower directory reads the file', async () => {
    const { fs } = await openLayers([[file('p/a', 'a')], [file('p', 'now a file')]]);
    expect(await fs.readFile('/p', 'utf8')).toBe('now a file');
    await expectCode(fs.readdir('/p'), 'ENOTDIR');
  });

  it('a symlink over a lower directory points elsewhere; the old children do not leak through it', async () => {
    const { fs } = await openLayers([[file('p/a', 'old a'), file('q/z', 'z')], [symlink('p', '/q')]]);
    expect(await fs.readdir('/p')).toEqual(['z']);
    await expectCode(fs.stat('/p/a'), 'ENOENT');
    expect(await fs.readFile('/p/z', 'utf8')).toBe('z');
  });

  it('a non-directory hides a deep lower subtree at an intermediate path', async () => {
    const { fs } = await openLayers([[file('d/a/b/c', 'c'), file('d/x', 'x')], [file('d/a', 'file now')]]);
    expect(await walkPaths(fs)).toEqual(['/d', '/d/a', '/d/x']);
    await expectCode(fs.stat('/d/a/b'), 'ENOTDIR');
    await expectCode(fs.stat('/d/a/b/c'), 'ENOTDIR');
  });

  it.each<[string, LayerEntrySpec]>([
    ['file', file('p', 'was a file', { mode: 0o600 })],
    ['symlink', symlink('p', 'target-dir')],
    ['fifo', fifo('p')],
  ])('a directory over a lower %s replaces it', async (_label, lower) => {
    const { fs } = await openLayers([
      [lower, dir('target-dir/'), file('target-dir/t', 't')],
      [dir('p/', { mode: 0o750, uid: 4, gid: 5, mtime: 1_600_000_000 }), file('p/c', 'c')],
    ]);
    const stats = await fs.lstat('/p');
    expect([stats.type, stats.mode & 0o7777, stats.uid, stats.gid, stats.mtimeMs, stats.layer]).toEqual(['dir', 0o750, 4, 5, 1_600_000_000_000, 1]);
    expect(await fs.readdir('/p')).toEqual(['c']);
    expect(await fs.readFile('/p/c', 'utf8')).toBe('c');
    await expectCode(fs.readFile('/p'), 'EISDIR');
    // The lower symlink's target directory is not merged into /p.
    await expectCode(fs.lstat('/p/t'), 'ENOENT');
  });

  it('a directory over a lower directory merges their children', async () => {
    const { fs } = await openLayers([
      [dir('d/'), file('d/a', 'a0'), file('d/b', 'b0'), dir('d/sub/'), file('d/sub/x', 'x0')],
      [dir('d/'), file('d/b', 'b1'), file('d/c', 'c1'), dir('d/sub/'), file('d/sub/y', 'y1')],
    ]);
    expect(await walkPaths(fs)).toEqual(['/d', '/d/a', '/d/b', '/d/c', '/d/sub', '/d/sub/x', '/d/sub/y']);
    const layers = await Promise.all(['/d/a', '/d/b', '/d/c', '/d/sub/x', '/d/sub/y'].map(async (path) => (await fs.lstat(path)).layer));
    expect(layers).toEqual([0, 1, 1, 0, 1]);
    expect(await fs.readFile('/d/b', 'utf8')).toBe('b1');
  });

  it('directory metadata comes from the topmost layer that has an entry for it', async () => {
    const { fs } = await openLayers([
      [dir('d/', { mode: 0o700, uid: 1, gid: 1, uname: 'one', gname: 'one', mtime: 1_000_000_000 }), file('d/a', 'a')],
      [dir('d/', { mode: 0o751, uid: 2, gid: 3, uname: 'two', gname: 'three', mtime: 1_100_000_000 }), file('d/b', 'b')],
      // Layer 2 adds under d without an entry for d: the metadata stays layer 1's.
      [file('d/c', 'c')],
      [file('unrelated', 'u')],
    ]);
    const d = await fs.lstat('/d');
    expect({ mode: d.mode & 0o7777, uid: d.uid, gid: d.gid, uname: d.uname, gname: d.gname, mtimeMs: d.mtimeMs, layer: d.layer }).toEqual({
      mode: 0o751,
      uid: 2,
      gid: 3,
      uname: 'two',
      gname: 'three',
      mtimeMs: 1_100_000_000_000,
      layer: 1,
    });
    expect(await fs.readdir('/d')).toEqual(['a', 'b', 'c']);
  });

  it('a higher directory entry with less permissive metadata still wins', async () => {
    const { fs } = await openLayers([[dir('d/', { mode: 0o1777, uid: 0 }), file('d/a', 'a')], [dir('d/', { mode: 0o700, uid: 1000, mtime: 1 })]]);
    const d = await fs.lstat('/d');
    expect([d.mode & 0o7777, d.uid, d.mtimeMs, d.layer]).toEqual([0o700, 1000, 1000, 1]);
    expect(await fs.readdir('/d')).toEqual(['a']);
  });

  it('a file over a file: the top copy, bytes and metadata', async () => {
    const { fs } = await openLayers([[file('f', 'old and longer', { mode: 0o755, uid: 1 })], [file('f', 'new', { mode: 0o600, uid: 2 })]]);
    const f = await fs.lstat('/f');
    expect([f.size, f.mode & 0o7777, f.uid, f.layer]).toEqual([3, 0o600, 2, 1]);
    expect(await fs.readFile('/f', 'utf8')).toBe('new');
  });

  it('a directory replaced by a file and then by a directory again starts empty', async () => {
    const { fs } = await openLayers([[file('p/old', 'old')], [file('p', 'file')], [dir('p/'), file('p/new', 'new')]]);
    expect(await fs.readdir('/p')).toEqual(['new']);
    expect((await fs.lstat('/p')).layer).toBe(2);
  });

  it('a symlink over a lower directory, to a directory of its own layer', async () => {
    const { fs } = await openLayers([[dir('x/'), file('x/child', 'c')], [symlink('x', 'y'), dir('y/'), file('y/k', 'k')]]);
    expect((await fs.lstat('/x')).isSymbolicLink()).toBe(true);
    expect(await fs.readdir('/x')).toEqual(['k']);
  });
});
