import { describe, expect, it } from 'vitest';
import { ZstdFrameError, ZstdFrameScanner } from '../../lib/source/zstd-frames.js';
import { compressibleBytes, randomBytes, zstdCompress } from './helpers.js';

/** Frame ends as absolute offsets, scanning `stream` in pieces of `size`. */
function frameEnds(stream: Buffer, size: number): { ends: number[]; whole: boolean } {
  const scanner = new ZstdFrameScanner();
  const ends: number[] = [];
  for (let at = 0; at < stream.length; at += size) {
    const piece = stream.subarray(at, Math.min(stream.length, at + size));
    for (const end of scanner.scan(piece)) ends.push(at + end);
  }
  return { ends, whole: scanner.atFrameStart };
}

function skippable(payload: Buffer, n = 0): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(0x184d2a50 + n, 0);
  header.writeUInt32LE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('ZstdFrameScanner', () => {
  const data = compressibleBytes(600_000, 3);
  const frames = [
    zstdCompress(data.subarray(0, 300_000)),
    zstdCompress(Buffer.alloc(0)),
    skippable(Buffer.from('meta'), 7),
    zstdCompress(data.subarray(300_000), '--no-check', '-1'),
    zstdCompress(randomBytes(200_000, 4), '--no-content-size'), // raw blocks
    zstdCompress(Buffer.alloc(1_000_000)), // RLE blocks
    skippable(Buffer.alloc(0)),
  ];
  const stream = Buffer.concat(frames);
  const expected = frames.map((_, i) => frames.slice(0, i + 1).reduce((sum, frame) => sum + frame.length, 0));

  it('finds where each frame ends from headers alone, however the stream is cut', () => {
    for (const size of [1, 3, 7, 1000, 65_536, stream.length]) {
      expect(frameEnds(stream, size), `pieces of ${size}`).toEqual({ ends: expected, whole: true });
    }
  });

  it('knows when the stream stops inside a frame', () => {
    for (const cut of [1, 4, 5, 6, 100, (frames[0]?.length ?? 0) + 3]) {
      expect(frameEnds(stream.subarray(0, cut), 1000).whole, `cut at ${cut}`).toBe(false);
    }
  });

  it('rejects what is not a frame, saying where', () => {
    const garbage = Buffer.concat([frames[0] ?? Buffer.alloc(0), Buffer.from('not zstd at all')]);
    const error = (() => {
      try {
        frameEnds(garbage, 4096);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ZstdFrameError);
    expect((error as ZstdFrameError).offset).toBe(frames[0]?.length);

    const reservedBit = Buffer.from(frames[1] ?? Buffer.alloc(0));
    reservedBit[4] = (reservedBit[4] ?? 0) | 8;
    expect(() => frameEnds(reservedBit, 100)).toThrow(/reserved bit/);
    // A frame header then a block header of the reserved type 3.
    const reservedBlock = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38, 0b111, 0, 0]);
    expect(() => frameEnds(reservedBlock, 100)).toThrow(/block type/);
  });
});
