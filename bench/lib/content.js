// Seeded, order-independent content for the benchmark image: every file's bytes are a function of
// (seed, its own key) only, so the plan can be built in any order and still give the same archive.
// Random bytes come from an AES-128-CTR keystream (fast, incompressible); text comes from a fixed pool
// of generated source-like lines (compressible about 3-4x by gzip, like real text and code).

import { createCipheriv, createHash } from 'node:crypto';

/** sfc32: a small, fast, seedable PRNG. @param {string} seed @returns {() => number} uint32 */
export function prng(seed) {
  const h = createHash('sha256').update(seed).digest();
  let a = h.readUInt32LE(0);
  let b = h.readUInt32LE(4);
  let c = h.readUInt32LE(8);
  let d = h.readUInt32LE(12);
  return () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t;
  };
}

/** Helpers over one PRNG stream. */
export class Rng {
  /** @param {string} seed */
  constructor(seed) {
    this.next = prng(seed);
  }

  /** A float in [0, 1). */
  float() {
    return this.next() / 4294967296;
  }

  /** An integer in [lo, hi]. @param {number} lo @param {number} hi */
  int(lo, hi) {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** @template T @param {readonly T[]} items @returns {T} */
  pick(items) {
    return /** @type {T} */ (items[Math.floor(this.float() * items.length)]);
  }

  /**
   * A log-normal size around `median`, clamped to [min, max].
   * @param {number} median @param {number} min @param {number} max
   */
  size(median, min, max, sigma = 1) {
    const u1 = Math.max(this.float(), 1e-12);
    const u2 = this.float();
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    return Math.round(Math.min(max, Math.max(min, median * Math.exp(sigma * z))));
  }

  /** A pronounceable identifier, e.g. `tavorix`. */
  word(minSyllables = 1, maxSyllables = 3) {
    const n = this.int(minSyllables, maxSyllables);
    let w = '';
    for (let i = 0; i < n; i++) w += this.pick(CONSONANTS) + this.pick(VOWELS);
    return this.float() < 0.5 ? w + this.pick(CONSONANTS) : w;
  }
}

const CONSONANTS = ['b', 'c', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'x', 'z', 'th', 'st'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'io', 'ea'];

const ZERO = Buffer.alloc(1 << 20);

/** `size` incompressible bytes determined by `key`. @param {string} seed @param {string} key @param {number} size */
export function randomBytes(seed, key, size) {
  const digest = createHash('sha256').update(`${seed}\0${key}`).digest();
  const cipher = createCipheriv('aes-128-ctr', digest.subarray(0, 16), digest.subarray(16, 32));
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const n = Math.min(ZERO.length, size - off);
    cipher.update(ZERO.subarray(0, n)).copy(out, off);
    off += n;
  }
  return out;
}

/** @type {Map<string, Buffer[]>} */
const linePools = new Map();

/** A pool of 40 000 source-like lines, built once per seed. @param {string} seed */
function linePool(seed) {
  let pool = linePools.get(seed);
  if (pool !== undefined) return pool;
  const rng = new Rng(`${seed}\0lines`);
  const vocabulary = Array.from({ length: 3000 }, () => rng.word());
  const keywords = ['def', 'return', 'if', 'else', 'for', 'import', 'const', 'let', 'function', 'class', 'self', 'None', 'true', 'false', 'in', 'not', 'and', 'or'];
  const punct = [' = ', '(', ')', ', ', '.', ': ', ' + ', ' == ', '[', ']', ' # ', ' {', '}', ';'];
  pool = [];
  for (let i = 0; i < 40000; i++) {
    const indent = '    '.repeat(rng.int(0, 3));
    const words = rng.int(2, 12);
    let line = indent;
    for (let j = 0; j < words; j++) {
      line += rng.float() < 0.25 ? rng.pick(keywords) : rng.pick(vocabulary);
      line += rng.float() < 0.45 ? rng.pick(punct) : ' ';
    }
    pool.push(Buffer.from(`${line.trimEnd()}\n`));
  }
  linePools.set(seed, pool);
  return pool;
}

/** `size` bytes of text determined by `key`. @param {string} seed @param {string} key @param {number} size */
export function textBytes(seed, key, size) {
  const pool = linePool(seed);
  const rng = new Rng(`${seed}\0${key}`);
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const line = rng.pick(pool);
    off += line.copy(out, off, 0, Math.min(line.length, size - off));
  }
  return out;
}

/**
 * `size` bytes shaped like an executable or shared library: runs of incompressible bytes (code),
 * zeros (padding, .bss), text (string tables) and small strided integers (relocation and symbol
 * tables). gzip gets it to about 40 %, about what it does with real ELF files.
 * @param {string} seed @param {string} key @param {number} size
 */
export function binaryBytes(seed, key, size) {
  const rng = new Rng(`${seed}\0bin\0${key}`);
  const noise = randomBytes(seed, key, size);
  const pool = linePool(seed);
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const n = Math.min(size - off, rng.int(64, 2048));
    const kind = rng.float();
    if (kind < 0.3) noise.copy(out, off, off, off + n);
    else if (kind < 0.55) out.fill(0, off, off + n);
    else if (kind < 0.8) {
      let o = off;
      while (o < off + n) o += rng.pick(pool).copy(out, o, 0, Math.min(off + n - o, 80));
    } else {
      let v = rng.next() & 0xffff;
      const step = rng.int(1, 64);
      for (let o = off; o < off + n; o++) out[o] = (o - off) % 8 < 2 ? (v += (o - off) % 8 === 0 ? step : 0) & 0xff : 0;
    }
    off += n;
  }
  return out;
}
