import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { resumeHead, resumeHeadExtra, withResumeHead } from '../../lib/source/deflate-resume.js';
import { collect } from './helpers.js';
import { Readable } from 'node:stream';

/**
 * A final, empty fixed-Huffman block (BFINAL 1, BTYPE 01, end-of-block: 10 bits) starting at bit `bits`
 * of the first byte, whose lower bits hold `junk` from a block before it.
 */
function blockAtBit(bits: number, junk: number): Buffer {
  const value = (0b011 << bits) | (junk & ((1 << bits) - 1));
  return Buffer.from([value & 0xff, value >> 8, 0]);
}

describe('resumeHead', () => {
  it('lines the stream up again at every bit offset, with empty blocks zlib accepts', () => {
    for (let bits = 0; bits < 8; bits += 1) {
      for (const junk of [0x00, 0xff, 0xa5]) {
        const original = blockAtBit(bits, junk);
        const head = resumeHead(original[0] ?? 0, bits);
        expect(head.length - 1).toBe(resumeHeadExtra(bits));
        // Decodes to nothing, and ends without complaint: the final block was found where it was.
        expect(inflateRawSync(Buffer.concat([head, original.subarray(1)])).length, `bit ${bits}`).toBe(0);
      }
    }
  });

  it('is the byte itself at bit 0', () => {
    expect(resumeHead(0x5a, 0)).toEqual(Buffer.from([0x5a]));
    expect(resumeHeadExtra(0)).toBe(0);
  });

  it('rejects a bit count outside 0–7', () => {
    expect(() => resumeHead(0, 8)).toThrow(RangeError);
    expect(() => resumeHead(0, -1)).toThrow(RangeError);
    expect(() => resumeHead(0, 1.5)).toThrow(RangeError);
  });

  it('withResumeHead replaces only the first byte of the stream, skipping empty chunks', async () => {
    async function* input(): AsyncGenerator<Buffer, void, undefined> {
      yield Buffer.alloc(0);
      yield Buffer.from([0xab]);
      yield Buffer.from([1, 2, 3]);
    }
    const out = await collect(Readable.from(withResumeHead(input(), 3)));
    expect(out.equals(Buffer.concat([resumeHead(0xab, 3), Buffer.from([1, 2, 3])]))).toBe(true);
  });
});
