import { describe, expect, it } from 'vitest';
import { ImgfsError, isImgfsError } from '../../lib/errors.js';
import { STREAM_START, type DecodeContext } from '../../lib/source/inflater.js';
import { zstdInflater } from '../../lib/source/zstd-inflater.js';
import { chunked, compressibleBytes, randomBytes, rawInput, zstdCompress } from './helpers.js';

function context(onOutput: (length: number) => void = () => {}): DecodeContext {
  return { name: 'layer.tar.zst', from: STREAM_START, onOutput };
}

async function inflate(compressed: Buffer, chunkSize = 65536): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of zstdInflater.decode(rawInput(compressed, chunkSize), context())) out.push(chunk);
  return Buffer.concat(out);
}

async function failure(compressed: Buffer): Promise<ImgfsError> {
  const error: unknown = await inflate(compressed).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isImgfsError(error)) throw new Error(`expected an ImgfsError, got ${String(error)}`);
  return error;
}

/** A skippable frame (magic 0x184D2A5n) carrying `payload`. */
function skippable(payload: Buffer, n = 0): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(0x184d2a50 + n, 0);
  header.writeUInt32LE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('zstdInflater', () => {
  const data = compressibleBytes(3_000_000, 9);

  it('inflates what the zstd CLI writes, at several levels and options', async () => {
    expect((await inflate(zstdCompress(data))).equals(data)).toBe(true);
    const part = data.subarray(0, 400_000);
    for (const args of [['-19'], ['--no-check'], ['--long=27'], ['-1', '--no-content-size']]) {
      expect((await inflate(zstdCompress(part, ...args))).equals(part), args.join(' ')).toBe(true);
    }
    const small = data.subarray(0, 30_000);
    expect((await inflate(zstdCompress(small), 1)).equals(small)).toBe(true); // one byte at a time
  });

  it('inflates several frames one after another (cat a.zst b.zst)', async () => {
    const a = data.subarray(0, 1_000_000);
    const b = data.subarray(1_000_000, 1_000_017);
    const c = data.subarray(1_000_017);
    const compressed = Buffer.concat([zstdCompress(a), zstdCompress(b), zstdCompress(Buffer.alloc(0)), zstdCompress(c)]);
    expect((await inflate(compressed)).equals(data)).toBe(true);
    expect((await inflate(compressed, 4097)).equals(data)).toBe(true);
  });

  it('skips skippable frames at the start, between frames and at the end', async () => {
    const a = data.subarray(0, 100_000);
    const b = data.subarray(100_000, 200_000);
    const compressed = Buffer.concat([
      skippable(Buffer.from('metadata'), 0),
      zstdCompress(a),
      skippable(Buffer.alloc(70_000, 7), 15),
      zstdCompress(b),
      skippable(Buffer.alloc(0), 3),
    ]);
    expect((await inflate(compressed, 1000)).equals(data.subarray(0, 200_000))).toBe(true);
  });

  it('fails with ETRUNCATED when the stream ends inside a frame', async () => {
    const compressed = zstdCompress(data);
    for (const cut of [4, 10, 100, compressed.length / 2, compressed.length - 1]) {
      const error = await failure(compressed.subarray(0, Math.floor(cut)));
      expect(error.code, `cut at ${cut}`).toBe('ETRUNCATED');
      expect(error.reason).toBe('zstd stream truncated');
      expect(error.archive).toBe('layer.tar.zst');
    }
    const inSkippable = Buffer.concat([zstdCompress(data.subarray(0, 100)), skippable(Buffer.alloc(100)).subarray(0, 50)]);
    expect((await failure(inSkippable)).code).toBe('ETRUNCATED');
  });

  it('fails with ECOMPRESSION on data that is not zstd', async () => {
    const garbageAfter = Buffer.concat([zstdCompress(data.subarray(0, 100)), Buffer.from('this is not a zstd frame at all')]);
    const error = await failure(garbageAfter);
    expect(error.code).toBe('ECOMPRESSION');
    expect(error.reason).toMatch(/near compressed offset \d+/);
  });

  it('checks content checksums: a changed byte that still decodes is ECOMPRESSION', async () => {
    const noise = randomBytes(100_000, 5);
    const compressed = zstdCompress(noise, '--check');
    const at = compressed.indexOf(noise.subarray(5000, 5032)); // incompressible: stored verbatim
    expect(at).toBeGreaterThan(0);
    const damaged = Buffer.from(compressed);
    damaged[at] = (damaged[at] ?? 0) ^ 1;
    const error = await failure(damaged);
    expect(error.code).toBe('ECOMPRESSION');
    expect(error.reason).toContain('checksum');
    for (const chunkSize of [1000, 65_536]) {
      const big = Buffer.concat([noise, noise, noise]);
      const bigDamaged = Buffer.from(zstdCompress(big, '--check'));
      const bigAt = bigDamaged.indexOf(noise.subarray(5000, 5032));
      bigDamaged[bigAt] = (bigDamaged[bigAt] ?? 0) ^ 1;
      expect((await inflate(bigDamaged, chunkSize).catch((e: unknown) => e)) as ImgfsError).toMatchObject({ code: 'ECOMPRESSION' });
    }
  });

  it('refuses a frame declaring a window over 128 MiB with ELIMIT before decoding anything', async () => {
    const first = zstdCompress(data.subarray(0, 1000));
    // A frame header: magic, descriptor (no single segment), window descriptor 2^29, then a raw last block.
    const huge = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (29 - 10) << 3, 1 | (4 << 3), 0, 0, 1, 2, 3, 4]);
    let produced = 0;
    const decoded = zstdInflater.decode(rawInput(Buffer.concat([first, huge])), context((n) => (produced += n)));
    const error = await (async () => { for await (const _ of decoded) { /* drain */ } })().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ELIMIT' });
    expect((error as ImgfsError).reason).toContain(`zstd frame at compressed offset ${first.length} needs a 512 MiB window, more than the 128 MiB allowed`);
    expect(produced).toBe(0); // the bad header is in the same input chunk: nothing of it was decoded
  });

  it('yields in bounded batches even for zeros (4 bytes per 128 KiB block)', async () => {
    const zeros = zstdCompress(Buffer.alloc(64 * 1024 * 1024));
    expect(zeros.length).toBeLessThan(64 * 1024); // all of it in one 64 KiB input chunk
    let sinceYield = 0;
    let largestBatch = 0;
    let total = 0;
    const decoded = zstdInflater.decode(rawInput(zeros), context((n) => (sinceYield += n)));
    for await (const chunk of decoded) {
      largestBatch = Math.max(largestBatch, sinceYield);
      sinceYield = 0;
      total += chunk.length;
    }
    expect(total).toBe(64 * 1024 * 1024);
    expect(largestBatch).toBeLessThanOrEqual(4 * 1024 * 1024);
  });

  it('stops when onOutput throws', async () => {
    const stop = new ImgfsError('ELIMIT', 'too much');
    let seen = 0;
    const decoded = zstdInflater.decode(rawInput(zstdCompress(data)), context((n) => {
      seen += n;
      if (seen > 500_000) throw stop;
    }));
    await expect((async () => { for await (const _ of decoded) { /* drain */ } })()).rejects.toBe(stop);
  });
});
