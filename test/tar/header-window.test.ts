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

async function entries(source: MemorySource): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of walkTar(source)) out.push(`${entry.name} ${entry.size} ${entry.dataOffset} ${entry.linkname}`);
  return out;
}

describe('HeaderWindow with a reusable buffer', () => {
  it('yields the same entries as fresh reads, and refills through readInto only', async () => {
    const specs: LayerEntrySpec[] = [];
    for (let i = 0; i < 3_000; i++) {
      // Small files read through, a long PAX name now and then, and big files jumped over.
      const name = i % 97 === 0 ? `deep/${'n'.repeat(180)}/${i}` : `dir${i % 10}/f${i}`;
      specs.push(file(name, Buffer.alloc(i % 250 === 0 ? 300_000 : i % 700, 0x61 + (i % 26))));
    }
    const tar = buildLayer(specs);
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
