import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DecodeContext, RawInput } from '../../lib/source/inflater.js';
import { zstdInflater } from '../../lib/source/zstd-inflater.js';
import { KeptMembers, MAX_KEPT_BYTES } from '../../lib/layer/kept-members.js';
import type { TarEntry } from '../../lib/tar/tar-entry.js';
import type { TableEntry } from '../../lib/table/layer-table.js';
import { buildLayer, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { openLayers } from '../helpers/open-layers.js';
import { collect, compressibleBytes, zstdCompress } from '../source/helpers.js';

const MiB = 1024 * 1024;

/**
 * The bottom layer: files near its start, then 11 MiB of filler, as one zstd frame (no checkpoint
 * inside it). Seven small layers above make each layer's share of the span cache 8 MiB, so that once
 * the pass has reached the end, the files near the start are no longer in memory.
 */
const early = compressibleBytes(200_000, 3);
const large = compressibleBytes(MAX_KEPT_BYTES + 1, 4);
const bottom: LayerEntrySpec[] = [
  { type: 'dir', name: 'etc' },
  { type: 'file', name: 'etc/twice', content: 'first copy' },
  { type: 'file', name: 'etc/early', content: early },
  { type: 'file', name: 'etc/large', content: large },
  { type: 'dir', name: 'real' },
  { type: 'file', name: 'real/linked', content: 'through a symlinked parent' },
  { type: 'file', name: 'etc/twice', content: 'second copy' },
  { type: 'file', name: 'filler', content: compressibleBytes(11 * MiB, 5) },
];
const tops: LayerEntrySpec[][] = Array.from({ length: 7 }, (_, i) => [{ type: 'file', name: `top${i}`, content: `layer ${i + 1}` }]);
tops[0]?.push({ type: 'symlink', name: 'alias', target: 'real' });

let layers: Buffer[];
beforeAll(() => {
  layers = [bottom, ...tops].map((entries) => zstdCompress(buildLayer(entries)));
});

/** Decoders started per layer file (each from the start of its single frame). */
function countDecoders(): Map<string, number> {
  const started = new Map<string, number>();
  const decode = zstdInflater.decode.bind(zstdInflater);
  vi.spyOn(zstdInflater, 'decode').mockImplementation((input: RawInput, context: DecodeContext) => {
    started.set(context.name, (started.get(context.name) ?? 0) + 1);
    return decode(input, context);
  });
  return started;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the data of the file asked for, kept by the pass (one decode per layer)', () => {
  it('reads a file the span cache no longer holds without decoding its layer a second time', async () => {
    const decoders = countDecoders();
    const { fs, paths } = await openLayers(layers, { lazy: true });
    expect((await fs.readFile('/etc/early')).equals(early)).toBe(true);
    expect(decoders.get(paths[0] as string)).toBe(1);
  });

  it('does the same for a stream (what `cat` uses)', async () => {
    const decoders = countDecoders();
    const { fs, paths } = await openLayers(layers, { lazy: true });
    expect((await collect(fs.createReadStream('/etc/early'))).equals(early)).toBe(true);
    expect(decoders.get(paths[0] as string)).toBe(1);
  });

  it('serves the last of two members of one name', async () => {
    const decoders = countDecoders();
    const { fs, paths } = await openLayers(layers, { lazy: true });
    expect(await fs.readFile('/etc/twice', 'utf8')).toBe('second copy');
    expect(decoders.get(paths[0] as string)).toBe(1);
  });

  it('still reads what it does not keep: a file over the bound, one reached through a symlinked parent', async () => {
    const decoders = countDecoders();
    const { fs, paths } = await openLayers(layers, { lazy: true });
    expect((await fs.readFile('/etc/large')).equals(large)).toBe(true);
    expect(decoders.get(paths[0] as string)).toBe(2); // decoded again up to it: nothing kept
    expect(await fs.readFile('/alias/linked', 'utf8')).toBe('through a symlinked parent');
  });
});

describe('KeptMembers', () => {
  const member = (name: string, dataOffset: number, size: number): TarEntry => ({ name, type: 'file', size, dataOffset }) as TarEntry;
  const entry = (dataOffset: number, size: number): TableEntry => ({ dataOffset, size }) as TableEntry;

  it('wants the path in the forms a tar stores it, regular files only, within its bound', () => {
    const kept = new KeptMembers();
    expect(kept.watching).toBe(false);
    kept.want('etc/hosts');
    for (const name of ['etc/hosts', './etc/hosts', '/etc/hosts']) expect(kept.wants(member(name, 512, 10))).toBe(true);
    expect(kept.wants(member('etc/hostsx', 512, 10))).toBe(false);
    expect(kept.wants({ ...member('etc/hosts', 512, 0), type: 'symlink' })).toBe(false);
    expect(kept.wants(member('etc/hosts', 512, MAX_KEPT_BYTES + 1))).toBe(false);
  });

  it('keeps no more than the budget it is given (the layer share of the decoded bytes an image keeps)', () => {
    const kept = new KeptMembers(1000);
    kept.want('a');
    expect(kept.wants(member('a', 512, 1001))).toBe(false);
    kept.keep(member('a', 512, 1001), Buffer.alloc(1001));
    expect(kept.read(entry(512, 1001), 0, 1)).toBeUndefined();
    expect(kept.wants(member('a', 512, 1000))).toBe(true);
    expect(new KeptMembers(0).wants(member('a', 512, 1))).toBe(false);
  });

  it('keeps at most MAX_KEPT_BYTES, serves copies by data offset, and forgets the oldest of too many paths', () => {
    const kept = new KeptMembers();
    kept.want('a');
    const big = member('a', 512, MAX_KEPT_BYTES - 10);
    kept.keep(big, Buffer.alloc(big.size, 1));
    expect(kept.wants(member('a', 99 * 512, 11))).toBe(false); // over what is left
    kept.keep(member('a', 99 * 512, 11), Buffer.alloc(11, 2));
    expect(kept.read(entry(99 * 512, 11), 0, 11)).toBeUndefined();
    const copy = kept.read(entry(512, big.size), 5, 3) as Buffer;
    copy.fill(9);
    expect(kept.read(entry(512, big.size), 5, 3)).toEqual(Buffer.alloc(3, 1));
    kept.keep(member('a', 200 * 512, 4), Buffer.alloc(3)); // cut short: not kept
    expect(kept.read(entry(200 * 512, 4), 0, 4)).toBeUndefined();
    for (let i = 0; i < 16; i++) kept.want(`p${i}`);
    expect(kept.wants(member('a', 300 * 512, 1))).toBe(false);
    expect(kept.wants(member('p15', 300 * 512, 11))).toBe(false); // over what is left
    kept.clear();
    expect(kept.wants(member('p15', 300 * 512, 11))).toBe(true);
    expect(kept.read(entry(512, big.size), 0, 1)).toBeUndefined();
  });
});
