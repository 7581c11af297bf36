/**
 * R6 implicit parents: a directory that no layer has an entry for, but that has visible descendants,
 * exists with mode 0755, uid 0, gid 0, mtime 0, unless a lower layer's entry for it gives its
 * metadata. An entry's parent chain is resolved through the view below its layer, inside the root, as
 * runtimes apply a layer: through a lower symlink to a directory the entry lands in that directory
 * (merged-usr: `lib/x.so` over `lib -> usr/lib` is `usr/lib/x.so`, `lib` stays a symlink). Any other
 * lower non-directory on the way is replaced by an implicit directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { dir, fifo, file, hardlink, opaque as opaqueOf, symlink, whiteout } from '../helpers/layer-tar.js';
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
    ['symlink to a file', symlink('a', 'elsewhere/e')],
    ['dangling symlink', symlink('a', 'nowhere')],
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

  describe('through a lower symlink to a directory', () => {
    it('an entry lands in the directory (merged-usr), and the symlink stays', async () => {
      const { fs, warnings } = await openLayers([
        [dir('usr/'), dir('usr/lib/', { mode: 0o750, uid: 4 }), file('usr/lib/old.so', 'old'), symlink('lib', 'usr/lib')],
        [file('lib/x.so', 'new', { mode: 0o755 })],
      ]);
      expect((await fs.lstat('/lib')).isSymbolicLink()).toBe(true);
      expect(await fs.readlink('/lib')).toBe('usr/lib');
      expect(await fs.readFile('/usr/lib/x.so', 'utf8')).toBe('new');
      expect((await fs.lstat('/usr/lib/x.so')).layer).toBe(1);
      expect(await fs.readdir('/usr/lib')).toEqual(['old.so', 'x.so']);
      expect(await fs.readFile('/lib/x.so', 'utf8')).toBe('new');
      // The directory it landed in keeps its own metadata.
      expect(meta(await fs.lstat('/usr/lib'))).toEqual(['dir', 0o750, 4, 0, 1_700_000_000_000]);
      expect(await walkPaths(fs)).toEqual(['/lib', '/usr', '/usr/lib', '/usr/lib/old.so', '/usr/lib/x.so']);
      expect(warnings).toEqual([]);
    });

    it('lands the same from the index cache', async () => {
      const cache = mkdtempSync(join(tmpdir(), 'imgfs-r6-cache-'));
      onTestFinished(() => rmSync(cache, { recursive: true, force: true }));
      const layers = [[dir('usr/lib/'), symlink('lib', 'usr/lib')], [file('lib/x.so', 'x')]];
      for (let round = 0; round < 2; round++) {
        const { fs } = await openLayers(layers, { cache });
        expect(await fs.readdir('/usr/lib')).toEqual(['x.so']);
        expect((await fs.lstat('/lib')).isSymbolicLink()).toBe(true);
      }
    });

    it('follows absolute targets inside the root, chains of symlinks, and deeper missing parents', async () => {
      const { fs } = await openLayers([
        [dir('usr/lib/'), dir('real/'), symlink('lib', '/usr/lib'), symlink('usr/lib64', '../real'), symlink('hop', 'lib')],
        [file('lib/sub/deep/f', 'f'), file('usr/lib64/g', 'g'), file('hop/h', 'h')],
      ]);
      expect(await fs.readFile('/usr/lib/sub/deep/f', 'utf8')).toBe('f');
      expect(await fs.readFile('/real/g', 'utf8')).toBe('g');
      expect(await fs.readFile('/usr/lib/h', 'utf8')).toBe('h');
      for (const link of ['/lib', '/usr/lib64', '/hop']) expect((await fs.lstat(link)).isSymbolicLink()).toBe(true);
      expect(meta(await fs.lstat('/usr/lib/sub'))).toEqual(IMPLICIT);
    });

    it('whiteouts and opaque markers under the symlink act in the directory it points to', async () => {
      const { fs } = await openLayers([
        [dir('usr/lib/'), file('usr/lib/gone.so', 'g'), file('usr/lib/kept.so', 'k'), dir('usr/lib/cfg/'), file('usr/lib/cfg/old', 'o'), symlink('lib', 'usr/lib')],
        [whiteout('lib/gone.so'), opaqueOf('lib/cfg'), file('lib/cfg/new', 'n')],
      ]);
      expect(await fs.readdir('/usr/lib')).toEqual(['cfg', 'kept.so']);
      expect(await fs.readdir('/usr/lib/cfg')).toEqual(['new']);
      expect((await fs.lstat('/lib')).isSymbolicLink()).toBe(true);
    });

    it('a later layer sees the landed entry where it landed', async () => {
      const { fs } = await openLayers([[dir('usr/lib/'), symlink('lib', 'usr/lib')], [file('lib/x.so', 'v1')], [file('usr/lib/x.so', 'v2')], [whiteout('lib/y')]]);
      expect(await fs.readFile('/lib/x.so', 'utf8')).toBe('v2');
      expect((await fs.lstat('/usr/lib/x.so')).layer).toBe(2);
    });

    it('a directory entry of the same layer replaces the symlink instead (R5)', async () => {
      const { fs } = await openLayers([[dir('usr/lib/'), file('usr/lib/old.so', 'o'), symlink('lib', 'usr/lib')], [dir('lib/'), file('lib/x.so', 'x')]]);
      expect((await fs.lstat('/lib')).isDirectory()).toBe(true);
      expect(await fs.readdir('/lib')).toEqual(['x.so']);
      expect(await fs.readdir('/usr/lib')).toEqual(['old.so']);
    });

    it('a whiteout of the symlink in the same layer makes the parent an implicit directory', async () => {
      const { fs } = await openLayers([[dir('usr/lib/'), symlink('lib', 'usr/lib')], [whiteout('lib'), file('lib/x.so', 'x')]]);
      expect(meta(await fs.lstat('/lib'))).toEqual(IMPLICIT);
      expect(await fs.readdir('/usr/lib')).toEqual([]);
    });

    it('a symlink that leaves the root lands inside it, as in a chroot', async () => {
      const { fs } = await openLayers([[dir('usr/lib/'), symlink('lib', '../../../usr/lib')], [file('lib/x.so', 'x')]]);
      expect(await fs.readFile('/usr/lib/x.so', 'utf8')).toBe('x');
    });

    it('a hard link names its target through a lower symlink', async () => {
      const { fs, warnings } = await openLayers([[dir('usr/lib/'), file('usr/lib/t.so', 't'), symlink('lib', 'usr/lib')], [hardlink('hl', 'lib/t.so')]]);
      expect(await fs.readFile('/hl', 'utf8')).toBe('t');
      expect((await fs.lstat('/usr/lib/t.so')).nlink).toBe(2);
      expect(warnings).toEqual([]);
    });
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
