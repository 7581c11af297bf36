/**
 * The recording pass in a worker thread. The worker runs compiled JavaScript, so these tests need the
 * build (`npm test` builds first; `$IMGFS_TEST_DIST` may name another build directory) and are skipped
 * without it. Run from TypeScript sources, recording stays on the calling thread: every other test of
 * gzip recording covers that path.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImgfsError } from '../../lib/errors.js';
import { recordWorkersRunning, setRecordWorkerLimit, setRecordWorkerScript, WORKER_MIN_RAW_SIZE } from '../../lib/source/gzip-record-job.js';
import { gzipInflater } from '../../lib/source/gzip-inflater.js';
import { OUTPUT_BUFFER_SIZE, STREAM_START, type Checkpoint, type DecodeContext } from '../../lib/source/inflater.js';
import { chunked, compressibleBytes, randomBytes, rawInput } from './helpers.js';

const MiB = 1024 * 1024;
const dist = resolve(process.env['IMGFS_TEST_DIST'] ?? 'dist');
const script = resolve(dist, 'source/gzip-record-job.js');

async function decode(compressed: Buffer, rawSize: number | undefined, from: Checkpoint = STREAM_START): Promise<{ data: Buffer; checkpoints: Checkpoint[] }> {
  const checkpoints: Checkpoint[] = [];
  const out: Buffer[] = [];
  const context: DecodeContext = {
    name: 'layer.gz',
    from,
    rawSize,
    onOutput: () => {},
    recording: { spacing: MiB, onCheckpoint: (checkpoint) => checkpoints.push(checkpoint) },
  };
  for await (const chunk of gzipInflater.decode(rawInput(compressed), context)) out.push(chunk);
  return { data: Buffer.concat(out), checkpoints };
}

function summary(checkpoints: Checkpoint[]): unknown[] {
  return checkpoints.map((c) => [c.rawOffset, c.bits ?? 0, c.outOffset, c.window?.toString('base64')]);
}

describe.skipIf(!existsSync(script))('gzip recording in a worker thread', () => {
  // Random stretches keep it from compressing well: more than WORKER_MIN_RAW_SIZE compressed.
  const data = Buffer.concat([randomBytes(6 * MiB, 1), compressibleBytes(8 * MiB, 2), randomBytes(4 * MiB, 3)]);
  const compressed = Buffer.concat([gzipSync(data.subarray(0, 9 * MiB)), gzipSync(data.subarray(9 * MiB))]);

  beforeAll(() => {
    setRecordWorkerScript(pathToFileURL(script));
    setRecordWorkerLimit(2);
  });
  afterAll(() => {
    setRecordWorkerScript(undefined);
    setRecordWorkerLimit(undefined);
  });

  it('gives the same bytes and checkpoints as recording on this thread, and as node:zlib from the start', async () => {
    expect(compressed.length).toBeGreaterThan(WORKER_MIN_RAW_SIZE);
    // From the stream start node:zlib records (native-gzip-recorder.ts); pako, here or in a worker,
    // records a pass that starts inside a member, with the checkpoint's window sent over.
    const native = await decode(compressed, compressed.length);
    expect(recordWorkersRunning()).toBe(0);
    expect(native.data.equals(data)).toBe(true);
    const start = native.checkpoints[1];
    if (start === undefined) throw new Error('no checkpoint');
    const here = await decode(compressed, undefined, start); // no size: too small to bother a worker
    const pending = decode(compressed, compressed.length, start);
    expect(recordWorkersRunning()).toBe(1);
    const there = await pending;
    expect(recordWorkersRunning()).toBe(0);
    expect(there.data.equals(data.subarray(start.outOffset))).toBe(true);
    expect(here.data.equals(data.subarray(start.outOffset))).toBe(true);
    expect(there.checkpoints.length).toBeGreaterThan(8);
    expect(summary(there.checkpoints)).toEqual(summary(here.checkpoints));
    // Both recorders find the same block boundaries (pako also names the second member's start).
    const memberStart = (checkpoint: Checkpoint): boolean => checkpoint.window === undefined;
    expect(summary(there.checkpoints.filter((c) => !memberStart(c)))).toEqual(summary(native.checkpoints.filter((c) => c.outOffset > start.outOffset && !memberStart(c))));
  });

  it('reports the decoder’s errors as the same ImgfsErrors', async () => {
    const cut = compressed.subarray(0, compressed.length - 100);
    await expect(decode(cut, compressed.length)).rejects.toMatchObject({ code: 'ETRUNCATED', archive: 'layer.gz' });
    const corrupt = Buffer.from(compressed);
    randomBytes(64 * 1024, 9).copy(corrupt, 7 * MiB);
    const error: unknown = await decode(corrupt, compressed.length).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImgfsError);
    expect((error as ImgfsError).code).toBe('ECOMPRESSION');
    expect(recordWorkersRunning()).toBe(0);
  });

  /** A recording pass from the start over `compressed`: large enough for a worker. */
  function workerContext(outputBuffer?: () => Buffer): DecodeContext {
    return { name: 'layer.gz', from: STREAM_START, rawSize: compressed.length, onOutput: () => {}, recording: { spacing: MiB, onCheckpoint: () => {} }, outputBuffer };
  }

  it('stops the worker when the reader stops early, and lets input errors through', async () => {
    const context = workerContext();
    for await (const _ of gzipInflater.decode(rawInput(compressed), context)) break;
    expect(recordWorkersRunning()).toBe(0);

    async function* broken(): AsyncGenerator<Buffer, void, undefined> {
      yield* chunked(compressed.subarray(0, 2 * MiB));
      throw new Error('disk on fire');
    }
    const failing = gzipInflater.decode(() => broken(), context);
    await expect((async () => { for await (const _ of failing) { /* drain */ } })()).rejects.toThrow('disk on fire');
    expect(recordWorkersRunning()).toBe(0);
  });

  it('applies onOutput (the ratio limit) before handing a chunk on', async () => {
    const stop = new ImgfsError('ELIMIT', 'too much');
    let seen = 0;
    const context: DecodeContext = {
      name: 'layer.gz',
      from: STREAM_START,
      rawSize: compressed.length,
      onOutput: (n) => {
        seen += n;
        if (seen > 3 * MiB) throw stop;
      },
      recording: { spacing: MiB, onCheckpoint: () => {} },
    };
    let handed = 0;
    const decoded = gzipInflater.decode(rawInput(compressed), context);
    await expect((async () => { for await (const chunk of decoded) handed += chunk.length; })()).rejects.toBe(stop);
    expect(handed).toBeLessThanOrEqual(3 * MiB);
    expect(recordWorkersRunning()).toBe(0);
  });

  it('hands the worker’s output on in the buffers it is given, each byte at its offset modulo their size', async () => {
    const given = new Set<ArrayBufferLike>();
    const context = workerContext(() => {
      const buffer = Buffer.alloc(OUTPUT_BUFFER_SIZE);
      given.add(buffer.buffer);
      return buffer;
    });
    const pieces: Buffer[] = [];
    let out = 0;
    let sawWorker = false;
    for await (const chunk of gzipInflater.decode(rawInput(compressed), context)) {
      sawWorker ||= recordWorkersRunning() > 0;
      expect(given.has(chunk.buffer)).toBe(true);
      expect(chunk.byteOffset).toBe(out % OUTPUT_BUFFER_SIZE);
      out += chunk.length;
      pieces.push(Buffer.from(chunk));
    }
    expect(sawWorker).toBe(true);
    expect(Buffer.concat(pieces).equals(data)).toBe(true);
  });
});
