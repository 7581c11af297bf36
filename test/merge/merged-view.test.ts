import { describe, expect, it } from 'vitest';
import type { TarEntry, TarEntryType } from '../../lib/tar/tar-entry.js';
import { LayerTable } from '../../lib/table/layer-table.js';
import { MergedView, sameMember } from '../../lib/merge/merged-view.js';
import { resolvePath } from '../../lib/merge/resolve-path.js';
import { layerChanges, pathHistory } from '../../lib/merge/layer-changes.js';

/** A member spec: `name` plus the type and whatever fields the case cares about. */
type Spec = { name: string; type?: TarEntryType; linkname?: string; mode?: number; size?: number; uid?: number; mtime?: number };

function member(spec: Spec, ordinal: number): TarEntry {
  return {
    name: spec.name,
    type: spec.type ?? (spec.name.endsWith('/') ? 'directory' : 'file'),
    typeflag: '0',
    mode: spec.mode ?? 0o644,
    uid: spec.uid ?? 0,
    gid: 0,
    uname: '',
    gname: '',
    size: spec.size ?? 0,
    mtimeMs: (spec.mtime ?? 0) * 1000,
    linkname: spec.linkname ?? '',
    devmajor: 0,
    devminor: 0,
    xattrs: {},
    headerOffset: ordinal * 1024,
    dataOffset: ordinal * 1024 + 512,
  };
}

async function view(...layers: Spec[][]): Promise<{ view: MergedView; warnings: string[] }> {
  const warnings: string[] = [];
  const indexes = await Promise.all(
    layers.map(async (specs) => {
      async function* members(): AsyncGenerator<TarEntry> {
        for (const [i, spec] of specs.entries()) yield member(spec, i);
      }
      return LayerTable.build(members(), { onWarning: (w) => warnings.push(w.message) });
    }),
  );
  return { view: new MergedView(indexes, (w) => warnings.push(w.message)), warnings };
}

/** Every visible path, pre-order, as `path:kind@layer`. */
function tree(v: MergedView, dir = ''): string[] {
  const out: string[] = [];
  for (const name of v.children(dir)) {
    const path = dir === '' ? name : `${dir}/${name}`;
    const node = v.lookup(path);
    out.push(`${path}:${node?.kind}@${node?.layer}`);
    if (node?.kind === 'dir') out.push(...tree(v, path));
  }
  return out;
}

describe('MergedView (table of overlay cases)', () => {
  const cases: Array<{ name: string; layers: Spec[][]; expected: string[] }> = [
    {
      name: 'whiteout hides the lower subtree, not its own layer, whatever the order',
      layers: [
        [{ name: 'a/' , type: 'directory' }, { name: 'a/x' }, { name: 'a/y/' }, { name: 'a/y/z' }, { name: 'b' }],
        [{ name: 'a/.wh.y' }, { name: 'b' }, { name: '.wh.b' }, { name: 'a/.wh.x' }, { name: 'a/x', size: 3 }],
      ],
      expected: ['a:dir@0', 'a/x:file@1', 'b:file@1'],
    },
    {
      name: 'opaque directory hides lower children but stays',
      layers: [
        [{ name: 'd/' }, { name: 'd/old' }, { name: 'd/sub/' }, { name: 'd/sub/deep' }, { name: 'e' }],
        [{ name: 'd/', mode: 0o700 }, { name: 'd/.wh..wh..opq' }, { name: 'd/new' }, { name: 'd/.wh..wh.plnk' }],
      ],
      expected: ['d:dir@1', 'd/new:file@1', 'e:file@0'],
    },
    {
      name: 'file replaces a directory and its subtree; directory replaces a file',
      layers: [
        [{ name: 'x/' }, { name: 'x/inner' }, { name: 'y' }],
        [{ name: 'x' }, { name: 'y/' }, { name: 'y/child' }],
      ],
      expected: ['x:file@1', 'y:dir@1', 'y/child:file@1'],
    },
    {
      name: 'implicit parent replaces a lower file and takes lower directory metadata',
      layers: [
        [{ name: 'p' }, { name: 'q/', mode: 0o711 }],
        [{ name: 'p/f' }, { name: 'q/g' }],
      ],
      expected: ['p:dir@1', 'p/f:file@1', 'q:dir@0', 'q/g:file@1'],
    },
    {
      name: 'names are normalised and duplicates keep the last member',
      layers: [[{ name: './a//b/../c', size: 1 }, { name: '/a/c', size: 2 }, { name: '../../top', size: 5 }]],
      expected: ['a:dir@0', 'a/c:file@0', 'top:file@0'],
    },
  ];
  for (const testCase of cases) {
    it(testCase.name, async () => {
      const { view: v } = await view(...testCase.layers);
      expect(tree(v)).toEqual(testCase.expected);
    });
  }

  it('an implicit directory over a lower file uses default metadata, over a lower dir its metadata', async () => {
    const { view: v } = await view([{ name: 'p' }, { name: 'q/', mode: 0o711 }], [{ name: 'p/f' }, { name: 'q/g' }]);
    expect(v.lookup('p')?.entry).toBeUndefined();
    expect(v.lookup('q')?.entry?.mode).toBe(0o711);
  });

  it('a duplicate member keeps the later content size', async () => {
    const { view: v } = await view([{ name: 'a', size: 1 }, { name: './a', size: 9 }]);
    expect(v.lookup('a')?.entry?.size).toBe(9);
  });
});

describe('MergedView hard links (R7)', () => {
  it('resolves against the view up to its own layer and survives deletion of the target above', async () => {
    const { view: v } = await view(
      [{ name: 'orig', size: 4 }],
      [{ name: 'link', type: 'hardlink', linkname: './orig' }],
      [{ name: '.wh.orig' }],
    );
    expect(v.lookup('orig')).toBeUndefined();
    const link = v.lookup('link');
    expect(link?.kind).toBe('file');
    expect(link?.entry?.size).toBe(4);
    expect(link?.layer).toBe(0);
    expect(v.linkCount(link!)).toBe(1);
  });

  it('counts names sharing an inode and drops links without targets, with a warning', async () => {
    const { view: v, warnings } = await view(
      [{ name: 'a', size: 2 }, { name: 'b', type: 'hardlink', linkname: 'a' }],
      [{ name: 'c', type: 'hardlink', linkname: 'a' }, { name: 'dangling', type: 'hardlink', linkname: 'nowhere' }],
    );
    expect(v.linkCount(v.lookup('a')!)).toBe(3);
    expect(sameMember(v.lookup('c')!, v.lookup('a')!)).toBe(true);
    expect(sameMember(v.lookup('b')!, v.lookup('c')!)).toBe(true);
    expect(v.lookup('dangling')).toBeUndefined();
    expect(warnings.join('\n')).toMatch(/layer 1: hard link \/dangling -> \/nowhere dropped: target not found/);
  });

  it('breaks hard-link cycles', async () => {
    const { view: v, warnings } = await view([
      { name: 'x', type: 'hardlink', linkname: 'y' },
      { name: 'y', type: 'hardlink', linkname: 'x' },
      { name: 's', type: 'hardlink', linkname: 's' },
    ]);
    expect(v.lookup('x')).toBeUndefined();
    expect(v.lookup('s')).toBeUndefined();
    expect(warnings.length).toBeGreaterThan(0);
  });
});

describe('resolvePath (R8)', () => {
  const layers: Spec[][] = [
    [
      { name: 'etc/passwd', size: 10 },
      { name: 'abs', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'rel', type: 'symlink', linkname: 'etc/passwd' },
      { name: 'escape', type: 'symlink', linkname: '../../../../etc/passwd' },
      { name: 'dirlink', type: 'symlink', linkname: '/etc' },
      { name: 'loop1', type: 'symlink', linkname: 'loop2' },
      { name: 'loop2', type: 'symlink', linkname: 'loop1' },
      { name: 'dangling', type: 'symlink', linkname: '/nope' },
    ],
  ];

  it.each([
    ['/abs', true, 'etc/passwd'],
    ['/rel', true, 'etc/passwd'],
    ['/escape', true, 'etc/passwd'],
    ['/dirlink/passwd', false, 'etc/passwd'],
    ['/dirlink/../abs', true, 'etc/passwd'],
    ['/../../etc/passwd', true, 'etc/passwd'],
    ['/abs', false, 'abs'],
  ])('%s (follow last: %s) → /%s', async (input, follow, expected) => {
    const { view: v } = await view(...layers);
    const result = resolvePath(v, input, follow);
    expect(result.ok && result.path).toBe(expected);
  });

  it.each([
    ['/loop1', 'ELOOP'],
    ['/dangling', 'ENOENT'],
    ['/etc/passwd/x', 'ENOTDIR'],
    ['/etc/passwd/', 'ENOTDIR'],
    ['/missing', 'ENOENT'],
  ])('%s fails with %s', async (input, code) => {
    const { view: v } = await view(...layers);
    const result = resolvePath(v, input, true);
    expect(result.ok ? 'ok' : result.code).toBe(code);
  });

  it('follows 40 links and refuses the 41st (DESIGN.md R8, as Linux)', async () => {
    const chain = (n: number): Spec[] => [
      { name: 'target', size: 1 },
      ...Array.from({ length: n }, (_, i) => ({ name: `l${i}`, type: 'symlink' as const, linkname: i === n - 1 ? 'target' : `l${i + 1}` })),
    ];
    const forty = await view(chain(40));
    expect(resolvePath(forty.view, '/l0', true).ok).toBe(true);
    const fortyOne = await view(chain(41));
    const result = resolvePath(fortyOne.view, '/l0', true);
    expect(result.ok ? 'ok' : result.code).toBe('ELOOP');
  });
});

describe('history and changes', () => {
  it('reports added, metadata, modified, deleted and hidden per layer', async () => {
    const { view: v } = await view(
      [{ name: 'd/' }, { name: 'd/f', size: 3, mtime: 10 }],
      [{ name: 'd/f', size: 3, mtime: 10, mode: 0o755 }],
      [{ name: 'd/f', size: 4, mtime: 11 }],
      [{ name: 'd/.wh..wh..opq' }],
      [{ name: 'd/f', size: 1 }],
      [{ name: 'd/.wh.f' }],
    );
    expect(pathHistory(v, '/d/f').steps.map((s) => s.action)).toEqual([
      'added',
      'metadata',
      'modified',
      'hidden',
      'added',
      'deleted',
    ]);
    const changes = layerChanges(v, 5);
    expect(changes.deleted).toEqual(['/d/f']);
    expect(layerChanges(v, 0).added).toEqual(['/d', '/d/f']);
    expect(layerChanges(v, 3).deleted).toEqual(['/d/f']);
  });
});

describe('makedev', () => {
  it('encodes device numbers as glibc does, beyond 32 bits too', async () => {
    const { makedev } = await import('../../lib/fs/image-stats.js');
    expect(makedev(1, 3)).toBe(0x103); // /dev/null
    expect(makedev(8, 17)).toBe(0x811);
    expect(makedev(4095, 255)).toBe(0xfffff);
    expect(makedev(0, 256)).toBe(2 ** 20);
    expect(makedev(4096, 0)).toBe(2 ** 44);
  });
});
