import { execFileSync } from 'node:child_process';
import { constants, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gzipInflater } from '../../lib/source/gzip-inflater.js';
import { STREAM_START, type Checkpoint, type DecodeContext } from '../../lib/source/inflater.js';
import { compressibleBytes, mixed, prng, randomBytes, rawInput, scaled } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

async function drain(decoded: AsyncGenerator<Buffer, void, undefined>, limit = Infinity): Promise<Buffer> {
  const out: Buffer[] = [];
  let have = 0;
  for await (const chunk of decoded) {
    out.push(chunk);
    have += chunk.length;
    if (have >= limit) break;
  }
  return Buffer.concat(out);
}

/** Decodes the whole stream with recording on; returns the output and the checkpoints. */
async function record(compressed: Buffer, spacing: number, from: Checkpoint = STREAM_START): Promise<{ data: Buffer; checkpoints: Checkpoint[] }> {
  const checkpoints: Checkpoint[] = [];
  const context: DecodeContext = {
    name: 'layer.gz',
    from,
    onOutput: () => {},
    recording: { spacing, onCheckpoint: (checkpoint) => checkpoints.push(checkpoint) },
  };
  const data = await drain(gzipInflater.decode(rawInput(compressed, 7919), context));
  return { data, checkpoints };
}

function decodeFrom(compressed: Buffer, from: Checkpoint, recording = false): AsyncGenerator<Buffer, void, undefined> {
  const context: DecodeContext = {
    name: 'layer.gz',
    from,
    onOutput: () => {},
    recording: recording ? { spacing: MiB, onCheckpoint: () => {} } : undefined,
  };
  return gzipInflater.decode(rawInput(compressed, 65536), context);
}


const streams: Array<{ label: string; data: Buffer; compressed: Buffer }> = [];
{
  const text = compressibleBytes(scaled(2, 6) * MiB, 3);
  streams.push({ label: 'dynamic Huffman (level 6)', data: text, compressed: gzipSync(text) });
  const noise = randomBytes(scaled(1, 3) * MiB, 4);
  streams.push({
    label: 'stored blocks (gzip -1 of random data)',
    data: noise,
    compressed: execFileSync('gzip', ['-1', '-c', '-n'], { input: noise, maxBuffer: 1 << 28 }),
  });
  const stored = compressibleBytes(scaled(1, 3) * MiB, 5);
  streams.push({ label: 'stored blocks (zlib level 0)', data: stored, compressed: gzipSync(stored, { level: 0 }) });
  const fixed = compressibleBytes(scaled(1, 4) * MiB, 6);
  streams.push({ label: 'fixed Huffman (Z_FIXED)', data: fixed, compressed: gzipSync(fixed, { strategy: constants.Z_FIXED }) });
  const mix = mixed(scaled(3, 8) * MiB, 7);
  streams.push({ label: 'mixed blocks, small memLevel (short blocks)', data: mix, compressed: gzipSync(mix, { memLevel: 1 }) });
  const parts = [mix.subarray(0, 1_000_000), mix.subarray(1_000_000, 1_000_050), Buffer.alloc(0), mix.subarray(1_000_050, mix.length - MiB), mix.subarray(mix.length - MiB)];
  streams.push({
    label: 'multi-member with zero padding',
    data: Buffer.concat(parts),
    compressed: Buffer.concat([...parts.map((part, i) => gzipSync(part, { level: 1 + (i % 9) })), Buffer.alloc(4096)]),
  });
}

describe.each(streams)('gzip checkpoints: $label', ({ data, compressed }) => {
  it('resumes at every recorded checkpoint, natively and with pako, byte for byte', async () => {
    const spacing = 256 * KiB;
    const { data: decoded, checkpoints } = await record(compressed, spacing);
    expect(decoded.equals(data)).toBe(true);
    expect(checkpoints.length).toBeGreaterThan(Math.floor(data.length / spacing / 2));
    let previous = 0;
    for (const checkpoint of checkpoints) {
      expect(checkpoint.outOffset - previous).toBeGreaterThanOrEqual(spacing);
      previous = checkpoint.outOffset;
      expect(checkpoint.bits ?? 0).toBeGreaterThanOrEqual(0);
      expect(checkpoint.bits ?? 0).toBeLessThan(8);
      if (checkpoint.window !== undefined) expect(checkpoint.window.length).toBe(32 * KiB);
    }
    const random = prng(checkpoints.length);
    for (const [i, checkpoint] of checkpoints.entries()) {
      const expected = data.subarray(checkpoint.outOffset);
      // The whole rest for a few checkpoints (crosses members and the end), a stretch for the others.
      const whole = i === 0 || i === checkpoints.length - 1 || random() < 0.1;
      const limit = whole ? Infinity : 100 * KiB;
      const native = await drain(decodeFrom(compressed, checkpoint), limit);
      const viaPako = await drain(decodeFrom(compressed, checkpoint, true), limit);
      const want = whole ? expected : expected.subarray(0, Math.min(native.length, viaPako.length));
      expect(native.subarray(0, want.length).equals(want), `native from checkpoint ${i} (${checkpoint.outOffset}, bit ${checkpoint.bits})`).toBe(true);
      expect(viaPako.subarray(0, want.length).equals(want), `pako from checkpoint ${i}`).toBe(true);
      expect(want.length).toBeGreaterThanOrEqual(Math.min(expected.length, limit));
      if (whole) expect(native.length).toBe(expected.length);
      if (whole) expect(viaPako.length).toBe(expected.length);
    }
  });

  it('records the same checkpoints when recording resumes from one of them', async () => {
    const spacing = 512 * KiB;
    const { checkpoints } = await record(compressed, spacing);
    const middle = checkpoints[Math.floor(checkpoints.length / 2)];
    if (middle === undefined) return;
    const resumed = await record(compressed, spacing, middle);
    expect(resumed.data.equals(data.subarray(middle.outOffset))).toBe(true);
    const after = checkpoints.filter((c) => c.outOffset > middle.outOffset);
    expect(resumed.checkpoints.map((c) => [c.rawOffset, c.bits ?? 0, c.outOffset])).toEqual(after.map((c) => [c.rawOffset, c.bits ?? 0, c.outOffset]));
  });
});

describe('gzip checkpoints', () => {
  it('land on every bit offset 0–7 in a large enough stream', async () => {
    const text = mixed(scaled(4, 12) * MiB, 11);
    const { checkpoints } = await record(gzipSync(text, { memLevel: 2 }), 32 * KiB);
    const seen = new Set(checkpoints.map((c) => c.bits ?? 0));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // And each kind resumes, natively and with pako.
    const compressed = gzipSync(text, { memLevel: 2 });
    for (let bits = 0; bits < 8; bits += 1) {
      const checkpoint = checkpoints.find((c) => (c.bits ?? 0) === bits);
      if (checkpoint === undefined) throw new Error(`no checkpoint at bit ${bits}`);
      const want = text.subarray(checkpoint.outOffset, checkpoint.outOffset + 200 * KiB);
      for (const recording of [false, true]) {
        const got = await drain(decodeFrom(compressed, checkpoint, recording), want.length);
        expect(got.subarray(0, want.length).equals(want), `bit ${bits}, recording ${recording}`).toBe(true);
      }
    }
  });

  it('a later member gets a checkpoint near its start: its start without a window (pako), or its first block boundary (node:zlib)', async () => {
    const a = compressibleBytes(300 * KiB, 1);
    const b = compressibleBytes(300 * KiB, 2);
    const first = gzipSync(a);
    const both = Buffer.concat([first, gzipSync(b)]);
    // No block boundary of the first member is `spacing` from the start but the end of its last block.
    const fromStart = await record(both, a.length);
    const near = fromStart.checkpoints.find((checkpoint) => checkpoint.outOffset >= a.length);
    if (near === undefined) throw new Error('no checkpoint in the second member');
    expect(near.outOffset - a.length).toBeLessThan(b.length / 2);
    expect((await drain(decodeFrom(both, near))).equals(b.subarray(near.outOffset - a.length))).toBe(true);
    // A pass that starts inside the first member records with pako, which sees the member start.
    const inside = fromStart.checkpoints.find((checkpoint) => checkpoint.outOffset < a.length) ?? (await record(both, 64 * KiB)).checkpoints[0];
    if (inside === undefined) throw new Error('no checkpoint in the first member');
    const resumed = await record(both, a.length - inside.outOffset, inside);
    expect(resumed.checkpoints).toContainEqual({ rawOffset: first.length, outOffset: a.length });
  });

  it('reports a truncated member after a resume as ETRUNCATED, and corrupt data as ECOMPRESSION', async () => {
    const text = compressibleBytes(3 * MiB, 12);
    const compressed = gzipSync(text);
    const { checkpoints } = await record(compressed, MiB);
    const checkpoint = checkpoints[0];
    if (checkpoint === undefined) throw new Error('no checkpoint');
    for (const recording of [false, true]) {
      const cut = compressed.subarray(0, compressed.length - 4); // inside the trailer
      const context: DecodeContext = {
        name: 'layer.gz',
        from: checkpoint,
        onOutput: () => {},
        recording: recording ? { spacing: MiB, onCheckpoint: () => {} } : undefined,
      };
      await expect(drain(gzipInflater.decode(rawInput(cut), context))).rejects.toMatchObject({ code: 'ETRUNCATED' });
      const deflateCut = compressed.subarray(0, checkpoint.rawOffset + 1000);
      await expect(drain(gzipInflater.decode(rawInput(deflateCut), context))).rejects.toMatchObject({ code: 'ETRUNCATED' });
      const garbage = Buffer.concat([compressed, Buffer.from('garbage!')]);
      await expect(drain(gzipInflater.decode(rawInput(garbage), context))).rejects.toMatchObject({ code: 'ECOMPRESSION' });
      const corrupt = Buffer.from(compressed);
      randomBytes(64 * KiB, 99).copy(corrupt, checkpoint.rawOffset + 5000);
      await expect(drain(gzipInflater.decode(rawInput(corrupt), context))).rejects.toMatchObject({ code: 'ECOMPRESSION' });
    }
  });

  it('the window is what back-references need: a wrong window gives other bytes', async () => {
    const text = compressibleBytes(2 * MiB, 13);
    const compressed = gzipSync(text);
    const { checkpoints } = await record(compressed, MiB);
    const checkpoint = checkpoints[0];
    if (checkpoint?.window === undefined) throw new Error('no checkpoint with a window');
    const wrong = { ...checkpoint, window: Buffer.alloc(checkpoint.window.length, 0x41) };
    const got = await drain(decodeFrom(compressed, wrong), 64 * KiB).catch(() => Buffer.alloc(0));
    expect(got.subarray(0, 64 * KiB).equals(text.subarray(checkpoint.outOffset, checkpoint.outOffset + 64 * KiB))).toBe(false);
  });
});
