import { execFileSync } from 'node:child_process';
import { constants, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { CheckpointIndex } from '../../lib/source/checkpoint-index.js';
import { DecompressedSource } from '../../lib/source/decompressed-source.js';
import { gzipInflater } from '../../lib/source/gzip-inflater.js';
import { STREAM_START, type Checkpoint, type DecodeContext, type UnsettledCheckpoint } from '../../lib/source/inflater.js';
import { mixed, prng, randomBytes, rawInput, scaled } from './helpers.js';

// A recording pass hands node:zlib's checkpoints over unsettled when asked (onUnsettled): their bit
// positions are found by trial decoding only when one is first used. These tests check that what they
// settle to is exactly what recording settles at once, and that an index resumes right from them.

const KiB = 1024;
const MiB = 1024 * KiB;

async function drain(decoded: AsyncGenerator<Buffer, void, undefined>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of decoded) out.push(chunk);
  return Buffer.concat(out);
}

/** One recording pass from the stream's start, with or without `onUnsettled`. */
async function record(compressed: Buffer, spacing: number, unsettledToo: boolean): Promise<{ data: Buffer; settled: Checkpoint[]; unsettled: UnsettledCheckpoint[] }> {
  const settled: Checkpoint[] = [];
  const unsettled: UnsettledCheckpoint[] = [];
  const context: DecodeContext = {
    name: 'layer.gz',
    from: STREAM_START,
    onOutput: () => {},
    recording: { spacing, onCheckpoint: (checkpoint) => settled.push(checkpoint), onUnsettled: unsettledToo ? (checkpoint) => unsettled.push(checkpoint) : undefined },
  };
  return { data: await drain(gzipInflater.decode(rawInput(compressed, 7919), context)), settled, unsettled };
}


const text = mixed(scaled(3, 8) * MiB, 21);
const streams = [
  { label: 'mixed blocks, small memLevel', data: text, compressed: gzipSync(text, { memLevel: 2 }) },
  { label: 'fixed Huffman', data: text, compressed: gzipSync(text, { strategy: constants.Z_FIXED }) },
  { label: 'stored blocks (gzip -1 of random data)', data: randomBytes(MiB, 22), compressed: execFileSync('gzip', ['-1', '-c', '-n'], { input: randomBytes(MiB, 22), maxBuffer: 1 << 26 }) },
  {
    label: 'three members',
    data: text,
    compressed: Buffer.concat([gzipSync(text.subarray(0, MiB)), gzipSync(text.subarray(MiB, MiB + 100)), gzipSync(text.subarray(MiB + 100), { level: 1 })]),
  },
];

describe.each(streams)('unsettled gzip checkpoints: $label', ({ data, compressed }) => {
  it('settle to exactly the checkpoints recorded settled, in order, and none is reported both ways', async () => {
    const spacing = 64 * KiB;
    const eager = await record(compressed, spacing, false);
    const deferred = await record(compressed, spacing, true);
    expect(eager.data.equals(data)).toBe(true);
    expect(deferred.data.equals(data)).toBe(true);
    expect(deferred.settled).toEqual([]);
    expect(deferred.unsettled.length).toBeGreaterThan(0);
    const settled = deferred.unsettled.map((checkpoint) => checkpoint.settle()).filter((c): c is Checkpoint => c !== undefined);
    const shape = (c: Checkpoint): unknown => [c.rawOffset, c.bits ?? 0, c.outOffset, c.window?.toString('hex')];
    expect(settled.map(shape)).toEqual(eager.settled.map(shape));
    for (const checkpoint of deferred.unsettled) {
      // The boundary's byte is the one found or just before it, and settling twice gives one answer.
      const once = checkpoint.settle();
      expect(checkpoint.settle()).toBe(once);
      if (once !== undefined) expect(checkpoint.rawOffset - once.rawOffset).toBeLessThanOrEqual(2);
    }
  });

  it('an index of unsettled checkpoints serves every read byte for byte from the one before it', async () => {
    const source = new DecompressedSource(new BufferSource(compressed, 'layer.gz'), gzipInflater, { checkpoints: 'eager', checkpointSpacing: 64 * KiB, cacheBytes: 0 });
    expect((await source.read(0, data.length)).equals(data)).toBe(true);
    const recorded = source.stats.checkpoints;
    expect(recorded).toBeGreaterThan(2);
    const random = prng(recorded);
    for (let i = 0; i < 40; i += 1) {
      const offset = Math.floor(random() * data.length);
      const before = source.stats.inflatedBytes;
      expect((await source.read(offset, 3000)).equals(data.subarray(offset, offset + 3000)), `read at ${offset}`).toBe(true);
      // From the checkpoint before it: a stretch about the spacing, not the stream from its start.
      expect(source.stats.inflatedBytes - before).toBeLessThan(2 * MiB);
    }
    // An export settles them all; a fresh source importing it reads the same bytes.
    const exported = source.exportCheckpoints();
    const fresh = new DecompressedSource(new BufferSource(compressed, 'layer.gz'), gzipInflater, { cacheBytes: 0 });
    fresh.importCheckpoints(exported);
    expect(fresh.stats.checkpoints).toBe(source.stats.checkpoints);
    const offset = Math.floor(data.length * 0.7);
    expect((await fresh.read(offset, 5000)).equals(data.subarray(offset, offset + 5000))).toBe(true);
  });
});

describe('CheckpointIndex with unsettled checkpoints', () => {
  const window = Buffer.alloc(32 * KiB, 7);
  const fake = (rawOffset: number, outOffset: number, settles: Checkpoint | undefined): UnsettledCheckpoint & { calls: number } => {
    const checkpoint = {
      rawOffset,
      outOffset,
      bytes: window.length,
      calls: 0,
      settle: () => {
        checkpoint.calls += 1;
        return settles;
      },
    };
    return checkpoint;
  };

  it('settles only the checkpoint a find lands on, and drops one whose trials found none, using the one before', () => {
    const index = new CheckpointIndex('gzip');
    const first = fake(1000, 100_000, { rawOffset: 999, bits: 3, outOffset: 100_000, window });
    const broken = fake(2000, 200_000, undefined);
    const third = fake(3000, 300_000, { rawOffset: 3000, bits: 0, outOffset: 300_000, window });
    for (const checkpoint of [first, broken, third]) expect(index.addUnsettled(checkpoint)).toBe(true);
    expect(index.count).toBe(4);
    expect(index.bytes).toBe(3 * window.length);
    // Out of order: refused, as `add` refuses.
    expect(index.addUnsettled(fake(2500, 250_000, undefined))).toBe(false);

    const found = index.find(250_000);
    expect([found.rawOffset, found.bits, found.outOffset, found.window?.equals(window)]).toEqual([999, 3, 100_000, true]);
    expect([first.calls, broken.calls, third.calls]).toEqual([1, 1, 0]);
    expect(index.count).toBe(3);
    // The next checkpoint after a read is known without settling it (its byte bounds the read).
    expect(index.after(150_000)).toEqual({ rawOffset: 3000, outOffset: 300_000 });
    expect(third.calls).toBe(0);
    // Listing settles the rest; nothing is settled twice.
    expect(index.list().map((c) => [c.rawOffset, c.bits, c.outOffset])).toEqual([
      [0, 0, 0],
      [999, 3, 100_000],
      [3000, 0, 300_000],
    ]);
    expect([first.calls, broken.calls, third.calls]).toEqual([1, 1, 1]);
  });

  it('keeps at most 16 MiB unsettled: beyond it the oldest are settled as they come', () => {
    const index = new CheckpointIndex('gzip');
    const all = Array.from({ length: 700 }, (_, i) => fake(1000 * (i + 1), 100_000 * (i + 1), { rawOffset: 1000 * (i + 1), bits: 1, outOffset: 100_000 * (i + 1), window }));
    for (const checkpoint of all) index.addUnsettled(checkpoint);
    const settled = all.filter((checkpoint) => checkpoint.calls > 0).length;
    expect(settled).toBe(700 - 512);
    expect(all.slice(0, settled).every((checkpoint) => checkpoint.calls === 1)).toBe(true);
    // The settled ones' windows are packed (a run of one byte: a few dozen bytes each).
    expect(index.bytes).toBeLessThanOrEqual(16 * MiB + settled * KiB);
  });
});
