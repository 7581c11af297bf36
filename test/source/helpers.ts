/** Fixtures for the byte-source tests: deterministic data, zstd through the CLI, stream collection. */
import { execFileSync } from 'node:child_process';
import type { Readable } from 'node:stream';

/**
 * The random-read matrices run at a size that proves their point in `npm test`, and in full under
 * `npm run fuzz` (which sets IMGFS_FULL_MATRIX=1).
 */
export const FULL_MATRIX = process.env['IMGFS_FULL_MATRIX'] === '1';

/** `normal` in the normal suite, `full` under `npm run fuzz`. */
export function scaled(normal: number, full: number): number {
  return FULL_MATRIX ? full : normal;
}

/** Deterministic pseudo-random bytes (xorshift32), incompressible. */
export function randomBytes(length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i += 1) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const WORDS = [
  'usr', 'bin', 'lib', 'etc', 'share', 'locale', 'python3', 'site-packages', 'README', '\n', ' ', '0000644', 'root',
];

/** Deterministic text-like bytes that compress about 4:1, like a layer full of files. */
export function compressibleBytes(length: number, seed = 7): Buffer {
  const out = Buffer.allocUnsafe(length);
  const noise = randomBytes(Math.ceil(length / 4) + 16, seed);
  let at = 0;
  let n = 0;
  while (at < length) {
    const r = noise[n % noise.length] ?? 0;
    n += 1;
    const word = r < 40 ? String.fromCharCode(33 + (r % 90)) : (WORDS[r % WORDS.length] ?? ' ');
    at += out.write(word, at, 'latin1');
  }
  return out;
}

/** Text with stretches of random bytes: level 6 makes dynamic-Huffman blocks and stored blocks of it. */
export function mixed(length: number, seed: number): Buffer {
  const out = compressibleBytes(length, seed);
  const random = prng(seed);
  for (let at = 0; at < length; at += 200 * 1024) {
    if (random() < 0.4) randomBytes(Math.min(100 * 1024, length - at), seed + at).copy(out, at);
  }
  return out;
}

export function zstdCompress(data: Buffer, ...args: string[]): Buffer {
  return execFileSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 1 << 30 });
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * A collect that lets the event loop turn `turns` times between chunks, so that the producer runs ahead
 * and backpressure is exercised. Returns the data and the chunk sizes.
 */
export async function collectSlowly(stream: Readable, turns = 2): Promise<{ data: Buffer; chunks: number[] }> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    for (let i = 0; i < turns; i += 1) await new Promise((resolve) => setImmediate(resolve));
  }
  return { data: Buffer.concat(chunks), chunks: chunks.map((c) => c.length) };
}

/** Deterministic PRNG for test plans. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

/** Splits a buffer into an async iterable of chunks, as a read stream would deliver it. */
export async function* chunked(data: Buffer, size = 65536): AsyncGenerator<Buffer, void, undefined> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, Math.min(data.length, at + size));
}

/** An inflater's input over `data`: the bytes from any offset on, in chunks. */
export function rawInput(data: Buffer, size = 65536): (rawOffset: number) => AsyncGenerator<Buffer, void, undefined> {
  return (rawOffset) => chunked(data.subarray(rawOffset), size);
}
