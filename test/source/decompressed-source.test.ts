import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { isImgfsError, type ImgfsError } from '../../lib/errors.js';
import { BufferSource } from '../../lib/source/buffer-source.js';
import type { ByteSource } from '../../lib/source/byte-source.js';
import { createRangeStream } from '../../lib/source/range-stream.js';
import { DecompressedSource, SPAN_SIZE, type DecompressOptions } from '../../lib/source/decompressed-source.js';
import { FileSource } from '../../lib/source/file-source.js';
import { gzipInflater } from '../../lib/source/gzip-inflater.js';
import type { Inflater } from '../../lib/source/inflater.js';
import { SliceSource } from '../../lib/source/slice-source.js';
import { zstdInflater } from '../../lib/source/zstd-inflater.js';
import { collect, collectSlowly, compressibleBytes, prng, scaled, zstdCompress } from './helpers.js';

const MiB = 1024 * 1024;

async function rejection(promise: Promise<unknown>): Promise<ImgfsError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isImgfsError(error)) throw new Error(`expected an ImgfsError, got ${String(error)}`);
  return error;
}

function open(compressed: Buffer, inflater: Inflater, options?: DecompressOptions): DecompressedSource {
  return new DecompressedSource(new BufferSource(compressed, 'layer.blob'), inflater, options);
}

// 5 full spans and a partial one.
const data = compressibleBytes(5 * MiB + 12_345, 21);
const codecs: Array<{ label: string; inflater: Inflater; compressed: Buffer }> = [
  { label: 'gzip', inflater: gzipInflater, compressed: gzipSync(data) },
  {
    label: 'gzip, multi-member',
    inflater: gzipInflater,
    compressed: Buffer.concat([
      gzipSync(data.subarray(0, 1_500_000)),
      gzipSync(data.subarray(1_500_000, 3 * MiB)),
      gzipSync(data.subarray(3 * MiB)),
    ]),
  },
  { label: 'zstd', inflater: zstdInflater, compressed: zstdCompress(data) },
  {
    label: 'zstd, multi-frame',
    inflater: zstdInflater,
    compressed: Buffer.concat([zstdCompress(data.subarray(0, 2_222_222)), zstdCompress(data.subarray(2_222_222))]),
  },
];

describe.each(codecs)('DecompressedSource over $label', ({ inflater, compressed }) => {
  it('gives views of whole spans from any offset to their end, and nothing past the stream', async () => {
    const source = open(compressed, inflater);
    let offset = 0;
    let views = 0;
    for (;;) {
      const view = await source.readView(offset);
      if (view.length === 0) break;
      views++;
      // Each view ends at a span boundary (or the stream's end) and holds the decoded bytes.
      expect((offset + view.length) % SPAN_SIZE === 0 || offset + view.length === data.length).toBe(true);
      expect(view.equals(data.subarray(offset, offset + view.length))).toBe(true);
      offset += view.length - (views === 2 ? 1000 : 0); // one view starting inside a span
    }
    expect(offset).toBe(data.length);
    expect(source.size).toBe(data.length);
    expect((await source.readView(data.length + 5)).length).toBe(0);
    expect(source.stats.restarts).toBe(0); // one decoder front to back
    expect(source.stats.inflatedBytes).toBe(data.length);
    await source.close();
    await expect(source.readView(0)).rejects.toMatchObject({ code: 'ECLOSED' });
  });

  it('is not seekable and learns its size at the end', async () => {
    const source = open(compressed, inflater);
    expect(source.seekable).toBe(false);
    expect(source.name).toBe('layer.blob');
    expect(source.size).toBeUndefined();
    await source.read(0, 10);
    expect(source.size).toBeUndefined();
    expect((await source.read(data.length - 10, 100)).equals(data.subarray(-10))).toBe(true);
    expect(source.size).toBe(data.length);
    expect((await source.read(data.length, 10)).length).toBe(0);
    expect((await source.read(data.length + 5 * MiB, 10)).length).toBe(0);
  });

  it('answers random reads byte for byte: forward, backward, across spans, past the end', async () => {
    for (const cacheBytes of [64 * MiB, 2 * MiB, 0]) {
      const source = open(compressed, inflater, { cacheBytes });
      const random = prng(cacheBytes + 1);
      const plan: Array<[number, number]> = [
        [SPAN_SIZE - 3, 6], // across a span boundary
        [0, 1],
        [3 * SPAN_SIZE - 100, 2 * SPAN_SIZE + 200], // across three spans
        [data.length - 50, 50],
        [data.length - 50, 51], // one past the end
        [data.length + 1, 10],
        [100, 0],
      ];
      // Every miss behind the cursor decodes again from the start: fewer reads when the cache is small.
      for (let i = 0; i < (cacheBytes > 8 * MiB ? scaled(20, 60) : scaled(8, 20)); i += 1) {
        const offset = Math.floor(random() * (data.length + 1000));
        const length = Math.floor(random() * random() * 3 * MiB);
        plan.push([offset, length]);
      }
      for (const [offset, length] of plan) {
        const got = await source.read(offset, length);
        expect(got.equals(data.subarray(offset, offset + length)), `read(${offset}, ${length}) cache ${cacheBytes}`).toBe(true);
      }
      expect(source.stats.cachedBytes).toBeLessThanOrEqual(cacheBytes);
      await source.close();
    }
  });

  it('serves concurrent reads correctly', async () => {
    const source = open(compressed, inflater, { cacheBytes: 2 * MiB });
    const random = prng(99);
    const plan = Array.from(
      { length: 40 },
      () => [Math.floor(random() * data.length), Math.floor(random() * 300_000)] as const,
    );
    const results = await Promise.all(plan.map(([offset, length]) => source.read(offset, length)));
    results.forEach((result, i) => {
      const [offset, length] = plan[i] ?? [0, 0];
      expect(result.equals(data.subarray(offset, offset + length))).toBe(true);
    });
  });

  it('streams a range equal to the slice, with a slow consumer', async () => {
    const source = open(compressed, inflater, { cacheBytes: 0 });
    const { data: streamed, chunks } = await collectSlowly(source.createReadStream(SPAN_SIZE - 5000, 3 * SPAN_SIZE + 7), 1);
    expect(streamed.equals(data.subarray(SPAN_SIZE - 5000, 3 * SPAN_SIZE + 7))).toBe(true);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(64 * 1024);
    // The size is not known yet: the stream runs to the end.
    const fresh = open(compressed, inflater);
    expect((await collect(fresh.createReadStream(4 * MiB))).equals(data.subarray(4 * MiB))).toBe(true);
    expect((await collect(fresh.createReadStream())).equals(data)).toBe(true);
    expect(fresh.stats.restarts).toBe(0); // the first stream cached the spans before 4 MiB
  });

  it('fails with ETRUNCATED when the stream is cut, and keeps serving the bytes before the cut', async () => {
    const source = open(compressed.subarray(0, Math.floor(compressed.length * 0.7)), inflater);
    const error = await rejection(source.read(0, data.length));
    expect(error.code).toBe('ETRUNCATED');
    expect(error.archive).toBe('layer.blob');
    expect(error.offset).toBeGreaterThan(2 * MiB);
    expect(error.offset).toBeLessThan(data.length);
    // Remembered: no second decode to rediscover it.
    const before = source.stats.rawBytesRead;
    expect((await rejection(source.read(data.length - 10, 5))).code).toBe('ETRUNCATED');
    expect(source.stats.rawBytesRead).toBe(before);
    expect((await source.read(100, 1000)).equals(data.subarray(100, 1100))).toBe(true);
    expect(source.size).toBeUndefined();
  });

  it('rejects reads after close with ECLOSED', async () => {
    const source = open(compressed, inflater);
    await source.read(0, 10);
    await source.close();
    expect((await rejection(source.read(0, 10))).code).toBe('ECLOSED');
    expect((await rejection(collect(source.createReadStream()))).code).toBe('ECLOSED');
  });

  it('rejects a read in progress when closed', async () => {
    // Raw reads that take a turn of the event loop each, like real I/O.
    const raw = new BufferSource(compressed, 'layer.blob');
    const slow: ByteSource = {
      name: raw.name,
      size: raw.size,
      seekable: true,
      read: async (offset, length) => {
        await new Promise((resolve) => setImmediate(resolve));
        return raw.read(offset, length);
      },
      createReadStream: (start, end) => createRangeStream((o, l) => slow.read(o, l), start ?? 0, end ?? raw.size),
      close: async () => {},
    };
    const source = new DecompressedSource(slow, inflater);
    const pending = source.read(data.length - 10, 10);
    while (source.stats.inflatedBytes === 0) await new Promise((resolve) => setImmediate(resolve));
    await source.close();
    expect((await rejection(pending)).code).toBe('ECLOSED');
  });

  it('hands out copies, never its cached spans', async () => {
    const source = open(compressed, inflater);
    (await source.read(0, 100)).fill(0);
    expect((await source.read(0, 100)).equals(data.subarray(0, 100))).toBe(true);
  });
});

describe('DecompressedSource', () => {
  it('fails with ECOMPRESSION on corrupt data, naming the archive and the decompressed offset', async () => {
    const compressed = Buffer.from(gzipSync(data));
    for (let i = 400_000; i < 400_100; i += 1) compressed[i] = 0x55;
    const source = open(compressed, gzipInflater);
    const error = await rejection(source.read(0, data.length));
    expect(error.code).toBe('ECOMPRESSION');
    expect(error.archive).toBe('layer.blob');
    expect(error.offset).toBeGreaterThan(0);
    expect(error.message).toContain('layer.blob');
  });

  it('decodes a layer stored inside an outer file, in place', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imgfs-decompressed-'));
    try {
      const compressed = zstdCompress(data);
      const path = join(dir, 'image.tar');
      await writeFile(path, Buffer.concat([Buffer.alloc(1536, 1), compressed, Buffer.alloc(1000, 2)]));
      const file = await FileSource.open(path, 'image.tar');
      const slice = new SliceSource(file, 1536, compressed.length, 'image.tar!blobs/sha256/abc');
      const source = new DecompressedSource(slice, zstdInflater);
      expect(source.name).toBe('image.tar!blobs/sha256/abc');
      expect((await source.read(3 * MiB, 1000)).equals(data.subarray(3 * MiB, 3 * MiB + 1000))).toBe(true);
      expect((await collect(source.createReadStream(1000, 2 * MiB))).equals(data.subarray(1000, 2 * MiB))).toBe(true);
      await source.close();
      // Closing the decompressed view leaves the file open for its owner.
      expect((await file.read(0, 1))[0]).toBe(1);
      await file.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('restarts only for a read behind the cursor that the cache cannot serve', async () => {
    const compressed = gzipSync(data);
    const source = open(compressed, gzipInflater, { cacheBytes: 2 * MiB });
    await source.read(4 * MiB, 10);
    expect(source.stats.restarts).toBe(0);
    await source.read(3 * MiB, 10); // cached
    await source.read(4 * MiB + 10, 10);
    expect(source.stats.restarts).toBe(0);
    await source.read(0, 10); // evicted: decode again from the start
    expect(source.stats.restarts).toBe(1);
    await source.read(SPAN_SIZE, 10); // ahead of the new cursor: no restart
    expect(source.stats.restarts).toBe(1);
  });

  // gzip: the Gunzip engine's handle (a first pass), and the native recorder (a pass that records).
  for (const [label, inflater, compress, checkpoints] of [
    ['zstd', zstdInflater, (bytes: Buffer) => zstdCompress(bytes, '-1'), undefined],
    ['gzip', gzipInflater, (bytes: Buffer) => gzipSync(bytes, { level: 1 }), undefined],
    ['gzip, recording checkpoints', gzipInflater, (bytes: Buffer) => gzipSync(bytes, { level: 1 }), 'eager'],
  ] as const) {
    it(`decodes ${label} into the memory of spans its cache evicted, and every span still reads back right`, async () => {
      const big = compressibleBytes(12 * MiB + 777, 5);
      // From a file: its compressed chunks are read round a few buffers too (RawInput `recycle`).
      const compressed = compress(big);
      expect(compressed.length).toBeGreaterThan(2 * MiB); // more chunks than buffers
      const dir = await mkdtemp(join(tmpdir(), 'imgfs-recycle-'));
      await writeFile(join(dir, 'layer'), compressed);
      const file = await FileSource.open(join(dir, 'layer'));
      const source = new DecompressedSource(file, inflater, { cacheBytes: 3 * MiB, ...(checkpoints === undefined ? {} : { checkpoints }) });
      const memories = new Set<ArrayBufferLike>();
      let spans = 0;
      for (let offset = 0; ; ) {
        const view = await source.readView(offset);
        if (view.length === 0) break;
        // Each view is the rest of a span: as decoded, even when its memory held another span before.
        expect(view.equals(big.subarray(offset, offset + view.length)), `span at ${offset}`).toBe(true);
        memories.add(view.buffer);
        spans++;
        offset += view.length;
      }
      expect(spans).toBe(13);
      // Fresh memory only until the cache first evicts: the cache's 3 spans, the 2 it keeps beside
      // them, the one being decoded.
      expect(memories.size).toBeLessThanOrEqual(6);
      if (checkpoints !== undefined) expect(source.stats.checkpointsRecorded).toBeGreaterThan(2);
      // Reads behind the cursor decode again (gzip: from a checkpoint inside a member when recorded),
      // into recycled memory, and hand out copies.
      for (const offset of [0, 5 * MiB + 3, 12 * MiB]) {
        expect((await source.read(offset, 1000)).equals(big.subarray(offset, offset + 1000))).toBe(true);
      }
      expect(source.stats.restarts).toBeGreaterThan(0);
      await source.close();
      await file.close();
      await rm(dir, { recursive: true });
    });

    it(`never decodes ${label} into the span viewed last, even when other reads make the cache evict it`, async () => {
      const big = compressibleBytes(10 * MiB, 6);
      const source = open(compress(big), inflater, { cacheBytes: 2 * MiB, ...(checkpoints === undefined ? {} : { checkpoints }) });
      const view = await source.readView(SPAN_SIZE + 100);
      const seen = Buffer.from(view);
      // Reads far ahead, then behind, decode many spans through a cache of two.
      expect((await source.read(8 * MiB, 10)).equals(big.subarray(8 * MiB, 8 * MiB + 10))).toBe(true);
      expect((await source.read(0, 10)).equals(big.subarray(0, 10))).toBe(true);
      expect((await source.read(6 * MiB, 10)).equals(big.subarray(6 * MiB, 6 * MiB + 10))).toBe(true);
      expect(view.equals(seen)).toBe(true);
      await source.close();
    });
  }

  it('decodes gzip into recycled spans from member starts that do not fall on a span boundary', async () => {
    // Members of odd sizes: recorded checkpoints at their starts, and the passes restarted from them,
    // begin inside a span; their output must land where that span's bytes go.
    const members = [0, 1, 2, 3, 4].map((seed) => compressibleBytes(MiB + 333_333 * (seed + 1), 40 + seed));
    const big = Buffer.concat(members);
    const compressed = Buffer.concat(members.map((member) => gzipSync(member, { level: 1 })));
    for (const checkpoints of ['eager', 'lazy'] as const) {
      const source = open(compressed, gzipInflater, { cacheBytes: 2 * MiB, checkpoints, checkpointSpacing: MiB });
      const random = prng(9);
      for (let i = 0; i < 12; i += 1) {
        const offset = Math.floor(random() * (big.length - 5000));
        expect((await source.read(offset, 5000)).equals(big.subarray(offset, offset + 5000)), `${checkpoints} at ${offset}`).toBe(true);
      }
      expect(source.stats.restarts).toBeGreaterThan(2);
      await source.close();
    }
  });

  it('rejects bad options', () => {
    const raw = new BufferSource(gzipSync(Buffer.from('x')), 'x');
    expect(() => new DecompressedSource(raw, gzipInflater, { cacheBytes: -1 })).toThrow(RangeError);
    expect(() => new DecompressedSource(raw, gzipInflater, { maxRatio: 0 })).toThrow(RangeError);
  });
});

describe('DecompressedSource: a sequential walk of a large layer (50 MB under npm run fuzz)', () => {
  const big = compressibleBytes(scaled(16, 50) * 1_000_000, 33);
  let gz: Buffer;
  let zst: Buffer;

  beforeAll(() => {
    gz = gzipSync(big, { level: 1 });
    zst = zstdCompress(big, '-1');
  });

  /** The tar walker's pattern: a 512-byte header, then a jump over the entry's data. */
  async function walk(source: DecompressedSource): Promise<number> {
    const random = prng(5);
    let offset = 0;
    let reads = 0;
    for (;;) {
      const header = await source.read(offset, 512);
      reads += 1;
      expect(header.equals(big.subarray(offset, offset + 512))).toBe(true);
      if (header.length < 512) return reads;
      const size = random() < 0.1 ? Math.floor(random() * 3 * MiB) : Math.floor(random() * 20_000);
      offset += 512 + Math.ceil(size / 512) * 512;
    }
  }

  for (const [label, inflater, compressed, cacheBytes] of [
    ['gzip', gzipInflater, () => gz, undefined],
    ['gzip, no cache', gzipInflater, () => gz, 0],
    ['zstd', zstdInflater, () => zst, undefined],
  ] as const) {
    it(`inflates the data once (${label})`, async () => {
      const source = open(compressed(), inflater, cacheBytes === undefined ? {} : { cacheBytes });
      const reads = await walk(source);
      expect(reads).toBeGreaterThan(scaled(60, 200));
      expect(source.stats.restarts).toBe(0);
      expect(source.stats.rawBytesRead).toBe(compressed().length);
      expect(source.stats.inflatedBytes).toBe(big.length);
      expect(source.size).toBe(big.length);
    });
  }
});

describe('DecompressedSource: the ratio limit', () => {
  let bomb: Buffer;

  beforeAll(async () => {
    // 200 MB of zeros in one gzip member, about 200 KB.
    const gzip = createGzip({ level: 9 });
    const chunks: Buffer[] = [];
    gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
    const done = new Promise((resolve) => gzip.on('end', resolve));
    const zeros = Buffer.alloc(MiB);
    for (let i = 0; i < 200; i += 1) gzip.write(zeros);
    gzip.end();
    await done;
    bomb = Buffer.concat(chunks);
  });

  it('stops a gzip bomb, with bounded memory', async () => {
    const source = open(bomb, gzipInflater, { maxRatio: 10, ratioSlack: MiB });
    const error = await rejection(source.read(0, 200 * MiB));
    expect(error.code).toBe('ELIMIT');
    expect(error.reason).toBe('decompressed size exceeds 10× the compressed size (gzip bomb?); raise with option maxRatio');
    expect(error.archive).toBe('layer.blob');
    expect(source.stats.inflatedBytes).toBeLessThanOrEqual(10 * bomb.length + MiB);
    // The limit is remembered; the bytes below it are still served.
    expect((await rejection(source.read(150 * MiB, 1))).code).toBe('ELIMIT');
    expect((await source.read(0, 1000)).equals(Buffer.alloc(1000))).toBe(true);
  });

  it('stops a zstd bomb too', async () => {
    const zst = zstdCompress(Buffer.alloc(200 * MiB));
    const source = open(zst, zstdInflater, { maxRatio: 100, ratioSlack: MiB });
    const error = await rejection(source.read(0, 200 * MiB));
    expect(error.code).toBe('ELIMIT');
    expect(source.stats.inflatedBytes).toBeLessThanOrEqual(100 * zst.length + MiB);
  });

  it('lets the same stream through with a raised ratio', async () => {
    // gzip cannot beat about 1032:1, so all-zero data stays under the default ratio of 1100.
    const source = open(bomb, gzipInflater, { ratioSlack: 0 });
    expect((await source.read(200 * MiB - 10, 100)).equals(Buffer.alloc(10))).toBe(true);
    expect(source.size).toBe(200 * MiB);
  });

  it('does not judge small streams by their ratio (the slack)', async () => {
    const source = open(gzipSync(Buffer.alloc(900_000)), gzipInflater, { maxRatio: 1, ratioSlack: MiB });
    expect((await source.read(0, MiB)).length).toBe(900_000);
  });
});

describe('DecompressedSource: read-ahead', () => {
  const data = compressibleBytes(6 * SPAN_SIZE);
  const gz = gzipSync(data);

  it('decodes the next span in the background after a read at the cursor, and serves it from memory', async () => {
    const source = new DecompressedSource(new BufferSource(gz, 'layer.blob'), gzipInflater);
    expect((await source.read(0, 1000)).equals(data.subarray(0, 1000))).toBe(true);
    expect(source.stats.readAheads).toBe(1);
    await vi.waitFor(() => expect(source.stats.inflatedBytes).toBeGreaterThanOrEqual(2 * SPAN_SIZE), { timeout: 30_000, interval: 5 });
    const inflated = source.stats.inflatedBytes;
    // The next span is already there: reading it decodes nothing more before the following read-ahead.
    expect((await source.read(SPAN_SIZE + 10, 100)).equals(data.subarray(SPAN_SIZE + 10, SPAN_SIZE + 110))).toBe(true);
    expect(source.stats.restarts).toBe(0);
    expect(source.stats.inflatedBytes - inflated).toBeLessThanOrEqual(SPAN_SIZE);
    await source.close();
  });

  it('does not read ahead when the cache cannot keep two spans', async () => {
    const source = new DecompressedSource(new BufferSource(gz, 'layer.blob'), gzipInflater, { cacheBytes: 0 });
    await source.read(0, 1000);
    expect(source.stats.readAheads).toBe(0); // decided within the read: none was queued
    expect(source.stats.inflatedBytes).toBeLessThan(2 * SPAN_SIZE);
    await source.close();
  });

  it('never makes the tar walker restart, even when the cache holds only two spans', async () => {
    // Regression: the span read ahead evicted the one the walker was still in, and the walker's next
    // header read restarted decoding from the start of the layer (23 restarts on one bench layer).
    const { walkTar } = await import('../../lib/tar/walk-tar.js');
    const { buildLayer } = await import('../helpers/layer-tar.js');
    const random = prng(5);
    const files = Array.from({ length: 30 }, (_, i) => ({
      type: 'file' as const,
      name: `f${i}`,
      content: compressibleBytes(Math.floor(random() * 400_000) + (i % 7 === 0 ? 1_500_000 : 100), i + 1),
    }));
    const source = new DecompressedSource(new BufferSource(gzipSync(buildLayer(files)), 'layer.blob'), gzipInflater, {
      cacheBytes: 2 * SPAN_SIZE,
    });
    const names: string[] = [];
    for await (const entry of walkTar(source)) names.push(entry.name);
    expect(names).toEqual(files.map((file) => file.name));
    expect(source.stats.restarts).toBe(0);
    await source.close();
  });

  it('a sequential stream of the whole source still equals the data, byte for byte', async () => {
    const source = new DecompressedSource(new BufferSource(gz, 'layer.blob'), gzipInflater, { cacheBytes: 2 * SPAN_SIZE });
    const chunks: Buffer[] = [];
    for await (const chunk of source.createReadStream()) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(source.stats.restarts).toBe(0);
    await source.close();
  });
});
