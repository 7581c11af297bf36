/**
 * A TOC layer's table is cached like any other (TableCache), under a key of its own: its offsets
 * address the TOC's data space, so a plain layer with the same diff_id (the same tar, stored as plain
 * gzip) must never be served from it, nor the reverse.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { writeEstargz, writeOciLayer, type FixtureEntry } from './toc-writer.js';

const root = mkdtempSync(join(tmpdir(), 'imgfs-toc-cache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const BIG = Buffer.alloc(200_000, 'cache me ');
const ENTRIES: FixtureEntry[] = [{ name: 'a.txt', data: 'first\n' }, { name: 'big.bin', data: BIG }, { name: 'z.txt', data: 'last\n' }];

async function contents(dir: string, cache: string): Promise<{ compression: string | undefined; files: string[] }> {
  const fs = await openImage(dir, { cache, verify: true });
  try {
    const files = [(await fs.readFile('/a.txt')).toString(), (await fs.readFile('/z.txt')).toString(), String((await fs.readFile('/big.bin')).equals(BIG))];
    return { compression: fs.layers[0]?.compression, files };
  } finally {
    await fs.close();
  }
}

describe('TOC tables in the index cache', () => {
  it('are reused, and never mixed with a plain pass of the same tar (same diff_id)', async () => {
    const cache = join(root, 'cache');
    // With a landmark first, the tar's offsets and the TOC's data space differ (the landmark is left out of the latter).
    const estargz = writeEstargz(ENTRIES, { chunkSize: 64 * 1024, landmark: true });
    const tocImage = writeOciLayer(join(root, 'estargz'), estargz, 'application/vnd.oci.image.layer.v1.tar+gzip');
    // The same tar stream as an ordinary gzip layer: same diff_id, no footer, no annotations.
    const plainImage = writeOciLayer(join(root, 'plain'), { blob: gzipSync(estargz.tar), annotations: {}, tar: estargz.tar }, 'application/vnd.oci.image.layer.v1.tar+gzip');
    const expected = ['first\n', 'last\n', 'true'];
    for (let round = 0; round < 2; round++) {
      expect(await contents(tocImage, cache)).toEqual({ compression: 'estargz', files: expected });
      expect(await contents(plainImage, cache)).toEqual({ compression: 'gzip', files: expected });
    }
  });
});
