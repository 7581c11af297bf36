import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../lib/table/sha256-hex.js';

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 examples', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('gives node:crypto digest for every length across the block and padding edges, and for UTF-8', () => {
    // 55/56/64 bytes are where the length no longer fits the last block; non-ASCII checks the encoding.
    for (let length = 0; length <= 200; length++) {
      const text = Array.from({ length }, (_, i) => String.fromCharCode(97 + ((i * 7 + length) % 26))).join('');
      expect(sha256Hex(text), `length ${length}`).toBe(createHash('sha256').update(text).digest('hex'));
    }
    const identity = 'layer\u0000/images/äpfel-😀.tar\u0000sha256:ab12\u0000271128576\u00001733350000';
    expect(sha256Hex(identity)).toBe(createHash('sha256').update(identity).digest('hex'));
  });
});
