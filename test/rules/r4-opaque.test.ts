/**
 * R4 opaque: `.wh..wh..opq` in directory D of layer L hides every child of D that layers below L
 * provide. D itself stays visible. The marker is never visible. Other `.wh..wh.` names (aufs internals
 * such as `.wh..wh.plnk`) are hidden too.
 *
 * Cases in the style of go-containerregistry's `TestFileTree_Merge_OpaqueWhiteout`.
 */
import { describe, expect, it } from 'vitest';
import { dir, file, opaque, symlink, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { openLayers } from '../helpers/open-layers.js';
import { expectCode } from '../helpers/expect-fs-error.js';

/** path → content or `'<dir>'`, and the providing layer (ANY for directories no layer has an entry for). */
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
    name: 'hides every lower child, keeps the directory, and adds the same-layer children',
    layers: [
      [dir('d/'), file('d/a', 'a'), file('d/sub/b', 'b'), symlink('d/link', 'a'), file('outside', 'o')],
      [dir('d/'), opaque('d'), file('d/c', 'c')],
    ],
    view: { '/d': ['<dir>', 1], '/d/c': ['c', 1], '/outside': ['o', 0] },
    gone: ['/d/a', '/d/sub', '/d/sub/b', '/d/link'],
  },
  {
    name: 'marker after the same-layer children (tar order does not matter)',
    layers: [[file('d/a', 'a')], [dir('d/'), file('d/c', 'c'), file('d/e/f', 'f'), opaque('d')]],
    view: { '/d': ['<dir>', 1], '/d/c': ['c', 1], '/d/e': ['<dir>', 1], '/d/e/f': ['f', 1] },
    gone: ['/d/a'],
  },
  {
    name: 'marker without a directory entry: the directory stays, with its lower metadata',
    layers: [[dir('d/', { mode: 0o711 }), file('d/a', 'a')], [opaque('d')]],
    view: { '/d': ['<dir>', 0] },
    gone: ['/d/a'],
  },
  {
    name: 'hides children of every lower layer, not only the one right below',
    layers: [[file('d/a', 'a')], [file('d/b', 'b')], [opaque('d'), file('d/c', 'c')]],
    view: { '/d': ['<dir>', ANY], '/d/c': ['c', 2] },
    gone: ['/d/a', '/d/b'],
  },
  {
    name: 'higher layers add to the opaque directory again',
    layers: [[file('d/a', 'a')], [opaque('d'), file('d/c', 'c')], [file('d/e', 'e')]],
    view: { '/d': ['<dir>', ANY], '/d/c': ['c', 1], '/d/e': ['e', 2] },
    gone: ['/d/a'],
  },
  {
    name: 'a same-layer subdirectory over a hidden lower one does not merge with it',
    layers: [[file('d/sub/deep/f', 'f'), file('d/sub/g', 'g')], [opaque('d'), dir('d/sub/', { mode: 0o700 })]],
    view: { '/d': ['<dir>', ANY], '/d/sub': ['<dir>', 1] },
    gone: ['/d/sub/deep', '/d/sub/deep/f', '/d/sub/g'],
  },
  {
    name: 'deeper directories of lower layers are hidden with their parent',
    layers: [[file('d/x/y/z', 'z')], [opaque('d')]],
    view: { '/d': ['<dir>', ANY] },
    gone: ['/d/x', '/d/x/y', '/d/x/y/z'],
  },
  {
    name: 'a nested opaque directory hides only below itself',
    layers: [[file('d/a', 'a'), file('d/sub/b', 'b'), file('d/sub/c', 'c')], [opaque('d/sub'), file('d/sub/n', 'n')]],
    view: { '/d': ['<dir>', ANY], '/d/a': ['a', 0], '/d/sub': ['<dir>', ANY], '/d/sub/n': ['n', 1] },
    gone: ['/d/sub/b', '/d/sub/c'],
  },
  {
    name: 'an opaque directory that no lower layer has is just a directory',
    layers: [[file('x', 'x')], [dir('new/', { mode: 0o750 }), opaque('new')]],
    view: { '/x': ['x', 0], '/new': ['<dir>', 1] },
  },
  {
    name: 'the root made opaque hides the whole lower image',
    layers: [[file('a', 'a'), file('d/b', 'b')], [opaque(''), file('c', 'c')]],
    view: { '/c': ['c', 1] },
    gone: ['/a', '/d', '/d/b'],
  },
  {
    name: 'a marker leaves sibling paths alone',
    layers: [[file('d/a', 'a'), file('f', 'file')], [opaque('d'), dir('d2/')]],
    view: { '/d': ['<dir>', ANY], '/f': ['file', 0], '/d2': ['<dir>', 1] },
    gone: ['/d/a'],
  },
];

async function describeView(fs: Awaited<ReturnType<typeof openLayers>>['fs']): Promise<View> {
  const view: Record<string, readonly [string, number]> = {};
  for await (const { path, stats } of fs.walk('/')) {
    view[path] = [stats.type === 'dir' ? '<dir>' : stats.type === 'symlink' ? `-> ${stats.target ?? ''}` : await fs.readFile(path, 'utf8'), stats.layer];
  }
  return view;
}

describe('R4 opaque', () => {
  it.each(cases)('$name', async ({ layers, view, gone }) => {
    const { fs } = await openLayers(layers);
    expect(await describeView(fs)).toEqual(view);
    for (const path of gone ?? []) await expectCode(fs.lstat(path), 'ENOENT');
  });

  it('the directory keeps its metadata from the topmost layer with an entry', async () => {
    const { fs } = await openLayers([
      [dir('a/', { mode: 0o711, uid: 1, gid: 2, mtime: 1_500_000_000 }), file('a/x', 'x'), dir('b/', { mode: 0o711, uid: 1 }), file('b/x', 'x')],
      [dir('a/', { mode: 0o750, uid: 3, gid: 4, mtime: 1_600_000_000 }), opaque('a'), opaque('b')],
    ]);
    const a = await fs.lstat('/a');
    expect([a.mode & 0o7777, a.uid, a.gid, a.mtimeMs, a.layer]).toEqual([0o750, 3, 4, 1_600_000_000_000, 1]);
    const b = await fs.lstat('/b');
    expect([b.isDirectory(), b.mode & 0o7777, b.uid]).toEqual([true, 0o711, 1]);
    expect(await fs.readdir('/a')).toEqual([]);
    expect(await fs.readdir('/b')).toEqual([]);
  });

  it('never shows the marker', async () => {
    const { fs } = await openLayers([[file('d/a', 'a')], [opaque('d'), opaque(''), file('d/c', 'c')]]);
    expect(await fs.readdir('/d')).toEqual(['c']);
    expect(await fs.readdir('/')).toEqual(['d']);
    for (const path of ['/d/.wh..wh..opq', '/.wh..wh..opq']) {
      await expectCode(fs.lstat(path), 'ENOENT');
      expect(await fs.exists(path)).toBe(false);
    }
    for await (const { path } of fs.walk('/')) expect(path).not.toContain('.wh.');
  });

  it('hides other .wh..wh. files (aufs internals) without hiding anything else', async () => {
    const { fs } = await openLayers([
      [file('keep', 'k'), file('d/keep', 'dk'), file('aufs', 'not hidden'), file('d/orph', 'not hidden')],
      [file('.wh..wh.aufs', ''), file('d/.wh..wh.orph', ''), file('d/.wh..wh.plnk', 'x'), file('d/new', 'n')],
    ]);
    expect(await fs.readdir('/')).toEqual(['aufs', 'd', 'keep']);
    expect(await fs.readdir('/d')).toEqual(['keep', 'new', 'orph']);
    for (const path of ['/.wh..wh.aufs', '/d/.wh..wh.orph', '/d/.wh..wh.plnk']) await expectCode(fs.lstat(path), 'ENOENT');
  });

  it('hides .wh..wh. directories (aufs hard-link store, orphans) and everything under them', async () => {
    const { fs } = await openLayers([
      [file('keep', 'k'), file('d/keep', 'dk')],
      [
        dir('.wh..wh.plnk/'),
        file('.wh..wh.plnk/1234.5678', 'aufs hard-link store'),
        dir('d/.wh..wh.orph/'),
        file('d/.wh..wh.orph/x', 'orphan'),
        file('d/new', 'n'),
      ],
    ]);
    const walked: string[] = [];
    for await (const { path } of fs.walk('/')) walked.push(path);
    expect(walked).toEqual(['/d', '/d/keep', '/d/new', '/keep']);
    expect(await fs.readdir('/')).toEqual(['d', 'keep']);
    expect(await fs.readdir('/d')).toEqual(['keep', 'new']);
    for (const path of ['/.wh..wh.plnk', '/.wh..wh.plnk/1234.5678', '/d/.wh..wh.orph', '/d/.wh..wh.orph/x']) {
      await expectCode(fs.lstat(path), 'ENOENT');
    }
  });
});
