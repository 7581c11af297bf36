/**
 * Header reads of a seekable source refill one reused buffer (ByteSource.readInto) instead of
 * allocating one per refill; what the walk yields must not change, PAX data and long names included.
 */
import { describe, expect, it } from 'vitest';
import { walkTar } from '../../lib/tar/walk-tar.js';
import { buildLayer, file, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { MemorySource } from './memory-source.js';

/** A MemorySource that also fills caller buffers, counting how often. */
class FillingSource extends MemorySource {
  fills = 0;
  async readInto(target: Buffer, offset: number): Promise<number> {
    this.fills++;
    const bytes = await this.read(offset, target.length);
    bytes.copy(target);
    return bytes.length;
  }
}

/** 3 000 members: small files read through, a long PAX name now and then, and big files jumped over. */
function mixedLayer(): Buffer {
  const specs: LayerEntrySpec[] = [];
  for (let i = 0; i < 3_000; i++) {
    const name = i % 97 === 0 ? `deep/${'n'.repeat(180)}/${i}` : `dir${i % 10}/f${i}`;
    specs.push(file(name, Buffer.alloc(i % 250 === 0 ? 300_000 : i % 700, 0x61 + (i % 26))));
  }
  return buildLayer(specs);
}

async function entries(source: MemorySource): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of walkTar(source)) out.push(`${entry.name} ${entry.size} ${entry.dataOffset} ${entry.linkname}`);
  return out;
}

describe('HeaderWindow with a reusable buffer', () => {
  it('yields the same entries as fresh reads, and refills through readInto only', async () => {
    const tar = mixedLayer();
    const plain = new MemorySource(tar);
    const filling = new FillingSource(tar);
    const expected = await entries(plain);
    expect(expected).toHaveLength(3_000);
    const before = filling.reads.length;
    expect(await entries(filling)).toEqual(expected);
    expect(filling.fills).toBeGreaterThan(0);
    // Every read went through readInto (whose own reads are the ones counted): none was a fresh one.
    expect(filling.reads.length - before).toBe(filling.fills);
  });
});

/** A MemorySource read synchronously (as a file is), counting the bytes those reads return. */
class SyncSource extends MemorySource {
  syncBytes = 0;
  syncReads = 0;
  constructor(private readonly tar: Buffer) {
    super(tar);
  }
  readIntoSync(target: Buffer, offset: number, length = target.length): number {
    const got = this.tar.copy(target, 0, offset, Math.min(offset + Math.min(length, target.length), this.tar.length));
    this.syncBytes += got;
    this.syncReads++;
    return got;
  }
}

describe('HeaderWindow over a source read synchronously', () => {
  it('reads header blocks, not the data of files lying far apart, and reads through dense small files', async () => {
    const specs: LayerEntrySpec[] = [];
    // 200 files of 64 KiB (their headers far apart), then 2 000 files of under 1 KiB (headers dense).
    for (let i = 0; i < 200; i++) specs.push(file(`big/f${i}`, Buffer.alloc(64 * 1024, 0x62)));
    for (let i = 0; i < 2_000; i++) specs.push(file(`small/f${i}`, Buffer.alloc(i % 900, 0x73)));
    const tar = buildLayer(specs);
    const source = new SyncSource(tar);
    expect(await entries(source)).toEqual(await entries(new MemorySource(tar)));
    const bigPart = 200 * (64 * 1024 + 512);
    // The big files' data is ~13 MB: what is read stays near one small window per header there, plus the
    // dense part read through once.
    expect(source.syncBytes).toBeLessThan(200 * 8 * 1024 + (tar.length - bigPart) * 1.5);
    // Read through, the dense part costs far fewer reads than it has headers.
    expect(source.syncReads).toBeLessThan(200 + 2_000 / 4);
  });
});

/** A non-seekable MemorySource that hands out views of 64 KiB "spans", as a decompressed layer does. */
class SpanViewSource extends MemorySource {
  views = 0;
  constructor(private readonly tar: Buffer) {
    super(tar, { seekable: false, sizeKnown: false });
  }
  async readView(offset: number): Promise<Buffer> {
    this.views++;
    const spanEnd = (Math.floor(offset / 65_536) + 1) * 65_536;
    return this.tar.subarray(Math.min(offset, this.tar.length), Math.min(spanEnd, this.tar.length));
  }
}

describe('HeaderWindow over a source read synchronously, and the event loop', () => {
  it('gives the event loop turns during a long walk', async () => {
    // 1 500 files of 64 KiB: one synchronous read per header, never a read-through.
    const tar = buildLayer(Array.from({ length: 1_500 }, (_, i) => file(`big/f${i}`, Buffer.alloc(64 * 1024, 0x62))));
    let turns = 0;
    let walked = 0;
    const tick = (): void => {
      turns++;
      if (walked < 1_500) setImmediate(tick);
    };
    setImmediate(tick);
    for await (const _ of walkTar(new SyncSource(tar))) walked++;
    expect(walked).toBe(1_500);
    // Without turns given back, the walk would run to its end before the first tick.
    expect(turns).toBeGreaterThan(2);
  });
});

describe('HeaderWindow over a source that lends views of its spans', () => {
  it('yields the same entries, copying only what straddles two spans', async () => {
    const tar = mixedLayer();
    const source = new SpanViewSource(tar);
    expect(await entries(source)).toEqual(await entries(new MemorySource(tar)));
    expect(source.views).toBeGreaterThan(30); // spans that only hold file data are jumped over
    // Copies (read) only for the few PAX records that cross a span boundary, and the end check.
    expect(source.reads.length).toBeLessThan(10);
  });
});
