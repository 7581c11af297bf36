/**
 * R3 whiteout: `.wh.NAME` in directory D of layer L hides D/NAME, and everything under it, in layers
 * below L. It never hides anything in L itself, whatever the order of entries in the tar. The whiteout
 * file is never visible.
 *
 * Table-driven like go-containerregistry's mutate tests: each case gives the layers and the exact
 * merged view (every path `walk` yields, and the content or type of each).
 */
import { describe, expect, it } from 'vitest';
import { dir, fifo, file, symlink, whiteout, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { openLayers } from '../helpers/open-layers.js';
import { expectCode } from '../helpers/expect-fs-error.js';

/**
 * path → file content, `'<dir>'`, `'-> target'` for symlinks, or `'<fifo>'`; with the providing layer.
 * DESIGN.md does not say which layer "provides" a directory that no layer has an entry for (R6), so
 * such directories are matched with ANY.
 */
type View = Record<string, readonly [string, number]>;
const ANY: number = expect.any(Number) as number;

interface Case {
  name: string;
  layers: LayerEntrySpec[][];
  view: View;
  gone?: string[];
}

const cases: Case[] = [
  {
    name: 'hides a lower file',
    layers: [[dir('etc/'), file('etc/a', 'a'), file('etc/b', 'b')], [whiteout('etc/a')]],
    view: { '/etc': ['<dir>', 0], '/etc/b': ['b', 0] },
    gone: ['/etc/a'],
  },
  {
    name: 'hides a lower directory and its whole subtree',
    layers: [[file('d/x/y/z', 'z'), file('d/x/w', 'w'), file('d/keep', 'k')], [whiteout('d/x')]],
    view: { '/d': ['<dir>', ANY], '/d/keep': ['k', 0] },
    gone: ['/d/x', '/d/x/y', '/d/x/y/z', '/d/x/w'],
  },
  {
    name: 'hides a lower symlink (not its target)',
    layers: [[file('t', 'target'), symlink('s', 't')], [whiteout('s')]],
    view: { '/t': ['target', 0] },
    gone: ['/s'],
  },
  {
    name: 'hides a lower fifo',
    layers: [[fifo('p'), file('q', 'q')], [whiteout('p')]],
    view: { '/q': ['q', 0] },
    gone: ['/p'],
  },
  {
    name: 'hides the name only, not siblings that share its prefix',
    layers: [[file('a', 'a'), file('ab', 'ab'), file('a.b', 'a.b'), file('b/a', 'b/a')], [whiteout('a')]],
    view: { '/ab': ['ab', 0], '/a.b': ['a.b', 0], '/b': ['<dir>', ANY], '/b/a': ['b/a', 0] },
    gone: ['/a'],
  },
  {
    name: 'hides the same path in every layer below, not just the one right below',
    layers: [[file('a', 'v0')], [file('a', 'v1')], [file('b', 'b')], [whiteout('a')]],
    view: { '/b': ['b', 2] },
    gone: ['/a'],
  },
  {
    name: 'does not hide a file the same layer adds after the whiteout (delete then recreate)',
    layers: [[file('a', 'old')], [whiteout('a'), file('a', 'new')]],
    view: { '/a': ['new', 1] },
  },
  {
    name: 'does not hide a file the same layer adds before the whiteout',
    layers: [[file('a', 'old')], [file('a', 'new'), whiteout('a')]],
    view: { '/a': ['new', 1] },
  },
  {
    name: 'does not hide a file of its own layer when nothing lies below',
    layers: [[file('a', 'only'), whiteout('a')]],
    view: { '/a': ['only', 0] },
  },
  {
    name: 'replaces a lower directory with a same-layer directory (whiteout first): no lower children',
    layers: [[file('d/old', 'old'), file('d/sub/deep', 'deep')], [whiteout('d'), dir('d/'), file('d/new', 'new')]],
    view: { '/d': ['<dir>', 1], '/d/new': ['new', 1] },
    gone: ['/d/old', '/d/sub', '/d/sub/deep'],
  },
  {
    name: 'replaces a lower directory with a same-layer directory (whiteout last): no lower children',
    layers: [[file('d/old', 'old'), file('d/sub/deep', 'deep')], [dir('d/'), file('d/new', 'new'), whiteout('d')]],
    view: { '/d': ['<dir>', 1], '/d/new': ['new', 1] },
    gone: ['/d/old', '/d/sub', '/d/sub/deep'],
  },
  {
    name: 'a same-layer child under a whited-out directory brings the directory back, without lower children',
    layers: [[file('d/old', 'old')], [file('d/new', 'new'), whiteout('d')]],
    view: { '/d': ['<dir>', 1], '/d/new': ['new', 1] },
    gone: ['/d/old'],
  },
  {
    name: 'a later layer re-adds what a whiteout removed',
    layers: [[file('a', 'v0')], [whiteout('a')], [file('a', 'v2')]],
    view: { '/a': ['v2', 2] },
  },
  {
    name: 'a whiteout of a missing path changes nothing and shows nothing',
    layers: [[file('keep', 'k')], [whiteout('never-existed'), whiteout('keep-not/x')]],
    view: { '/keep': ['k', 0] },
    gone: ['/never-existed', '/.wh.never-existed', '/keep-not'],
  },
  {
    name: 'a whiteout alone does not create its parent directory',
    layers: [[file('x', 'x')], [whiteout('newdir/sub/gone')]],
    view: { '/x': ['x', 0] },
    gone: ['/newdir', '/newdir/sub'],
  },
  {
    name: 'a whiteout in the root',
    layers: [[file('a', 'a'), dir('b/'), file('b/c', 'c')], [whiteout('b')]],
    view: { '/a': ['a', 0] },
    gone: ['/b', '/b/c'],
  },
  {
    name: 'a whiteout spelled with ./ and //',
    layers: [[file('etc/a', 'a'), file('etc/b', 'b')], [file('./etc//.wh.a', '')]],
    view: { '/etc': ['<dir>', ANY], '/etc/b': ['b', 0] },
    gone: ['/etc/a'],
  },
  {
    name: 'a whiteout does not reach up: hiding d/x keeps d itself',
    layers: [[dir('d/', { mode: 0o700 }), file('d/x', 'x')], [whiteout('d/x')]],
    view: { '/d': ['<dir>', 0] },
    gone: ['/d/x'],
  },
  {
    name: 'a whiteout under a lower file path hides nothing',
    layers: [[file('f', 'file')], [whiteout('f/child')]],
    view: { '/f': ['file', 0] },
  },
];

async function describeView(fs: Awaited<ReturnType<typeof openLayers>>['fs']): Promise<View> {
  const view: Record<string, readonly [string, number]> = {};
  for await (const { path, stats } of fs.walk('/')) {
    const shown =
      stats.type === 'dir'
        ? '<dir>'
        : stats.type === 'symlink'
          ? `-> ${stats.target ?? ''}`
          : stats.type === 'fifo'
            ? '<fifo>'
            : await fs.readFile(path, 'utf8');
    view[path] = [shown, stats.layer];
  }
  return view;
}

describe('R3 whiteout', () => {
  it.each(cases)('$name', async ({ layers, view, gone }) => {
    const { fs } = await openLayers(layers);
    expect(await describeView(fs)).toEqual(view);
    for (const path of gone ?? []) {
      expect(await fs.exists(path)).toBe(false);
      await expectCode(fs.lstat(path), 'ENOENT');
    }
  });

  it('never shows the whiteout file itself: not in walk, readdir, lstat or readFile', async () => {
    const { fs } = await openLayers([[file('etc/a', 'a'), file('etc/b', 'b'), file('top', 't')], [whiteout('etc/a'), whiteout('top'), whiteout('etc/nothing')]]);
    for await (const { path } of fs.walk('/')) expect(path).not.toContain('.wh.');
    expect(await fs.readdir('/')).toEqual(['etc']);
    expect(await fs.readdir('/etc')).toEqual(['b']);
    expect((await fs.readdir('/etc', { withFileTypes: true })).map((entry) => entry.name)).toEqual(['b']);
    for (const path of ['/etc/.wh.a', '/.wh.top', '/etc/.wh.nothing']) {
      await expectCode(fs.lstat(path), 'ENOENT');
      await expectCode(fs.readFile(path), 'ENOENT');
      expect(fs.existsSync(path)).toBe(false);
    }
  });

  it('hides the lower entry from stat, readFile, readdir and realpath alike', async () => {
    const { fs } = await openLayers([[dir('d/'), file('d/f', 'f')], [whiteout('d')]]);
    await expectCode(fs.stat('/d'), 'ENOENT');
    await expectCode(fs.readFile('/d/f'), 'ENOENT');
    await expectCode(fs.readdir('/d'), 'ENOENT');
    await expectCode(fs.realpath('/d/f'), 'ENOENT');
    expect(() => fs.statSync('/d/f')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('whiteouts of one layer hide lower copies only, even of a path the layer also adds and removes', async () => {
    // Layer 1 adds /a and /b, and whiteouts for both; the whiteouts hide layer 0's copies only.
    const { fs } = await openLayers([[file('a', 'a0'), file('b', 'b0'), file('c', 'c0')], [file('a', 'a1'), whiteout('a'), whiteout('b'), file('b', 'b1')]]);
    expect(await describeView(fs)).toEqual({ '/a': ['a1', 1], '/b': ['b1', 1], '/c': ['c0', 0] });
  });
});
