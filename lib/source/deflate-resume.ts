/**
 * Starting a raw inflater in the middle of a deflate stream, at a block boundary that is not on a byte
 * boundary, without `inflatePrime` (which neither node:zlib nor pako's public API has).
 *
 * A checkpoint says: the block starts at bit `bits` (0–7, counted from the least significant bit) of the
 * byte at `rawOffset`. We feed the inflater a few made-up bytes instead of that byte: empty deflate blocks
 * whose total length is `bits` modulo 8, followed by the byte's upper `8 − bits` bits. Every later byte of
 * the original stream then lines up bit for bit, so the original bytes follow unchanged. The empty blocks
 * produce no output and leave the window (set as a dictionary) untouched.
 *
 * Two empty non-final blocks suffice for every length modulo 8: a fixed-Huffman block is 10 bits
 * (header, end-of-block code), and the dynamic-Huffman block below is 91 bits.
 */

/** Writes bits least significant first, as deflate does. */
class BitWriter {
  private readonly bytes: number[] = [];
  private bitCount = 0;

  /** Appends the low `count` bits of `value`, least significant first. */
  write(value: number, count: number): void {
    for (let i = 0; i < count; i += 1) {
      const byte = this.bitCount >> 3;
      if (byte === this.bytes.length) this.bytes.push(0);
      if (((value >>> i) & 1) === 1) this.bytes[byte] = (this.bytes[byte] ?? 0) | (1 << (this.bitCount & 7));
      this.bitCount += 1;
    }
  }

  get length(): number {
    return this.bitCount;
  }

  toBuffer(): Buffer {
    return Buffer.from(this.bytes);
  }
}

/** An empty, non-final fixed-Huffman block: BFINAL 0, BTYPE 01, end-of-block (code 0000000). 10 bits. */
function emptyFixedBlock(out: BitWriter): void {
  out.write(0, 1);
  out.write(1, 2);
  out.write(0, 7);
}

/** Order in which the code-length code lengths are sent (RFC 1951, 3.2.7). */
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1];

/**
 * An empty, non-final dynamic-Huffman block, 91 bits: 257 literal/length codes of which only
 * end-of-block has a length (1: an incomplete code, which zlib accepts for a single code of length 1),
 * two distance codes of length 1. The code-length code has two symbols of length 1: `1` (code 0) and
 * `18`, a run of 11–138 zero lengths (code 1).
 */
function emptyDynamicBlock(out: BitWriter): void {
  out.write(0, 1); // BFINAL
  out.write(2, 2); // BTYPE: dynamic
  out.write(257 - 257, 5); // HLIT
  out.write(2 - 1, 5); // HDIST
  out.write(CODE_LENGTH_ORDER.length - 4, 4); // HCLEN
  for (const symbol of CODE_LENGTH_ORDER) out.write(symbol === 1 || symbol === 18 ? 1 : 0, 3);
  // Literal/length lengths 0–255: zero (138 + 118 zeros); 256: 1. Distance lengths: 1, 1.
  out.write(1, 1);
  out.write(138 - 11, 7);
  out.write(1, 1);
  out.write(118 - 11, 7);
  for (let i = 0; i < 3; i += 1) out.write(0, 1);
  out.write(0, 1); // end-of-block
}

/** Empty blocks for each length modulo 8: fixed = 10 bits (≡ 2), dynamic = 91 bits (≡ 3). */
const PLANS: ReadonlyArray<{ dynamic: number; fixed: number }> = [
  { dynamic: 0, fixed: 0 }, // 0
  { dynamic: 1, fixed: 3 }, // 121
  { dynamic: 0, fixed: 1 }, // 10
  { dynamic: 1, fixed: 0 }, // 91
  { dynamic: 0, fixed: 2 }, // 20
  { dynamic: 1, fixed: 1 }, // 101
  { dynamic: 0, fixed: 3 }, // 30
  { dynamic: 1, fixed: 2 }, // 111
];

/**
 * The bytes to feed a raw inflater in place of `byte`, the byte at a checkpoint whose low `bits` bits
 * belong to the block before it. The original bytes after it follow unchanged. For `bits` 0 this is the
 * byte itself.
 */
export function resumeHead(byte: number, bits: number): Buffer {
  const plan = PLANS[bits];
  if (plan === undefined || !Number.isInteger(bits)) throw new RangeError(`bits must be 0–7, got ${bits}`);
  if (bits === 0) return Buffer.from([byte & 0xff]);
  const out = new BitWriter();
  for (let i = 0; i < plan.dynamic; i += 1) emptyDynamicBlock(out);
  for (let i = 0; i < plan.fixed; i += 1) emptyFixedBlock(out);
  if ((out.length & 7) !== bits) throw new Error(`resume prefix has ${out.length} bits, expected ${bits} mod 8`);
  out.write((byte & 0xff) >>> bits, 8 - bits);
  return out.toBuffer();
}

/**
 * `input` (the compressed bytes from a checkpoint's `rawOffset` on) with its first byte replaced by
 * `resumeHead`. Ends at once if `input` is empty.
 */
export async function* withResumeHead(
  input: AsyncIterable<Buffer>,
  bits: number,
): AsyncGenerator<Buffer, void, undefined> {
  let first = true;
  for await (const chunk of input) {
    if (chunk.length === 0) continue;
    if (first) {
      first = false;
      const head = resumeHead(chunk[0] ?? 0, bits);
      yield chunk.length === 1 ? head : Buffer.concat([head, chunk.subarray(1)]);
    } else {
      yield chunk;
    }
  }
}

/** How many bytes `resumeHead` adds before the original byte stream lines up again. */
export function resumeHeadExtra(bits: number): number {
  return resumeHead(0, bits).length - 1;
}
