import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ImgfsError, isImgfsError } from '../../lib/errors.js';
import { gzipInflater } from '../../lib/source/gzip-inflater.js';
import { OUTPUT_BUFFER_SIZE, STREAM_START, type Checkpoint, type DecodeContext } from '../../lib/source/inflater.js';
import { chunked, compressibleBytes, rawInput } from './helpers.js';

const MiB = 1024 * 1024;

/** Which decoder the tests run: native (node:zlib), or pako while recording checkpoints. */
let recording = false;

function context(onOutput: (length: number) => void = () => {}): DecodeContext {
  return {
    name: 'layer.tar.gz',
    from: STREAM_START,
    onOutput,
    recording: recording ? { spacing: 100_000, onCheckpoint: () => {} } : undefined,
  };
}

async function inflate(compressed: Buffer, chunkSize = 65536): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of gzipInflater.decode(rawInput(compressed, chunkSize), context())) out.push(chunk);
  return Buffer.concat(out);
}

async function failure(compressed: Buffer): Promise<ImgfsError> {
  const error: unknown = await inflate(compressed).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isImgfsError(error)) throw new Error(`expected an ImgfsError, got ${String(error)}`);
  return error;
}

describe.each([
  { mode: 'native', records: false },
  { mode: 'recording checkpoints (pako)', records: true },
])('gzipInflater, $mode', ({ records }) => {
  const data = compressibleBytes(3_000_000);
  beforeEach(() => {
    recording = records;
  });

  it('inflates one member', async () => {
    expect((await inflate(gzipSync(data))).equals(data)).toBe(true);
    const small = data.subarray(0, 20_000);
    expect((await inflate(gzipSync(small), 1)).equals(small)).toBe(true); // one byte at a time
  });

  it('inflates what the gzip CLI writes', async () => {
    const compressed = execFileSync('gzip', ['-c', '-n'], { input: data, maxBuffer: 1 << 28 });
    expect((await inflate(compressed)).equals(data)).toBe(true);
  });

  it('inflates multi-member gzip (cat a.gz b.gz), members split anywhere across chunks', async () => {
    const a = data.subarray(0, 1_000_000);
    const b = data.subarray(1_000_000, 1_000_123);
    const c = data.subarray(1_000_123);
    const compressed = Buffer.concat([gzipSync(a), gzipSync(b), gzipSync(Buffer.alloc(0)), gzipSync(c)]);
    expect((await inflate(compressed)).equals(data)).toBe(true);
    expect((await inflate(compressed, 4099)).equals(data)).toBe(true);
  });

  it('ignores zero padding after the last member', async () => {
    const compressed = Buffer.concat([gzipSync(data), gzipSync(Buffer.from('end')), Buffer.alloc(10_000)]);
    expect((await inflate(compressed, 8192)).equals(Buffer.concat([data, Buffer.from('end')]))).toBe(true);
  });

  it('fails with ETRUNCATED when the stream ends inside a member', async () => {
    const compressed = gzipSync(data);
    for (const cut of [5, 100, compressed.length / 2, compressed.length - 1]) {
      const error = await failure(compressed.subarray(0, Math.floor(cut)));
      expect(error.code).toBe('ETRUNCATED');
      expect(error.reason).toBe('gzip stream truncated');
      expect(error.archive).toBe('layer.tar.gz');
    }
    const twoMembers = Buffer.concat([gzipSync(data.subarray(0, 1000)), gzipSync(data).subarray(0, 500)]);
    expect((await failure(twoMembers)).code).toBe('ETRUNCATED');
  });

  it('fails with ECOMPRESSION on corrupt data, naming the source and a compressed offset', async () => {
    const compressed = gzipSync(data);
    const corrupt = Buffer.from(compressed);
    for (let i = 200_000; i < 200_064; i += 1) corrupt[i] = 0xff;
    const error = await failure(corrupt);
    expect(error.code).toBe('ECOMPRESSION');
    expect(error.archive).toBe('layer.tar.gz');
    const near = Number(/near compressed offset (\d+)/.exec(error.reason)?.[1]);
    // Deflate may decode garbage for a while before it notices; the offset is where zlib gave up.
    expect(near).toBeGreaterThanOrEqual(200_000 - 65_536);
    expect(near).toBeLessThanOrEqual(compressed.length);

    const badCrc = Buffer.from(compressed);
    badCrc[badCrc.length - 6] = (badCrc[badCrc.length - 6] ?? 0) ^ 1;
    expect((await failure(badCrc)).code).toBe('ECOMPRESSION');

    const garbageAfter = Buffer.concat([gzipSync(data.subarray(0, 100)), Buffer.from('garbage!')]);
    expect((await failure(garbageAfter)).code).toBe('ECOMPRESSION');
  });

  it('lets errors of its input through unchanged', async () => {
    async function* broken(): AsyncGenerator<Buffer, void, undefined> {
      yield gzipSync(data).subarray(0, 1000);
      throw new Error('disk on fire');
    }
    const decoded = gzipInflater.decode(() => broken(), context());
    await expect((async () => { for await (const _ of decoded) { /* drain */ } })()).rejects.toThrow('disk on fire');
  });

  it('reports every output chunk to onOutput, and stops when it throws', async () => {
    let total = 0;
    for await (const _ of gzipInflater.decode(rawInput(gzipSync(data)), context((n) => (total += n)))) {
      /* drain */
    }
    expect(total).toBe(data.length);

    const stop = new ImgfsError('ELIMIT', 'too much');
    let seen = 0;
    const limited = gzipInflater.decode(rawInput(gzipSync(data)), context((n) => {
      seen += n;
      if (seen > 500_000) throw stop;
    }));
    await expect((async () => { for await (const _ of limited) { /* drain */ } })()).rejects.toBe(stop);
  });

  it('releases its input when the consumer stops early', async () => {
    let released = false;
    async function* input(): AsyncGenerator<Buffer, void, undefined> {
      try {
        yield* chunked(gzipSync(data), 1024);
      } finally {
        released = true;
      }
    }
    for await (const _ of gzipInflater.decode(() => input(), context())) break;
    await vi.waitFor(() => expect(released).toBe(true), { timeout: 10_000, interval: 5 });
  });
});

describe('gzipInflater: output buffers', () => {
  // Two members, the second starting at an output offset inside a span.
  const first = compressibleBytes(MiB + 12_345, 3);
  const second = compressibleBytes(2 * MiB + 777, 4);
  const data = Buffer.concat([first, second]);
  const firstMember = gzipSync(first, { level: 1 });
  const compressed = Buffer.concat([firstMember, gzipSync(second, { level: 1 })]);
  const secondStart: Checkpoint = { rawOffset: firstMember.length, outOffset: first.length };

  for (const [label, from, records] of [
    ['a pass through the engine handle', STREAM_START, false],
    ['a recording pass', STREAM_START, true],
    ['a pass through the engine handle from a member start inside a span', secondStart, false],
    ['a recording pass from a member start inside a span', secondStart, true],
  ] as const) {
    it(`${label} decodes into the buffers it is given, each byte at its offset modulo their size`, async () => {
      const given = new Set<ArrayBufferLike>();
      const decoded = gzipInflater.decode(rawInput(compressed, 100_000), {
        name: 'layer.tar.gz',
        from,
        onOutput: () => {},
        recording: records ? { spacing: 300_000, onCheckpoint: () => {} } : undefined,
        outputBuffer: () => {
          const buffer = Buffer.alloc(OUTPUT_BUFFER_SIZE);
          given.add(buffer.buffer);
          return buffer;
        },
      });
      let out = from.outOffset;
      const pieces: Buffer[] = [];
      for await (const chunk of decoded) {
        expect(given.has(chunk.buffer)).toBe(true);
        expect(chunk.byteOffset).toBe(out % OUTPUT_BUFFER_SIZE);
        out += chunk.length;
        pieces.push(Buffer.from(chunk));
      }
      expect(Buffer.concat(pieces).equals(data.subarray(from.outOffset))).toBe(true);
      expect(given.size).toBe(Math.ceil(data.length / OUTPUT_BUFFER_SIZE) - Math.floor(from.outOffset / OUTPUT_BUFFER_SIZE));
    });
  }
});

describe('decodeSync (a small warm read between two checkpoints)', () => {
  const original = compressibleBytes(3 * MiB, 11);
  const compressed = gzipSync(original);
  const recorded = async (): Promise<Checkpoint> => {
    const checkpoints: Checkpoint[] = [];
    const recorder: DecodeContext = { name: 'layer.tar.gz', from: STREAM_START, onOutput: () => {}, recording: { spacing: MiB, onCheckpoint: (point) => checkpoints.push(point) } };
    for await (const chunk of gzipInflater.decode(rawInput(compressed, 65536), recorder)) void chunk;
    const from = checkpoints.find((point) => point.window !== undefined);
    if (from === undefined) throw new Error('no checkpoint inside the member was recorded');
    return from;
  };

  it('gives the bytes after `skip` from a resumed checkpoint, keeping no more memory than they take', async () => {
    const from = await recorded();
    const tail = compressed.subarray(from.rawOffset);
    for (const [skip, length] of [[0, 5000], [900 * 1024 + 7, 2298], [65536, 65536], [1, 1]] as const) {
      const decoded = gzipInflater.decodeSync?.(tail, from, skip, length);
      if (decoded === undefined) throw new Error('decodeSync gave nothing');
      const at = from.outOffset + skip;
      expect(decoded.equals(original.subarray(at, at + length)), `skip ${skip}`).toBe(true);
      // The output before `skip` is not kept: the result's memory is the bytes asked for, not a megabyte.
      expect(decoded.buffer.byteLength).toBe(length);
    }
  });

  it('stops where the input or the stream ends: fewer bytes, never more', async () => {
    const from = await recorded();
    const left = original.length - from.outOffset;
    expect(gzipInflater.decodeSync?.(compressed.subarray(from.rawOffset), from, left - 100, 1000)?.equals(original.subarray(original.length - 100))).toBe(true);
    const cut = gzipInflater.decodeSync?.(compressed.subarray(from.rawOffset, from.rawOffset + 20_000), from, 0, MiB);
    expect(cut?.length).toBeGreaterThan(0);
    expect(cut?.length).toBeLessThan(MiB);
    expect(cut?.equals(original.subarray(from.outOffset, from.outOffset + (cut?.length ?? 0)))).toBe(true);
  });

  it('decodes from a member start too, and gives undefined for damaged data', () => {
    expect(gzipInflater.decodeSync?.(compressed, STREAM_START, 0, original.length)?.equals(original)).toBe(true);
    expect(gzipInflater.decodeSync?.(compressed, STREAM_START, MiB, 10)?.equals(original.subarray(MiB, MiB + 10))).toBe(true);
    const damaged = Buffer.from(compressed);
    damaged.fill(0xff, 100, 400);
    expect(gzipInflater.decodeSync?.(damaged, STREAM_START, MiB, 10)).toBeUndefined();
  });
});
