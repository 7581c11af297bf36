/**
 * R6 implicit parents: a directory that no layer has an entry for, but that has visible descendants,
 * exists with mode 0755, uid 0, gid 0, mtime 0, unless a lower layer's entry for it gives its
 * metadata. An implicit directory of layer L replaces a lower non-directory at that path.
 */
import { describe, expect, it } from 'vitest';
import { dir, fifo, file, symlink, whiteout } from '../helpers/layer-tar.js';
import { openLayers, walkPaths } from '../helpers/open-layers.js';
import { expectCode } from '../helpers/expect-fs-error.js';

function meta(stats: { type: string; mode: number; uid: number; gid: number; mtimeMs: number }): [string, number, number, number, number] {
  return [stats.type, stats.mode & 0o7777, stats.uid, stats.gid, stats.mtimeMs];
}

const IMPLICIT = ['dir', 0o755, 0, 0, 0];

describe('R6 implicit parents', () => {
  it('creates every missing ancestor as 0755 root:root with mtime 0', async () => {
    const { fs } = await openLayers([[file('a/b/c/leaf', 'leaf', { mode: 0o600, uid: 7, gid: 8 })]]);
    expect(await walkPaths(fs)).toEqual(['/a', '/a/b', '/a/b/c', '/a/b/c/leaf']);
    for (const path of ['/a', '/a/b', '/a/b/c']) {
      const stats = await fs.lstat(path);
      expect(meta(stats)).toEqual(IMPLICIT);
      expect(stats.mode).toBe(0o040755);
      expect(stats.mtime.getTime()).toBe(0);
      expect([stats.uname, stats.gname]).toEqual(['', '']);
      expect(stats.target).toBeUndefined();
    }
    expect(await fs.readdir('/a/b')).toEqual(['c']);
    // The leaf keeps its own metadata.
    expect(meta(await fs.lstat('/a/b/c/leaf'))).toEqual(['file', 0o600, 7, 8, 1_700_000_000_000]);
  });

  it('the root with no entry of its own is implicit too', async () => {
    const { fs } = await openLayers([[file('x', 'x')]]);
    expect(meta(await fs.lstat('/'))).toEqual(IMPLICIT);
  });

  it('an entry for the directory later in the same tar is not implicit', async () => {
    const { fs } = await openLayers([[file('a/b', 'b'), dir('a/', { mode: 0o700, uid: 5, gid: 6, mtime: 1_234_567_890 })]]);
    expect(meta(await fs.lstat('/a'))).toEqual(['dir', 0o700, 5, 6, 1_234_567_890_000]);
  });

  it("takes a lower layer's entry for the directory when the upper layer only implies it", async () => {
    const { fs } = await openLayers([
      [dir('a/', { mode: 0o700, uid: 5, gid: 6, uname: 'five', gname: 'six', mtime: 1_234_567_890 })],
      [file('a/b/c', 'c')],
    ]);
    const a = await fs.lstat('/a');
    expect(meta(a)).toEqual(['dir', 0o700, 5, 6, 1_234_567_890_000]);
    expect([a.uname, a.gname]).toEqual(['five', 'six']);
    // /a/b has no entry in any layer.
    expect(meta(await fs.lstat('/a/b'))).toEqual(IMPLICIT);
  });

  it('takes the metadata of the highest lower entry when several lower layers have one', async () => {
    const { fs } = await openLayers([[dir('a/', { mode: 0o700, uid: 1 })], [dir('a/', { mode: 0o750, uid: 2 })], [file('a/x', 'x')]]);
    expect(meta(await fs.lstat('/a'))).toEqual(['dir', 0o750, 2, 0, 1_700_000_000_000]);
  });

  it('an entry in a higher layer overrides the implicit directory of a lower one', async () => {
    const { fs } = await openLayers([[file('a/x', 'x')], [dir('a/', { mode: 0o711, uid: 3, mtime: 1_111_111_111 })]]);
    const a = await fs.lstat('/a');
    expect(meta(a)).toEqual(['dir', 0o711, 3, 0, 1_111_111_111_000]);
    expect(a.layer).toBe(1);
    expect(await fs.readdir('/a')).toEqual(['x']);
  });

  it.each([
    ['file', file('a', 'was a file', { mode: 0o600, uid: 9 })],
    ['symlink', symlink('a', 'elsewhere')],
    ['fifo', fifo('a')],
  ] as const)('an implicit directory replaces a lower %s', async (_label, lower) => {
    const { fs } = await openLayers([[lower, dir('elsewhere/'), file('elsewhere/e', 'e')], [file('a/b', 'b')]]);
    const a = await fs.lstat('/a');
    expect(meta(a)).toEqual(IMPLICIT);
    expect(a.layer).toBe(1);
    expect(await fs.readdir('/a')).toEqual(['b']);
    expect(await fs.readFile('/a/b', 'utf8')).toBe('b');
    // Not written through the lower symlink.
    await expectCode(fs.lstat('/elsewhere/b'), 'ENOENT');
    await expectCode(fs.lstat('/a/e'), 'ENOENT');
  });

  it('an implicit directory of layer L over a lower non-directory does not take metadata from it', async () => {
    const { fs } = await openLayers([[file('a', 'file', { mode: 0o4711, uid: 9, gid: 9, mtime: 5 })], [file('a/b/c', 'c')]]);
    expect(meta(await fs.lstat('/a'))).toEqual(IMPLICIT);
    expect(meta(await fs.lstat('/a/b'))).toEqual(IMPLICIT);
  });

  it('a lower directory entry that a whiteout removed gives no metadata', async () => {
    const { fs } = await openLayers([[dir('a/', { mode: 0o700, uid: 5 }), file('a/old', 'old')], [whiteout('a')], [file('a/new', 'new')]]);
    expect(meta(await fs.lstat('/a'))).toEqual(IMPLICIT);
    expect(await fs.readdir('/a')).toEqual(['new']);
  });

  it('a directory with only whiteouts under it is not created', async () => {
    const { fs } = await openLayers([[file('keep', 'k')], [whiteout('ghost/a'), whiteout('ghost/sub/b')]]);
    expect(await walkPaths(fs)).toEqual(['/keep']);
    await expectCode(fs.lstat('/ghost'), 'ENOENT');
  });

  it('an implicit directory whose descendants a later layer deletes stays, empty', async () => {
    const { fs } = await openLayers([[file('a/b/c', 'c')], [whiteout('a/b')]]);
    // /a has no entry, and its only descendant is deleted by layer 1. But layer 0 implied it (it had
    // visible descendants in layer 0's view), and a runtime that applies the layers in turn (umoci,
    // containerd) keeps the directory it made for layer 0: /a stays, empty. (R6 reads "has visible
    // descendants"; this test takes that per layer, as the changeset semantics of the image spec do.)
    expect(await walkPaths(fs)).toEqual(['/a']);
    expect(meta(await fs.lstat('/a'))).toEqual(IMPLICIT);
  });
});
