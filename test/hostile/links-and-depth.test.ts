/**
 * Hostile shapes of a layer's tree: hard-link cycles and self-links (dropped with a warning), symlink
 * chains and loops (ELOOP, never a hang), paths thousands of components deep (no recursion limit hit),
 * and layers with very many entries (memory proportional to entries, maxEntries enforced).
 */
import { describe, expect, it } from 'vitest';
import { FsError, type ImageFS } from '../../lib/index.js';
import { buildLayer, dir, file, hardlink, symlink, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { openLayers, walkPaths } from '../helpers/open-layers.js';
import { expectCode } from '../helpers/expect-fs-error.js';
import { expectOpenFails, heapUsed, put, rejection, tempDir } from './hostile-helpers.js';
import { imgfs } from '../cli/run-cli.js';

describe('hard links', () => {
  it('a self-link is dropped with a warning naming the layer and both paths', async () => {
    const { fs, warnings } = await openLayers([[file('keep', 'k'), hardlink('self', 'self')]]);
    expect(await fs.readdir('/')).toEqual(['keep']);
    expect(warnings).toEqual(['layer 0: hard link /self -> /self dropped: it links to itself']);
    await expectCode(fs.stat('/self'), 'ENOENT');
  });

  it('a cycle of hard links is dropped, each with a warning', async () => {
    const { fs, warnings } = await openLayers([[hardlink('a', 'b'), hardlink('b', 'c'), hardlink('c', 'a'), file('f', 'x')]]);
    expect(await fs.readdir('/')).toEqual(['f']);
    expect(warnings.length).toBeGreaterThanOrEqual(3);
    for (const name of ['a', 'b', 'c']) expect(warnings.some((w) => w.startsWith(`layer 0: hard link /${name} -> `))).toBe(true);
    expect(warnings.every((w) => /dropped: (hard links form a cycle|target not found)$/.test(w))).toBe(true);
  });

  it('a self-link over a lower file leaves the lower file visible', async () => {
    const { fs, warnings } = await openLayers([[file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n')], [hardlink('etc/passwd', 'etc/passwd')]]);
    expect(await fs.readFile('/etc/passwd', 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
    expect(warnings).toEqual(['layer 1: hard link /etc/passwd -> /etc/passwd dropped: it links to itself']);
  });

  it('links to a directory, to a missing path, and out of the root are dropped', async () => {
    const { fs, warnings } = await openLayers([[dir('d/'), hardlink('to-dir', 'd'), hardlink('missing', 'nope'), hardlink('escape', '../../../etc/passwd')]]);
    expect(await fs.readdir('/')).toEqual(['d']);
    expect(warnings.sort()).toEqual([
      'layer 0: hard link /escape -> /etc/passwd dropped: target not found',
      'layer 0: hard link /missing -> /nope dropped: target not found',
      'layer 0: hard link /to-dir -> /d dropped: target is a directory',
    ]);
  });

  it('10 000 links to one file share it, and nlink counts them', async () => {
    const entries: LayerEntrySpec[] = [file('target', 'shared')];
    for (let i = 0; i < 10_000; i++) entries.push(hardlink(`links/l${i}`, 'target'));
    const { fs } = await openLayers([entries]);
    const stats = await fs.stat('/links/l9999');
    expect(stats.nlink).toBe(10_001);
    expect(await fs.readFile('/links/l0', 'utf8')).toBe('shared');
  });
});

describe('symlinks', () => {
  it('a chain of 40 links resolves; 41 is ELOOP', async () => {
    const entries: LayerEntrySpec[] = [file('end', 'reached')];
    for (let i = 0; i < 41; i++) entries.push(symlink(`s${i}`, i === 0 ? 'end' : `s${i - 1}`));
    const { fs } = await openLayers([entries]);
    expect(await fs.readFile('/s39', 'utf8')).toBe('reached');
    for (const call of [() => fs.readFile('/s40'), () => fs.stat('/s40'), () => fs.realpath('/s40'), () => fs.readdir('/s40')]) {
      await expectCode(call, 'ELOOP');
    }
    expect((await fs.lstat('/s40')).isSymbolicLink()).toBe(true);
  });

  it('self-links, two-link loops and loops through directories are ELOOP for every following call', async () => {
    const { fs } = await openLayers([[symlink('self', 'self'), symlink('a', 'b'), symlink('b', '/a'), dir('d/'), symlink('d/up', '..')]]);
    for (const path of ['/self', '/a', '/b/x', `/d${'/up/d'.repeat(50)}/up`]) {
      for (const call of [() => fs.stat(path), () => fs.readFile(path), () => fs.realpath(path)]) {
        const error = await rejection(call());
        expect(error).toBeInstanceOf(FsError);
        expect((error as FsError).code).toBe('ELOOP');
      }
    }
    expect(fs.existsSync('/self')).toBe(false);
    // A walk never follows a symlink, so a loop cannot make it endless.
    expect(await walkPaths(fs)).toEqual(['/a', '/b', '/d', '/d/up', '/self']);
  });

  it('symlinks pointing out of the root stay inside it', async () => {
    const { fs } = await openLayers([[file('etc/passwd', 'image passwd\n'), symlink('abs', '/etc/passwd'), symlink('up', '../../../../../etc/passwd'), symlink('host', '/proc/self/environ')]]);
    expect(await fs.readFile('/abs', 'utf8')).toBe('image passwd\n');
    expect(await fs.readFile('/up', 'utf8')).toBe('image passwd\n');
    expect(await fs.realpath('/up')).toBe('/etc/passwd');
    await expectCode(fs.readFile('/host'), 'ENOENT');
  });
});

describe('deep paths', () => {
  const deep = (depth: number): string => Array.from({ length: depth }, () => 'd').join('/');

  it('a file 5 000 directories deep (parents implied) is served, walked and resolved', async () => {
    const path = `${deep(5_000)}/leaf`;
    const { fs } = await openLayers([[file(path, 'deep')]]);
    expect(await fs.readFile(`/${path}`, 'utf8')).toBe('deep');
    expect((await fs.stat(`/${deep(2_500)}`)).isDirectory()).toBe(true);
    expect(await fs.realpath(`/${path}`)).toBe(`/${path}`);
    const paths = await walkPaths(fs);
    expect(paths).toHaveLength(5_001);
    expect(fs.history(`/${path}`).visible).toBe(true);
  });

  it('5 000 explicit directories, one per level, plus a whiteout at the bottom of an upper layer', async () => {
    const entries: LayerEntrySpec[] = [];
    for (let level = 1; level <= 5_000; level++) entries.push(dir(`${deep(level)}/`));
    entries.push(file(`${deep(5_000)}/leaf`, 'x'));
    const upper = buildLayer([file(`${deep(5_000)}/.wh.leaf`, '')]);
    const { fs } = await openLayers([entries, upper]);
    expect(await fs.readdir(`/${deep(5_000)}`)).toEqual([]);
    expect(await fs.readdir(`/${deep(4_999)}`)).toEqual(['d']);
  });

  it('a name 12 000 components deep (24 KB, limit raised) opens without exhausting the stack', async () => {
    // Deeper than V8's stack allows recursion (about 10 000 frames): indexing must be iterative.
    const path = `${deep(12_000)}/leaf`;
    const { fs, warnings } = await openLayers([[file(path, 'deeper'), file(deep(11_999), 'a file where a directory should be')]], { limits: { maxNameLength: 32 * 1024 } });
    // `d/…/d` (11 999 deep) is a file in the same layer, so the leaf below it cannot exist and is dropped.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^layer 0: \/d\/.*\/leaf dropped: \/d\/.*\/d is a file in the same layer$/);
    expect((await fs.lstat(`/${deep(11_999)}`)).isFile()).toBe(true);
    await expectCode(fs.readFile(`/${path}`), 'ENOTDIR');
  });

  it('walking an 8 000-deep chain (the deepest the default name limit allows) stays within memory', async () => {
    const path = `${deep(8_000)}/leaf`;
    const before = heapUsed();
    const { fs } = await openLayers([[file(path, 'x')]]);
    expect(await walkPaths(fs)).toHaveLength(8_001);
    expect(await fs.readFile(`/${path}`, 'utf8')).toBe('x');
    // Path work is quadratic in depth: 8 000 levels of 2 bytes keep about 64 MB of path strings.
    expect(heapUsed() - before).toBeLessThan(256 * 1024 * 1024);
  });

  it('a path longer than maxNameLength is ELIMIT naming the option', async () => {
    const tmp = tempDir();
    const layer = put(tmp, 'l0.tar', buildLayer([file(`${deep(9_000)}/leaf`, 'x')]));
    const error = await expectOpenFails([layer], { code: 'ELIMIT', layer: 0, offset: 0, message: 'member name of 18004 bytes exceeds maxNameLength (16384)' });
    expect(error.message).toContain('raise the maxNameLength option');
  });
});

describe('a 3 000-deep directory chain through every walker', () => {
  // Deep enough that resolving every child from the root (O(depth²) lookups per level) cannot finish
  // within the test timeout; the bench's `ls -R` row times 5 000 levels.
  const depth = 3_000;
  const chain = (levels: number): string => Array.from({ length: levels }, () => 'c').join('/');
  const entries = (): LayerEntrySpec[] => {
    const list: LayerEntrySpec[] = [];
    for (let level = 1; level <= depth; level++) list.push(dir(`${chain(level)}/`));
    list.push(file(`${chain(depth)}/leaf`, 'bottom'), symlink(`${chain(depth)}/up`, '../../..'));
    return list;
  };


  it('ls -R and find list every level; the CLI resolves each child from its parent, not from the root', async () => {
    const layer = put(tempDir(), 'deep.tar', buildLayer(entries()));
    const listed = await imgfs(['ls', '-R', layer, '/']);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    // One `DIR:` header per directory (the root and 5 000 levels); each level lists its one child.
    const headers = listed.stdout.split('\n').filter((line) => line.endsWith(':'));
    expect(headers).toHaveLength(depth + 1);
    expect(headers[depth]).toBe(`/${chain(depth)}:`);
    expect(listed.stdout.endsWith(`/${chain(depth)}:\nleaf\nup\n`)).toBe(true);
    const found = await imgfs(['find', '--type', 'f,l', layer, '/']);
    expect(found.code).toBe(0);
    expect(found.stdout).toBe(`/${chain(depth)}/leaf\n/${chain(depth)}/up\n`);
  });

  it('walk and the fs adapter reach the bottom; a symlink at the bottom resolves relative to it', async () => {
    const { fs } = await openLayers([entries()]);
    const walked = await walkPaths(fs);
    expect(walked).toHaveLength(depth + 2);
    expect(walked[depth + 1]).toBe(`/${chain(depth)}/up`);
    // A recursive copy through the adapter: readdir with types, lstat of each child, level by level.
    const adapter = fs.asNodeFs();
    let at = '/';
    let levels = 0;
    for (;;) {
      const children = await adapter.promises.readdir(at, { withFileTypes: true });
      const sub = children.find((child) => child.isDirectory());
      for (const child of children) expect((await adapter.promises.lstat(`${at === '/' ? '' : at}/${child.name}`)).isDirectory()).toBe(child.isDirectory());
      if (sub === undefined) break;
      at = `${at === '/' ? '' : at}/${sub.name}`;
      levels++;
    }
    expect(levels).toBe(depth);
    expect(await adapter.promises.readFile(`${at}/leaf`, 'utf8')).toBe('bottom');
    // `up` climbs three levels from the bottom, to level depth - 3.
    expect(await adapter.promises.realpath(`${at}/up`)).toBe(`/${chain(depth - 3)}`);
    expect((await adapter.promises.stat(`${at}/up/c/c/c/leaf`)).size).toBe('bottom'.length);
  });
});

describe('many entries', () => {
  /** A tar of `count` empty files, written header by header (buildLayer would hold them all as specs). */
  function emptyFiles(count: number): Buffer {
    const template = buildLayer([file('f/00000000', '')], { endBlocks: 0 });
    const out = Buffer.alloc((count + 2) * 512);
    for (let i = 0; i < count; i++) {
      const header = out.subarray(i * 512, i * 512 + 512);
      template.copy(header);
      header.write(`f/${i.toString(16).padStart(8, '0')}`, 0, 'latin1');
      // Checksum: the template's plus what the name change added.
      let sum = 0;
      header.fill(0x20, 148, 156);
      for (let b = 0; b < 512; b++) sum += header[b] as number;
      header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    }
    return out;
  }

  /** Writes the tar and drops it, so that memory measured afterwards is the index's alone. */
  function writeEmptyFiles(tmp: string, count: number): string {
    return put(tmp, 'many.tar', emptyFiles(count));
  }

  /** Opens one layer of `count` empty files; the heap it added per entry. */
  async function openLarge(count: number): Promise<{ fs: ImageFS; perEntry: number }> {
    const layer = writeEmptyFiles(tempDir(), count);
    const before = heapUsed();
    const { openImage } = await import('../../lib/index.js');
    const fs = await openImage([layer], { cache: false });
    return { fs, perEntry: (heapUsed() - before) / count };
  }

  it('200 000 entries: indexed, memory proportional to entries', async () => {
    const count = 200_000;
    const { fs, perEntry } = await openLarge(count);
    try {
      expect(fs.layers[0]?.entries).toBe(count);
      expect(await fs.readdir('/f')).toHaveLength(count);
      expect((await fs.stat('/f/0001869f')).isFile()).toBe(true);
    } finally {
      await fs.close();
    }
    // Columns, not objects: a few hundred bytes per entry at most (path string, numbers, listing).
    expect(perEntry).toBeLessThan(600);
  });

  it.runIf(process.env.IMGFS_LARGE === '1')('1 000 000 entries (IMGFS_LARGE=1): indexed, listed, memory proportional', async () => {
    const count = 1_000_000;
    const { fs, perEntry } = await openLarge(count);
    try {
      expect(fs.layers[0]?.entries).toBe(count);
      expect(await fs.readdir('/f')).toHaveLength(count);
    } finally {
      await fs.close();
    }
    expect(perEntry).toBeLessThan(600);
  }, 180_000);

  it('more entries than limits.maxEntries is ELIMIT naming the option and the offset', async () => {
    const tmp = tempDir();
    const layer = put(tmp, 'many.tar', emptyFiles(1_000));
    const error = await expectOpenFails([put(tmp, 'base.tar', buildLayer([file('a', 'a')])), layer], {
      code: 'ELIMIT',
      layer: 1,
      offset: 500 * 512,
      archive: layer,
      message: 'layer has more than 500 entries; raise the limit with option maxEntries',
    }, { limits: { maxEntries: 500 } });
    expect(error.reason).toContain('maxEntries');
  });
});
