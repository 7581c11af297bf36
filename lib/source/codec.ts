import type { ByteSource } from './byte-source.js';
import { DecompressedSource, type DecompressOptions } from './decompressed-source.js';
import { gzipInflater } from './gzip-inflater.js';
import type { Inflater } from './inflater.js';
import { readSmall } from './read-small.js';
import { zstdInflater } from './zstd-inflater.js';

export type Compression = 'none' | 'gzip' | 'zstd';

const INFLATERS: Readonly<Record<Exclude<Compression, 'none'>, Inflater>> = {
  gzip: gzipInflater,
  zstd: zstdInflater,
};

/**
 * Sniffs the compression of a stream from its first bytes: gzip `1f 8b`; a zstd frame `28 b5 2f fd`, or
 * a zstd skippable frame (magic `0x184D2A50`–`0x184D2A5F`, little-endian) at the start. Anything else,
 * including an empty source, is 'none'. Magic bytes decide, never a media type.
 */
export async function detectCompression(source: ByteSource): Promise<Compression> {
  const head = await readSmall(source, 0, 4);
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length < 4) return 'none';
  const magic = head.readUInt32LE(0);
  if (magic === 0xfd2fb528) return 'zstd';
  if (magic >= 0x184d2a50 && magic <= 0x184d2a5f) return 'zstd';
  return 'none';
}

/**
 * The decompressed view of `raw`: `raw` itself when it is not compressed, otherwise a DecompressedSource
 * over it (its inflater passed through `wrap`, when given: a caller that watches the decoding). Closing
 * the result does not close `raw`.
 */
export async function openDecompressed(
  raw: ByteSource,
  options?: DecompressOptions,
  wrap?: (inflater: Inflater) => Inflater,
): Promise<{ source: ByteSource; compression: Compression }> {
  const compression = await detectCompression(raw);
  if (compression === 'none') return { source: raw, compression };
  const inflater = INFLATERS[compression];
  return { source: new DecompressedSource(raw, wrap === undefined ? inflater : wrap(inflater), options), compression };
}
