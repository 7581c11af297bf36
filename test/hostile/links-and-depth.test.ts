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
import { expectOpenFails, heapUsed, put, rejection, tempDir, withinTime } from './hostile-helpers.js';

describe('hard links', () => {
  it('a self-link is dropped with a warning naming the layer and both paths', async () => {
    const { fs, warnings } = await openLayers([[file('keep', 'k'), hardlink('self', 'self')]]);
    expect(await fs.readdir('/')).toEqual(['keep']);
    expect(warnings).toEqual(['layer 0: hard link /self -> /self dropped: it links to itself']);
    await expectCode(fs.stat('/self'), 'ENOENT');
  });

  it('a cycle of hard links is dropped, each with a warning, within a time bound', async () => {
    const { fs, warnings } = await withinTime(5_000, openLayers([[hardlink('a', 'b'), hardlink('b', 'c'), hardlink('c', 'a'), file('f', 'x')]]));
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
    const { fs } = await withinTime(10_000, openLayers([entries]));
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
        const error = await withinTime(2_000, rejection(call()));
        expect(error).toBeInstanceOf(FsError);
        expect((error as FsError).code).toBe('ELOOP');
      }
    }
    expect(fs.existsSync('/self')).toBe(false);
    // A walk never follows a symlink, so a loop cannot make it endless.
    expect(await withinTime(2_000, walkPaths(fs))).toEqual(['/a', '/b', '/d', '/d/up', '/self']);
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
    const { fs } = await withinTime(20_000, openLayers([[file(path, 'deep')]]));
    expect(await fs.readFile(`/${path}`, 'utf8')).toBe('deep');
    expect((await fs.stat(`/${deep(2_500)}`)).isDirectory()).toBe(true);
    expect(await fs.realpath(`/${path}`)).toBe(`/${path}`);
    const paths = await withinTime(20_000, walkPaths(fs));
    expect(paths).toHaveLength(5_001);
    expect(fs.history(`/${path}`).visible).toBe(true);
  });

  it('5 000 explicit directories, one per level, plus a whiteout at the bottom of an upper layer', async () => {
    const entries: LayerEntrySpec[] = [];
    for (let level = 1; level <= 5_000; level++) entries.push(dir(`${deep(level)}/`));
    entries.push(file(`${deep(5_000)}/leaf`, 'x'));
    const upper = buildLayer([file(`${deep(5_000)}/.wh.leaf`, '')]);
    const { fs } = await withinTime(30_000, openLayers([entries, upper]));
    expect(await fs.readdir(`/${deep(5_000)}`)).toEqual([]);
    expect(await fs.readdir(`/${deep(4_999)}`)).toEqual(['d']);
  });

  it('a name 12 000 components deep (24 KB, limit raised) opens without exhausting the stack', async () => {
    // Deeper than V8's stack allows recursion (about 10 000 frames): indexing must be iterative.
    const path = `${deep(12_000)}/leaf`;
    const { fs, warnings } = await withinTime(
      20_000,
      openLayers([[file(path, 'deeper'), file(deep(11_999), 'a file where a directory should be')]], { limits: { maxNameLength: 32 * 1024 } }),
    );
    // `d/…/d` (11 999 deep) is a file in the same layer, so the leaf below it cannot exist and is dropped.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^layer 0: \/d\/.*\/leaf dropped: \/d\/.*\/d is a file in the same layer$/);
    expect((await fs.lstat(`/${deep(11_999)}`)).isFile()).toBe(true);
    await expectCode(fs.readFile(`/${path}`), 'ENOTDIR');
  });

  it('walking an 8 000-deep chain (the deepest the default name limit allows) stays within time and memory', async () => {
    const path = `${deep(8_000)}/leaf`;
    const before = heapUsed();
    const { fs } = await withinTime(20_000, openLayers([[file(path, 'x')]]));
    const started = Date.now();
    expect(await withinTime(20_000, walkPaths(fs))).toHaveLength(8_001);
    expect(await fs.readFile(`/${path}`, 'utf8')).toBe('x');
    expect(Date.now() - started).toBeLessThan(10_000);
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

  /** Opens one layer of `count` empty files; the time it took and the heap it added per entry. */
  async function openLarge(count: number): Promise<{ fs: ImageFS; elapsed: number; perEntry: number }> {
    const layer = writeEmptyFiles(tempDir(), count);
    const before = heapUsed();
    const started = Date.now();
    const { openImage } = await import('../../lib/index.js');
    const fs = await openImage([layer], { cache: false });
    return { fs, elapsed: Date.now() - started, perEntry: (heapUsed() - before) / count };
  }

  it('200 000 entries: indexed in bounded time, memory proportional to entries', async () => {
    const count = 200_000;
    const { fs, elapsed, perEntry } = await openLarge(count);
    try {
      expect(fs.layers[0]?.entries).toBe(count);
      expect(await fs.readdir('/f')).toHaveLength(count);
      expect((await fs.stat('/f/0001869f')).isFile()).toBe(true);
    } finally {
      await fs.close();
    }
    expect(elapsed).toBeLessThan(20_000);
    // Columns, not objects: a few hundred bytes per entry at most (path string, numbers, listing).
    expect(perEntry).toBeLessThan(600);
  });

  it.runIf(process.env.IMGFS_LARGE === '1')('1 000 000 entries (IMGFS_LARGE=1): indexed, listed, memory proportional', async () => {
    const count = 1_000_000;
    const { fs, elapsed, perEntry } = await openLarge(count);
    try {
      expect(fs.layers[0]?.entries).toBe(count);
      expect(await fs.readdir('/f')).toHaveLength(count);
    } finally {
      await fs.close();
    }
    console.log(`1M entries: indexed in ${elapsed} ms, ${Math.round(perEntry)} bytes of heap per entry`);
    expect(elapsed).toBeLessThan(60_000);
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
