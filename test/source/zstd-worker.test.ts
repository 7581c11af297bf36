/**
 * zstd decoding on decoder threads (zstd-worker-job.ts, zstd-worker.ts). A worker runs compiled
 * JavaScript and the TypeScript sources have none beside them, so these tests bundle zstd-worker.ts with
 * esbuild into a scratch directory first: they always run, on the current sources. (Every other test
 * of zstd, run from the sources, decodes on the calling thread: the same decodeZstdHere.)
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ImgfsError, isImgfsError } from '../../lib/errors.js';
import { openImage } from '../../lib/index.js';
import { STREAM_START, type Checkpoint, type DecodeContext, type RawInput } from '../../lib/source/inflater.js';
import { decodeZstdHere, zstdInflater } from '../../lib/source/zstd-inflater.js';
import {
  setZstdStallMs,
  setZstdWorkerIdleMs,
  setZstdWorkerLimit,
  setZstdWorkerScript,
  zstdJobsRunning,
  zstdWorkersRunning,
} from '../../lib/source/zstd-worker-job.js';
import { compressLayer } from '../helpers/image-builder.js';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { rawBlocks, windowDescriptor, zstdFrame } from '../hostile/zstd-frames.js';
import { chunked, compressibleBytes, rawInput, zstdCompress } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const lib = (path: string): string => fileURLToPath(new URL(`../../lib/${path}`, import.meta.url));

let scratch = '';
let workerScript: URL;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'imgfs-zstd-worker-'));
  const outfile = join(scratch, 'zstd-worker.mjs');
  await build({ entryPoints: [lib('source/zstd-worker.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile, logLevel: 'warning' });
  workerScript = pathToFileURL(outfile);
  setZstdWorkerScript(workerScript);
  setZstdWorkerIdleMs(50);
});

afterEach(() => {
  setZstdStallMs(undefined);
  setZstdWorkerLimit(undefined);
});

afterAll(() => {
  setZstdWorkerScript(null);
  setZstdWorkerIdleMs(undefined);
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * One compressed block of 9 bytes that keeps fzstd 0.1.1 busy for 30 to 50 s: no literals, 32 512
 * sequences, RLE tables with the largest literal-length and match-length codes (see
 * test/hostile/compression.test.ts). 18 bytes in all.
 */
function spinFrame(): Buffer {
  const block = Buffer.from([0x00, 0xff, 0x00, 0x00, 0x54, 35, 1, 52, 0x01]);
  const header = 1 | (2 << 1) | (block.length << 3);
  return Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]), Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]), block]);
}

/**
 * A frame of `count` blocks of 11 bytes, each of `sequences` sequences like spinFrame's: 1 000 of them
 * keep fzstd busy for about 0.2 s per block, and each block then puts out 128 KiB, so there is output
 * all the time, only far too slowly.
 */
function slowFrame(count: number, sequences = 1000): Buffer {
  const block = Buffer.from([0x00, 0x80 | ((sequences - 128) >> 8), (sequences - 128) & 0xff, 0x54, 35, 1, 52, 0x01]);
  // A raw block of 1 KiB after each: one slow block to a piece of input (fzstd is given 1 KiB at a time).
  const raw = Buffer.alloc(1024, 0x61);
  const header = (type: number, size: number, last: boolean): Buffer => {
    const value = (last ? 1 : 0) | (type << 1) | (size << 3);
    return Buffer.from([value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff]);
  };
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38])];
  for (let i = 0; i < count; i += 1) parts.push(header(2, block.length, false), block, header(0, raw.length, i === count - 1), raw);
  return Buffer.concat(parts);
}

interface Decoded {
  data: Buffer;
  checkpoints: Checkpoint[];
}

function context(overrides: Partial<DecodeContext> = {}): DecodeContext {
  return { name: 'layer.tar.zst', from: STREAM_START, onOutput: () => {}, ...overrides };
}

async function collect(decoded: AsyncGenerator<Buffer, void, undefined>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of decoded) out.push(chunk);
  return Buffer.concat(out);
}

async function decode(compressed: Buffer, options: { from?: Checkpoint; here?: boolean; chunkSize?: number } = {}): Promise<Decoded> {
  const checkpoints: Checkpoint[] = [];
  const ctx = context({ from: options.from ?? STREAM_START, recording: { spacing: MiB, onCheckpoint: (c) => checkpoints.push(c) } });
  const input = rawInput(compressed, options.chunkSize);
  const data = await collect(options.here === true ? decodeZstdHere(input, ctx) : zstdInflater.decode(input, ctx));
  return { data, checkpoints };
}

async function failure(promise: Promise<unknown>): Promise<ImgfsError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isImgfsError(error)) throw new Error(`expected an ImgfsError, got ${String(error)}`);
  return error;
}

/** Waits until `condition` holds, polling, for at most `ms`. */
async function eventually(condition: () => boolean, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('zstd on a decoder thread', () => {
  const data = compressibleBytes(6 * MiB, 3);
  // Frames of 700 KiB with skippable frames between some: a checkpoint at every frame start.
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += 700 * KiB) {
    parts.push(zstdCompress(data.subarray(at, at + 700 * KiB)));
    if (at % (2100 * KiB) === 0) parts.push(Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]));
  }
  const compressed = Buffer.concat(parts);

  it('gives the same bytes and checkpoints as the calling thread, from the start and from a checkpoint', async () => {
    const here = await decode(compressed, { here: true });
    const pending = decode(compressed, { chunkSize: 4097 });
    expect(zstdJobsRunning()).toBe(1);
    const there = await pending;
    expect(here.data.equals(data)).toBe(true);
    expect(there.data.equals(data)).toBe(true);
    expect(there.checkpoints.length).toBeGreaterThan(3);
    expect(there.checkpoints).toEqual(here.checkpoints);
    const middle = there.checkpoints[2] as Checkpoint;
    const resumed = await decode(compressed, { from: middle });
    expect(resumed.data.equals(data.subarray(middle.outOffset))).toBe(true);
    expect(resumed.checkpoints).toEqual(there.checkpoints.filter((c) => c.outOffset > middle.outOffset));
    expect(zstdJobsRunning()).toBe(0);
    expect(zstdWorkersRunning()).toBeGreaterThan(0);
  });

  it('reports the decoder’s errors as the same ImgfsErrors', async () => {
    const cut = await failure(decode(compressed.subarray(0, compressed.length - 100)));
    expect(cut).toMatchObject({ code: 'ETRUNCATED', reason: 'zstd stream truncated', archive: 'layer.tar.zst' });
    const garbage = await failure(decode(Buffer.concat([compressed.subarray(0, parts[0]?.length), Buffer.from('not zstd at all')])));
    expect(garbage.code).toBe('ECOMPRESSION');
    expect(garbage.reason).toMatch(/near compressed offset \d+/);
    const huge = await failure(decode(zstdFrame({ windowDescriptor: windowDescriptor(30), blocks: rawBlocks(data.subarray(0, 1000)) })));
    expect(huge.code).toBe('ELIMIT');
    expect(huge.reason).toContain('zstd frame at compressed offset 0 needs a 1024 MiB window');
    expect(zstdJobsRunning()).toBe(0);
  });

  it('lets errors of the input through, and applies onOutput before handing a chunk on', async () => {
    async function* broken(): AsyncGenerator<Buffer, void, undefined> {
      yield* chunked(compressed.subarray(0, 2 * MiB));
      throw new Error('disk on fire');
    }
    await expect(collect(zstdInflater.decode(() => broken(), context()))).rejects.toThrow('disk on fire');

    const stop = new ImgfsError('ELIMIT', 'too much');
    let seen = 0;
    let handed = 0;
    const limited = zstdInflater.decode(
      rawInput(compressed),
      context({
        onOutput: (n) => {
          seen += n;
          if (seen > 2 * MiB) throw stop;
        },
      }),
    );
    await expect((async () => { for await (const chunk of limited) handed += chunk.length; })()).rejects.toBe(stop);
    expect(handed).toBeLessThanOrEqual(2 * MiB);
    expect(zstdJobsRunning()).toBe(0);
  });

  it('decodes only a few MiB ahead of a reader that stops, and forgets a reader that leaves', async () => {
    const big = compressibleBytes(24 * MiB, 5);
    const bigCompressed = zstdCompress(big);
    let fed = 0;
    const counting: RawInput = async function* (rawOffset) {
      for await (const chunk of chunked(bigCompressed.subarray(rawOffset))) {
        fed += chunk.length;
        yield chunk;
      }
    };
    let produced = 0;
    const decoded = zstdInflater.decode(counting, context({ onOutput: (n) => (produced += n) }));
    const first = await decoded.next();
    expect(first.done).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Handed on: one chunk. Decoded ahead: at most OUTPUT_CREDIT messages of about 1 MiB, which is
    // about 1.3 MiB of this input, plus the input on its way (2 × 256 KiB and what is being read).
    expect(produced).toBeLessThanOrEqual(128 * KiB);
    expect(fed).toBeLessThan(3 * MiB);
    expect(fed).toBeLessThan(bigCompressed.length / 2);
    expect(zstdJobsRunning(true)).toBe(1);
    setZstdWorkerIdleMs(60_000);
    await decoded.return(undefined);
    expect(zstdJobsRunning()).toBe(0);
    await eventually(() => zstdJobsRunning(true) === 0); // the thread dropped it too
    expect(zstdWorkersRunning()).toBe(1);
    setZstdWorkerIdleMs(50);
    // An idle thread ends after the idle time, counted from its last job: here, from the next one.
    await collect(zstdInflater.decode(rawInput(zstdCompress(Buffer.from('x'))), context()));
    await eventually(() => zstdWorkersRunning() === 0);
  });

  it('ends a decoding that makes no progress with ECOMPRESSION; the other decodings on its thread go on', async () => {
    setZstdWorkerLimit(1);
    setZstdStallMs(500);
    const big = compressibleBytes(8 * MiB, 11);
    const honest = zstdInflater.decode(rawInput(zstdCompress(big)), context({ name: 'honest.zst' }));
    const head = await honest.next(); // a job on the only thread, waiting for its reader
    expect(zstdWorkersRunning()).toBe(1);

    const started = Date.now();
    const error = await failure(collect(zstdInflater.decode(rawInput(spinFrame()), context({ name: 'spin.zst' }))));
    const elapsed = Date.now() - started;
    expect(error.code).toBe('ECOMPRESSION');
    expect(error.archive).toBe('spin.zst');
    expect(error.reason).toBe('zstd decoder made no progress for 500 ms (crafted block?) near compressed offset 18');
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(3_000);

    // The honest decoding lost its thread with the spinning one: it starts again on a new one, and
    // hands on the bytes after those it had already handed on.
    const rest = await collect(honest);
    expect(Buffer.concat([head.value as Buffer, rest]).equals(big)).toBe(true);
    expect(zstdJobsRunning()).toBe(0);
    await eventually(() => zstdWorkersRunning() === 0);
  }, 20_000);

  it('ends a decoding that makes progress, but far too slowly: blocks that each loop for a while', async () => {
    setZstdStallMs(1_000);
    // 60 blocks of 0.2 s: 12 s in all, though no block comes near the stall limit by itself. Each pays
    // for 62 ms of its time with its 128 KiB (ZSTD_MIN_RATE): after about 8 blocks the rest adds up to 1 s.
    const frame = slowFrame(60);
    const started = Date.now();
    let handed = 0;
    const decoded = zstdInflater.decode(rawInput(frame), context({ name: 'slow.zst', onOutput: (n) => (handed += n) }));
    const error = await failure(collect(decoded));
    expect(error.code).toBe('ECOMPRESSION');
    expect(error.reason).toMatch(/^zstd decoder made no progress for 1000 ms \(crafted block\?\) near compressed offset \d+$/);
    expect(handed).toBeLessThan(30 * 129 * KiB);
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 20_000);

  it('an honest stream that fzstd decodes slowly (a 128 MiB window, shifted for every block) is no stall', async () => {
    setZstdStallMs(500);
    const slow = compressibleBytes(12 * MiB, 17);
    const started = Date.now();
    const { data: decoded } = await decode(zstdCompress(slow, '--long=27', '--no-content-size'));
    expect(decoded.equals(slow)).toBe(true);
    // Several times the stall limit, though never more than the limit behind ZSTD_MIN_RATE.
    expect(Date.now() - started).toBeGreaterThan(500);
  }, 30_000);

  it('a stall limit passed in the decode context wins over the default', async () => {
    setZstdStallMs(60_000);
    const started = Date.now();
    const ctx = { ...context(), zstdStallMs: 300 };
    const error = await failure(collect(zstdInflater.decode(rawInput(spinFrame()), ctx)));
    expect(error.reason).toContain('no progress for 300 ms');
    expect(Date.now() - started).toBeLessThan(3_000);
  }, 20_000);
});

describe('decoder thread lifetime', () => {
  const big = compressibleBytes(3 * MiB, 21);
  const layer = buildLayer([file('etc/hostname', 'imgfs\n'), file('big.bin', big), file('z', 'last')]);

  it('opening and closing a zstd image 50 times leaves no thread, job or handle behind', async () => {
    const dir = mkdtempSync(join(scratch, 'image-'));
    const path = join(dir, 'layer.tar.zst');
    writeFileSync(path, compressLayer(layer, 'zstd'));
    await eventually(() => zstdWorkersRunning() === 0);
    const resources = process.getActiveResourcesInfo();
    let most = 0;
    for (let i = 0; i < 50; i += 1) {
      const fs = await openImage([path], { cache: false, lazy: i % 2 === 0 });
      // A read that leaves the cursor in the middle of the layer, its job waiting for more.
      const stream = fs.createReadStream('/big.bin', { start: 0, end: 99_999 });
      for await (const _ of stream) most = Math.max(most, zstdWorkersRunning());
      expect(await fs.readFile('/etc/hostname', 'utf8')).toBe('imgfs\n');
      await fs.close();
      expect(zstdJobsRunning()).toBe(0);
    }
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(4);
    await eventually(() => zstdWorkersRunning() === 0);
    // No more handles of any kind than before (timers, file handles, message ports).
    const count = (list: string[]): Map<string, number> => list.reduce((map, type) => map.set(type, (map.get(type) ?? 0) + 1), new Map<string, number>());
    const before = count(resources);
    const grown = (): string[] => [...count(process.getActiveResourcesInfo())].filter(([type, n]) => n > (before.get(type) ?? 0)).map(([type]) => type);
    await eventually(() => grown().length === 0).catch(() => {
      throw new Error(`handles left behind: ${grown().join(', ')}`);
    });
  }, 60_000);

  it('an idle decoder thread does not keep the process alive', async () => {
    // A child process with a decoding left in the middle: it must exit by itself, at once.
    const entry = join(scratch, 'idle-child.ts');
    writeFileSync(
      entry,
      [
        `import { BufferSource } from ${JSON.stringify(lib('source/buffer-source.ts'))};`,
        `import { DecompressedSource } from ${JSON.stringify(lib('source/decompressed-source.ts'))};`,
        `import { zstdInflater } from ${JSON.stringify(lib('source/zstd-inflater.ts'))};`,
        `import { setZstdWorkerScript, zstdJobsRunning } from ${JSON.stringify(lib('source/zstd-worker-job.ts'))};`,
        `import { readFileSync } from 'node:fs';`,
        `setZstdWorkerScript(new URL(process.argv[2] as string));`,
        `const source = new DecompressedSource(new BufferSource(readFileSync(process.argv[3] as string), 'idle.zst'), zstdInflater);`,
        `const head = await source.read(0, 512);`,
        `console.log(JSON.stringify({ read: head.length, jobs: zstdJobsRunning() }));`,
      ].join('\n'),
    );
    const outfile = join(scratch, 'idle-child.mjs');
    await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile, logLevel: 'warning' });
    const input = join(scratch, 'idle.zst');
    writeFileSync(input, zstdCompress(compressibleBytes(8 * MiB, 4)));
    const started = Date.now();
    const { stdout } = await promisify(execFile)(process.execPath, [outfile, workerScript.href, input], { timeout: 20_000 });
    expect(JSON.parse(stdout)).toEqual({ read: 512, jobs: 1 });
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 30_000);
});
