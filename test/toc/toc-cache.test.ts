/**
 * A TOC layer's table is cached like any other (TableCache), under a key of its own: its offsets
 * address the TOC's data space, so a plain layer with the same diff_id (the same tar, stored as plain
 * gzip) must never be served from it, nor the reverse. Beside it, the TOC's summary (toc-summary.ts):
 * a warm open reads neither the TOC nor parses it.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { TocLayer } from '../../lib/toc/toc-layer.js';
import { writeEstargz, writeOciLayer, writeZstdChunked, type FixtureEntry } from './toc-writer.js';

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

describe("a TOC layer's summary in the index cache", () => {
  it.each([
    ['estargz', (entries: FixtureEntry[]) => writeEstargz(entries, { chunkSize: 64 * 1024, landmark: true }), 'application/vnd.oci.image.layer.v1.tar+gzip'],
    ['zstd:chunked', (entries: FixtureEntry[]) => writeZstdChunked(entries, { chunkSize: 64 * 1024 }), 'application/vnd.oci.image.layer.v1.tar+zstd'],
  ] as const)('%s: a warm open reads no TOC (its bytes wiped, the file identity kept), a damaged summary is dropped', async (format, write, mediaType) => {
    const cache = join(root, `summary-${format.replace(':', '-')}`);
    const layer = write(ENTRIES);
    const image = writeOciLayer(join(root, `summary-image-${format.replace(':', '-')}`), layer, mediaType);
    const open = async (): Promise<{ compression: string | undefined; files: string[]; warnings: string[] }> => {
      const warnings: string[] = [];
      const fs = await openImage(image, { cache, onWarning: (warning) => warnings.push(`${warning.code} ${warning.message}`) });
      try {
        const files = [(await fs.readFile('/a.txt')).toString(), String((await fs.readFile('/big.bin')).equals(BIG))];
        return { compression: fs.layers[0]?.compression, files, warnings };
      } finally {
        await fs.close();
      }
    };
    // A whole second as mtime, so that setting it again restores the file's cache identity exactly.
    const blobPath = join(image, 'blobs', 'sha256', sha256Hex(layer.blob));
    utimesSync(blobPath, 1_700_000_000, 1_700_000_000);
    expect(await open()).toEqual({ compression: format, files: ['first\n', 'true'], warnings: [] });
    // Wipe the TOC in place, keeping size and mtime (the cache identity of the file): only an open that
    // reads the TOC can notice.
    const { location } = (await TocLayer.open(new BufferSource(layer.blob, 'blob'), layer.blob.length, layer.annotations)).layer!.toc;
    const wiped = Buffer.from(layer.blob);
    wiped.fill(0, location.tocOffset, location.tocOffset + location.tocLength);
    writeFileSync(blobPath, wiped);
    utimesSync(blobPath, 1_700_000_000, 1_700_000_000);
    expect(await open()).toEqual({ compression: format, files: ['first\n', 'true'], warnings: [] });
    // A damaged summary: dropped with a warning, and the (wiped) TOC read instead: a plain read then.
    const summaryFile = join(cache, readdirSync(cache, { recursive: true, encoding: 'utf8' }).find((name) => name.endsWith('.toc'))!);
    const damaged = readFileSync(summaryFile);
    damaged[damaged.length - 40] = (damaged[damaged.length - 40] as number) ^ 1;
    writeFileSync(summaryFile, damaged);
    const after = await open();
    expect(after.warnings.some((warning) => warning.startsWith('ECACHE') && warning.includes('checksum mismatch'))).toBe(true);
    expect(after.warnings.some((warning) => warning.startsWith('ETOC'))).toBe(true);
  });
});

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
