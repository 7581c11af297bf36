/** R2 duplicates: within one layer, the later entry for a path wins. */
import { describe, expect, it } from 'vitest';
import { dir, fifo, file, symlink, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { openLayers, walkPaths } from '../helpers/open-layers.js';

interface Case {
  name: string;
  layers: LayerEntrySpec[][];
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'fifo';
  perm: number;
  uid: number;
  layer: number;
  content?: string;
  target?: string;
}

const cases: Case[] = [
  {
    name: 'file then file: the second content and metadata',
    layers: [[file('a', 'first', { mode: 0o600, uid: 1 }), file('a', 'second', { mode: 0o640, uid: 2 })]],
    path: '/a',
    type: 'file',
    perm: 0o640,
    uid: 2,
    layer: 0,
    content: 'second',
  },
  {
    name: 'three copies: the last',
    layers: [[file('a', '1'), file('a', '22'), file('a', '333', { uid: 3 })]],
    path: '/a',
    type: 'file',
    perm: 0o644,
    uid: 3,
    layer: 0,
    content: '333',
  },
  {
    name: 'file then symlink',
    layers: [[file('a', 'file'), symlink('a', '/target', { uid: 5 })]],
    path: '/a',
    type: 'symlink',
    perm: 0o777,
    uid: 5,
    layer: 0,
    target: '/target',
  },
  {
    name: 'symlink then file',
    layers: [[symlink('a', '/target'), file('a', 'file wins', { uid: 6 })]],
    path: '/a',
    type: 'file',
    perm: 0o644,
    uid: 6,
    layer: 0,
    content: 'file wins',
  },
  {
    name: 'file then directory',
    layers: [[file('a', 'file'), dir('a/', { mode: 0o700, uid: 7 })]],
    path: '/a',
    type: 'dir',
    perm: 0o700,
    uid: 7,
    layer: 0,
  },
  {
    name: 'directory then directory: the second metadata',
    layers: [[dir('d/', { mode: 0o700, uid: 1 }), file('d/child', 'c'), dir('d', { mode: 0o751, uid: 8 })]],
    path: '/d',
    type: 'dir',
    perm: 0o751,
    uid: 8,
    layer: 0,
  },
  {
    name: 'fifo then file',
    layers: [[fifo('p'), file('p', 'plain', { mode: 0o604 })]],
    path: '/p',
    type: 'file',
    perm: 0o604,
    uid: 0,
    layer: 0,
    content: 'plain',
  },
  {
    name: 'spelled differently (./a then a)',
    layers: [[file('./a', 'dot'), file('a', 'bare', { uid: 9 })]],
    path: '/a',
    type: 'file',
    perm: 0o644,
    uid: 9,
    layer: 0,
    content: 'bare',
  },
  {
    name: 'duplicates in an upper layer over a lower copy',
    layers: [[file('a', 'lower', { uid: 1 })], [file('a', 'upper-1', { uid: 2 }), file('a', 'upper-2', { uid: 3 })]],
    path: '/a',
    type: 'file',
    perm: 0o644,
    uid: 3,
    layer: 1,
    content: 'upper-2',
  },
  {
    name: 'a shorter later copy (no stale bytes of the longer one)',
    layers: [[file('a', 'a much longer first version'), file('a', 'short')]],
    path: '/a',
    type: 'file',
    perm: 0o644,
    uid: 0,
    layer: 0,
    content: 'short',
  },
];

describe('R2 duplicates', () => {
  it.each(cases)('$name', async ({ layers, path, type, perm, uid, layer, content, target }) => {
    const { fs } = await openLayers(layers);
    const stats = await fs.lstat(path);
    expect(stats.type).toBe(type);
    expect(stats.mode & 0o7777).toBe(perm);
    expect(stats.uid).toBe(uid);
    expect(stats.layer).toBe(layer);
    if (content !== undefined) {
      expect(stats.size).toBe(Buffer.byteLength(content));
      expect(await fs.readFile(path, 'utf8')).toBe(content);
    }
    if (target !== undefined) {
      expect(stats.target).toBe(target);
      expect(await fs.readlink(path)).toBe(target);
    }
    // One name, listed once.
    const listed = (await walkPaths(fs)).filter((p) => p === path);
    expect(listed).toEqual([path]);
  });

  it('a directory listed twice keeps the children of both mentions', async () => {
    const { fs } = await openLayers([[dir('d/'), file('d/a', 'a'), dir('d/', { mode: 0o700 }), file('d/b', 'b')]]);
    expect(await fs.readdir('/d')).toEqual(['a', 'b']);
    expect((await fs.lstat('/d')).mode & 0o7777).toBe(0o700);
  });
});
