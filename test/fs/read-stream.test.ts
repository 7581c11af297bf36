/**
 * `createReadStream(path, { start, end })`: `end` is inclusive, as `fs.createReadStream`; and the
 * stream never buffers a whole large file (DESIGN.md "Public contracts"), also when the file sits in a
 * gzip-compressed layer.
 *
 * Memory is measured robustly: V8's GC is exposed (`--expose-gc` set at run time), and while a slow
 * consumer reads a 20 MB file, `arrayBuffers` and `heapUsed` are sampled right after a full GC, so
 * only memory the stream retains counts, not garbage that has not been collected yet.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage, type ImageFS } from '../../lib/index.js';
import { buildLayer, file, hardlink, symlink } from '../helpers/layer-tar.js';
import { openLayers } from '../helpers/open-layers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;
const BIG = 20 * 1000 * 1000; // 20 MB, deliberately not a multiple of any chunk size

/** Byte `offset` of the big file: each little-endian 32-bit word holds its own offset. */
function bigByte(offset: number): number {
  const word = offset - (offset % 4);
  return Math.floor(word / 256 ** (offset % 4)) % 256;
}

function bigContent(): Buffer {
  const content = Buffer.alloc(BIG);
  for (let i = 0; i + 4 <= BIG; i += 4) content.writeUInt32LE(i, i);
  return content;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('createReadStream', () => {
  describe.each(['none', 'gzip'] as const)('small file, %s layer', (compression) => {
    const text = 'abcdefghij';
    it.each<[string, { start?: number; end?: number }, string]>([
      ['no range', {}, 'abcdefghij'],
      ['start and inclusive end', { start: 2, end: 5 }, 'cdef'],
      ['one byte at the start', { start: 0, end: 0 }, 'a'],
      ['one byte at the end', { start: 9, end: 9 }, 'j'],
      ['start only', { start: 5 }, 'fghij'],
      ['end only', { end: 3 }, 'abcd'],
      ['end past the size', { start: 3, end: 100 }, 'defghij'],
      ['start at the size', { start: 10 }, ''],
      ['start past the size', { start: 100 }, ''],
      ['end = size - 1', { start: 0, end: 9 }, 'abcdefghij'],
    ])('%s', async (_label, options, expected) => {
      const { fs } = await openLayers([[file('pad', 'x'.repeat(700)), file('f', text), symlink('s', 'f'), hardlink('h', 'f'), file('empty', '')]], {
        gzip: compression === 'gzip',
      });
      expect((await collect(fs.createReadStream('/f', options))).toString()).toBe(expected);
      // Through a symlink (followed) and a hard link: the same bytes.
      expect((await collect(fs.createReadStream('/s', options))).toString()).toBe(expected);
      expect((await collect(fs.createReadStream('/h', options))).toString()).toBe(expected);
      expect((await collect(fs.createReadStream('/empty', options))).length).toBe(0);
      expect(fs.layers[0]?.compression).toBe(compression);
    });
  });

  describe.each(['none', 'gzip'] as const)('20 MB file, %s layer', (compression) => {
    let dir: string;
    let fs: ImageFS;
    let digest: string;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'imgfs-read-stream-'));
      const path = join(dir, compression === 'gzip' ? 'l0.tar.gz' : 'l0.tar');
      {
        const content = bigContent();
        digest = createHash('sha256').update(content).digest('hex');
        const tar = buildLayer([file('small', 'before'), file('big.bin', content), file('after', 'after')]);
        writeFileSync(path, compression === 'gzip' ? gzipSync(tar, { level: 1 }) : tar);
      }
      fs = await openImage([path], { cache: false });
      gc();
      gc();
    });
    afterAll(async () => {
      await fs.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('streams in many bounded chunks with a slow consumer, without holding the file in memory', async () => {
      expect(fs.layers[0]?.compression).toBe(compression);
      expect((await fs.stat('/big.bin')).size).toBe(BIG);
      gc();
      const baseline = process.memoryUsage();
      let maxArrayBuffers = 0;
      let maxHeap = 0;
      let chunks = 0;
      let maxChunk = 0;
      let total = 0;
      const hash = createHash('sha256');
      const stream = fs.createReadStream('/big.bin');
      for await (const chunk of stream) {
        const buffer = chunk as Buffer;
        chunks++;
        total += buffer.length;
        maxChunk = Math.max(maxChunk, buffer.length);
        hash.update(buffer);
        // A slow consumer: one turn of the event loop (I/O included) per chunk, no fixed sleep.
        await new Promise((resolve) => setImmediate(resolve));
        if (chunks % 8 === 0) {
          gc();
          const usage = process.memoryUsage();
          maxArrayBuffers = Math.max(maxArrayBuffers, usage.arrayBuffers - baseline.arrayBuffers);
          maxHeap = Math.max(maxHeap, usage.heapUsed - baseline.heapUsed);
        }
      }
      expect(total).toBe(BIG);
      expect(hash.digest('hex')).toBe(digest);
      expect(chunks).toBeGreaterThanOrEqual(20);
      expect(maxChunk).toBeLessThanOrEqual(MiB);
      expect(maxArrayBuffers).toBeLessThan(16 * MiB);
      expect(maxHeap).toBeLessThan(16 * MiB);
    });

    it.each<[string, number, number]>([
      ['a range in the middle', 15_000_001, 15_000_100],
      ['a range across a 64 KiB boundary', 65_530, 65_545],
      ['a range across a 1 MiB boundary', MiB - 3, MiB + 2],
      ['the last bytes', BIG - 10, BIG - 1],
      ['the first byte', 0, 0],
    ])('%s', async (_label, start, end) => {
      const bytes = await collect(fs.createReadStream('/big.bin', { start, end }));
      expect(bytes.length).toBe(end - start + 1);
      const expected = Buffer.from(Array.from({ length: end - start + 1 }, (_, i) => bigByte(start + i)));
      expect(bytes.equals(expected)).toBe(true);
    });

    it('the entries around the big file are intact', async () => {
      expect(await fs.readFile('/small', 'utf8')).toBe('before');
      expect(await fs.readFile('/after', 'utf8')).toBe('after');
    });
  });
});
