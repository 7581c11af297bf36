import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gzipInflater } from '../../lib/source/gzip-inflater.js';
import { OUTPUT_BUFFER_SIZE, STREAM_START, type Checkpoint, type DecodeContext } from '../../lib/source/inflater.js';
import { mixed, rawInput } from './helpers.js';

// A cursor restarted at a checkpoint inside a gzip member (a mount's read pass after indexing, a read
// far ahead) must decode into span-aligned buffers, as one from a member start does: the span cursor
// then takes each span as a view, and the span cache hands the buffer back once it evicts it. Decoded
// through a zlib stream instead, every span was copied into a fresh megabyte. (Errors after a resume:
// gzip-checkpoints.test.ts.)

const MiB = 1024 * 1024;

async function checkpointsOf(compressed: Buffer): Promise<Checkpoint[]> {
  const checkpoints: Checkpoint[] = [];
  const context: DecodeContext = { name: 'layer.gz', from: STREAM_START, onOutput: () => {}, recording: { spacing: 700 * 1024, onCheckpoint: (c) => checkpoints.push(c) } };
  for await (const _ of gzipInflater.decode(rawInput(compressed), context)) void _;
  return checkpoints;
}

describe('gzip resumed inside a member', () => {
  const data = mixed(5 * MiB, 31);
  const tail = mixed(MiB, 32);
  // A second member after the first: what follows the resumed one is decoded too.
  const compressed = Buffer.concat([gzipSync(data), gzipSync(tail)]);
  const whole = Buffer.concat([data, tail]);

  it('yields views of whole output buffers at the offset of their span, byte for byte, and goes on into the next member', async () => {
    const inside = (await checkpointsOf(compressed)).filter((c) => c.window !== undefined && c.outOffset < data.length);
    expect(inside.length).toBeGreaterThan(2);
    for (const from of inside.slice(0, 3)) {
      const handed: Buffer[] = [];
      const context: DecodeContext = {
        name: 'layer.gz',
        from,
        onOutput: () => {},
        outputBuffer: () => {
          const buffer = Buffer.alloc(OUTPUT_BUFFER_SIZE);
          handed.push(buffer);
          return buffer;
        },
      };
      const chunks: Buffer[] = [];
      let at = from.outOffset;
      for await (const chunk of gzipInflater.decode(rawInput(compressed, 50_000), context)) {
        if (at < data.length) {
          // Inside the resumed member: every chunk lies in a buffer it was given, where its span puts it.
          expect(handed.some((buffer) => buffer.buffer === chunk.buffer), `chunk at ${at}`).toBe(true);
          expect(chunk.byteOffset).toBe(at % OUTPUT_BUFFER_SIZE);
        }
        chunks.push(Buffer.from(chunk));
        at += chunk.length;
      }
      expect(Buffer.concat(chunks).equals(whole.subarray(from.outOffset)), `from ${from.outOffset}, bit ${from.bits}`).toBe(true);
    }
  });
});
