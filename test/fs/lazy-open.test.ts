import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectImgfsErrorSync } from '../helpers/expect-imgfs-error.js';
import { openLayers } from '../helpers/open-layers.js';
import type { LayerEntrySpec } from '../helpers/layer-tar.js';

const layers: LayerEntrySpec[][] = [
  [
    { type: 'dir', name: 'etc' },
    { type: 'file', name: 'etc/base', content: 'from the bottom' },
    { type: 'file', name: 'etc/doomed', content: 'deleted above' },
  ],
  [
    { type: 'dir', name: 'etc' },
    { type: 'file', name: 'etc/middle', content: 'middle' },
  ],
  [
    { type: 'dir', name: 'etc' },
    { type: 'file', name: 'etc/top', content: 'from the top' },
    { type: 'file', name: 'etc/.wh.doomed' },
    { type: 'symlink', name: 'etc/alias', target: 'top' },
  ],
];

const indexed = (fs: { layers: ReadonlyArray<{ entries: number | undefined }> }): boolean[] =>
  fs.layers.map((layer) => layer.entries !== undefined);

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
}

describe('lazy, top-down indexing', () => {
  it('answers a path the top layer decides without indexing the layers below', async () => {
    const { fs } = await openLayers(layers, { lazy: true });
    expect(indexed(fs)).toEqual([false, false, false]);
    expect(await fs.readFile('/etc/top', 'utf8')).toBe('from the top');
    expect(await fs.readlink('/etc/alias')).toBe('top');
    await expect(fs.stat('/etc/doomed')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(indexed(fs)).toEqual([false, false, true]);
  });

  it('goes down only as far as a path needs', async () => {
    const { fs } = await openLayers(layers, { lazy: true });
    expect(await text(fs.createReadStream('/etc/middle'))).toBe('middle');
    expect(indexed(fs)).toEqual([false, true, true]);
    expect((await fs.stat('/etc/base')).layer).toBe(0);
    expect(indexed(fs)).toEqual([true, true, true]);
  });

  it('a layer that only implies a parent needs the layers below to know where its entries land (R6)', async () => {
    // Without an entry for etc/, layer 1's etc/middle would land in /usr/etc if layer 0 had made etc
    // a symlink to usr/etc: layer 0 must be read to answer.
    const implied: LayerEntrySpec[][] = [layers[0] as LayerEntrySpec[], [{ type: 'file', name: 'etc/middle', content: 'middle' }], layers[2] as LayerEntrySpec[]];
    const { fs } = await openLayers(implied, { lazy: true });
    expect(await fs.readFile('/etc/top', 'utf8')).toBe('from the top');
    expect(indexed(fs)).toEqual([false, false, true]);
    expect(await fs.readFile('/etc/middle', 'utf8')).toBe('middle');
    expect(indexed(fs)).toEqual([true, true, true]);
  });

  it('Sync forms refuse an unindexed layer with ENOTINDEXED, and work after indexAll', async () => {
    const { fs } = await openLayers(layers, { lazy: true });
    expectImgfsErrorSync(() => fs.statSync('/etc/top'), { code: 'ENOTINDEXED', layer: 2 });
    await fs.indexAll();
    expect(fs.statSync('/etc/top').size).toBe('from the top'.length);
    expect(fs.readdirSync('/etc')).toEqual(['alias', 'base', 'middle', 'top']);
  });

  it('gives the same tree as an eager open', async () => {
    const lazy = await openLayers(layers, { lazy: true });
    const eager = await openLayers(layers);
    const tree = async (fs: typeof lazy.fs): Promise<string[]> => {
      const out: string[] = [];
      for await (const { path, stats } of fs.walk('/')) out.push(`${path} ${stats.mode} ${stats.size} ${stats.layer} ${stats.nlink}`);
      return out;
    };
    expect(await tree(lazy.fs)).toEqual(await tree(eager.fs));
  });

  it('never touches a corrupt lower layer that no question reaches', async () => {
    const broken = await openLayers(layers, { lazy: true });
    // Corrupt the bottom layer on disk: its first header checksum no longer matches.
    const bottom = join(broken.dir, 'l0.tar');
    writeFileSync(bottom, Buffer.alloc(4096, 0x41));
    expect(await broken.fs.readFile('/etc/top', 'utf8')).toBe('from the top');
    await expect(broken.fs.stat('/etc/base')).rejects.toMatchObject({ code: 'ETARCORRUPT', layer: { index: 0 } });
  });

  it('a directory whose link count needs an unreadable layer still has attributes (nlink 1: not counted); its listing fails', async () => {
    const broken = await openLayers(layers, { lazy: true });
    const bottom = join(broken.dir, 'l0.tar');
    const good = readFileSync(bottom);
    writeFileSync(bottom, Buffer.alloc(4096, 0x41));
    const etc = await broken.fs.lstat('/etc');
    expect(etc.isDirectory()).toBe(true);
    expect(etc.nlink).toBe(1);
    await expect(broken.fs.readdir('/etc')).rejects.toMatchObject({ code: 'ETARCORRUPT', layer: { index: 0 } });
    // Nothing is remembered as broken: once the layer reads again, the count is the real one.
    writeFileSync(bottom, good);
    expect((await broken.fs.lstat('/etc')).nlink).toBe(2);
  });
});

/** Four gzip layers: the three above with one more (holding `lower`) under the middle one. */
const gzipLayers: LayerEntrySpec[][] = [
  layers[0] as LayerEntrySpec[],
  [{ type: 'file', name: 'etc/lower', content: 'lower' }],
  layers[1] as LayerEntrySpec[],
  layers[2] as LayerEntrySpec[],
];

/** Waits (bounded) until `done()` holds. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('lazy indexing of compressed layers, one layer ahead', () => {
  it('a question the top layer answers indexes nothing below it', async () => {
    const { fs } = await openLayers(gzipLayers, { lazy: true, gzip: true });
    expect(await fs.readFile('/etc/top', 'utf8')).toBe('from the top');
    expect(indexed(fs)).toEqual([false, false, false, true]);
  });

  it('a question that goes below the top also indexes the next layer down, and no further', async () => {
    const { fs } = await openLayers(gzipLayers, { lazy: true, gzip: true });
    expect(await fs.readFile('/etc/middle', 'utf8')).toBe('middle');
    await until(() => indexed(fs)[1] === true);
    expect(indexed(fs)).toEqual([false, true, true, true]);
    expect(await fs.readFile('/etc/base', 'utf8')).toBe('from the bottom');
    expect(indexed(fs)).toEqual([true, true, true, true]);
  });

  it('a broken layer indexed ahead troubles no question that does not need it', async () => {
    const opened = await openLayers(gzipLayers, { lazy: true, gzip: true });
    writeFileSync(join(opened.dir, 'l1.tar.gz'), Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.alloc(200, 0xff)]));
    expect(await opened.fs.readFile('/etc/middle', 'utf8')).toBe('middle');
    expect(opened.warnings).toEqual([]);
    await expect(opened.fs.readFile('/etc/base', 'utf8')).rejects.toMatchObject({ code: 'ECOMPRESSION', layer: { index: 1 } });
  });
});
