/**
 * zstd:chunked's tar-split (64-byte footer, containers/storage 1.50 and later): the TOC lacks the
 * tar headers' user and group names and every file's offset in the tar stream; the tar-split has the
 * headers verbatim. With it, the table built at open is the plain pass's table field for field,
 * offsets included, and the TOC layer's data space is the exact tar stream.
 */
import { describe, expect, it } from 'vitest';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { openDecompressed } from '../../lib/source/codec.js';
import { LayerTable } from '../../lib/table/layer-table.js';
import { walkTar } from '../../lib/tar/walk-tar.js';
import { TocLayer } from '../../lib/toc/toc-layer.js';
import { parseTarSplit } from '../../lib/toc/tar-split.js';
import { writeZstdChunked, type FixtureEntry } from './toc-writer.js';

const ENTRIES: FixtureEntry[] = [
  { name: './', type: 'dir' },
  { name: './etc/', type: 'dir' },
  { name: './etc/motd', data: 'welcome\n', uid: 101, gid: 102 },
  { name: './srv/', type: 'dir', uid: 7 },
  { name: './srv/big.bin', data: Buffer.alloc(250_000, 'xyz') },
  { name: './srv/link', type: 'symlink', linkname: '../etc/motd' },
];

async function plainTable(blob: Buffer): Promise<LayerTable> {
  const { source } = await openDecompressed(new BufferSource(blob, 'layer'));
  return LayerTable.build(walkTar(source));
}

describe('zstd:chunked with a tar-split', () => {
  it('gives the plain pass table exactly, names and offsets included, and the exact tar stream', async () => {
    const layer = writeZstdChunked(ENTRIES, { footer: 64, chunkSize: 100_000 });
    const opening = await TocLayer.open(new BufferSource(layer.blob, 'layer'), layer.blob.length, layer.annotations);
    expect(opening.problem).toBeUndefined();
    const toc = opening.layer!;
    expect(toc.toc.tarSplit).toBeDefined();
    expect(toc.tarSize).toBe(layer.tar.length);
    const fromToc = await toc.table();
    expect(fromToc.snapshot()).toEqual((await plainTable(layer.blob)).snapshot());
    expect(fromToc.get('etc/motd')).toMatchObject({ uname: 'user101', gname: 'group102' });
    expect((await toc.content.read(0, layer.tar.length)).equals(layer.tar)).toBe(true);
  });

  it('without one (40-byte footer) the names the TOC lacks stay empty', async () => {
    const layer = writeZstdChunked(ENTRIES, { footer: 40 });
    const toc = (await TocLayer.open(new BufferSource(layer.blob, 'layer'), layer.blob.length, layer.annotations)).layer!;
    expect(toc.toc.tarSplit).toBeUndefined();
    expect((await toc.table()).get('etc/motd')).toMatchObject({ uname: '', gname: '', uid: 101 });
  });

  it('a tar-split that fails its digest makes the TOC unusable', async () => {
    const layer = writeZstdChunked(ENTRIES, { footer: 64 });
    const tampered = Buffer.from(layer.blob);
    // The tar-split frame lies between the TOC frame and the footer frame: flip its last byte.
    const footerFrame = tampered.length - 72;
    tampered[footerFrame - 1] = (tampered[footerFrame - 1] as number) ^ 0xff;
    const opening = await TocLayer.open(new BufferSource(tampered, 'layer'), tampered.length, layer.annotations);
    expect(opening.layer).toBeUndefined();
    expect(opening.format).toBe('zstd:chunked');
    expect(opening.problem).toMatchObject({ code: 'EDIGEST', message: expect.stringContaining('tar-split') as unknown });
  });

  it('a TOC that leaves out a member the tar-split has is unusable', async () => {
    const layer = writeZstdChunked(ENTRIES, { footer: 64, tamper: (toc) => toc.entries.splice(2, 1) });
    const opening = await TocLayer.open(new BufferSource(layer.blob, 'layer'), layer.blob.length, layer.annotations);
    expect(opening.problem?.message).toContain('the tar-split has /etc/motd, the TOC does not list it');
  });

  it('parses segments and file entries into offsets, and rejects what is not tar-split', () => {
    const split = parseTarSplit(
      Buffer.from('{"type":2,"payload":"AAEC","position":0}\n{"type":1,"name":"a","size":5,"payload":null,"position":1}\n{"type":2,"payload":"Aw==","position":2}\n'),
    );
    expect(split.size).toBe(9);
    expect(split.segments).toEqual([
      { offset: 0, bytes: Buffer.from([0, 1, 2]) },
      { offset: 8, bytes: Buffer.from([3]) },
    ]);
    expect(() => parseTarSplit(Buffer.from('{"type":3}\n'))).toThrow(/unknown entry type/);
    expect(() => parseTarSplit(Buffer.from('{"type":1,"size":-1}\n'))).toThrow(/file size/);
  });
});
