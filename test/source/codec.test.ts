import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isImgfsError } from '../../lib/errors.js';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { detectCompression, openDecompressed } from '../../lib/source/codec.js';
import { DecompressedSource } from '../../lib/source/decompressed-source.js';
import { compressibleBytes, zstdCompress } from './helpers.js';

const source = (bytes: Buffer | number[]): BufferSource => new BufferSource(Buffer.from(bytes), 'blob');

describe('detectCompression', () => {
  it('recognises gzip and zstd by their magic bytes', async () => {
    expect(await detectCompression(source(gzipSync('x')))).toBe('gzip');
    expect(await detectCompression(source([0x1f, 0x8b]))).toBe('gzip');
    expect(await detectCompression(source(zstdCompress(Buffer.from('x'))))).toBe('zstd');
    expect(await detectCompression(source([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
  });

  it('counts a zstd skippable frame at the start as zstd', async () => {
    for (const low of [0x50, 0x55, 0x5f]) {
      expect(await detectCompression(source([low, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]))).toBe('zstd');
    }
    expect(await detectCompression(source([0x60, 0x2a, 0x4d, 0x18]))).toBe('none');
    expect(await detectCompression(source([0x4f, 0x2a, 0x4d, 0x18]))).toBe('none');
  });

  it('calls everything else uncompressed, including empty and short sources', async () => {
    const tarHeader = Buffer.alloc(512);
    tarHeader.write('etc/passwd');
    expect(await detectCompression(source(tarHeader))).toBe('none');
    expect(await detectCompression(source([]))).toBe('none');
    expect(await detectCompression(source([0x1f]))).toBe('none');
    expect(await detectCompression(source([0x28, 0xb5, 0x2f]))).toBe('none');
    expect(await detectCompression(source([0x1f, 0x9d]))).toBe('none'); // compress(1) is not supported
  });
});

describe('openDecompressed', () => {
  const data = compressibleBytes(100_000);

  it('returns the raw source itself when it is not compressed', async () => {
    const raw = source(data);
    const opened = await openDecompressed(raw);
    expect(opened.compression).toBe('none');
    expect(opened.source).toBe(raw);
  });

  it('returns the decompressed view of gzip and zstd', async () => {
    for (const [compression, compressed] of [
      ['gzip', gzipSync(data)],
      ['zstd', zstdCompress(data)],
    ] as const) {
      const raw = source(compressed);
      const opened = await openDecompressed(raw);
      expect(opened.compression).toBe(compression);
      expect(opened.source).toBeInstanceOf(DecompressedSource);
      expect(opened.source.seekable).toBe(false);
      expect(opened.source.name).toBe('blob');
      expect((await opened.source.read(0, data.length + 10)).equals(data)).toBe(true);
      await opened.source.close();
      expect((await raw.read(0, 2)).length).toBe(2); // the raw source stays open
    }
  });

  it('passes its options on', async () => {
    const opened = await openDecompressed(source(gzipSync(Buffer.alloc(10 * 1024 * 1024))), { maxRatio: 2, ratioSlack: 1024 * 1024 });
    const error: unknown = await opened.source.read(5 * 1024 * 1024, 1).catch((e: unknown) => e);
    expect(isImgfsError(error) && error.code).toBe('ELIMIT');
  });
});
