/**
 * A zstd decoder thread for zstd-worker-job.ts: runs decodeZstdHere (fzstd) where the calling thread can
 * terminate it, since a crafted block keeps fzstd busy for minutes in one synchronous call. One thread
 * runs any number of decodings (jobs) at once, each with its own input queue and output credit.
 *
 * Protocol (zstd-worker-protocol.ts; per job, messages in order):
 *   in:  { type: 'start', job, name, rawOffset, outOffset, spacing } once; { type: 'input', job, chunk } …
 *        { type: 'end', job }; { type: 'credit', job, count } when the reader has taken `count` outputs;
 *        { type: 'abort', job } when the reader has gone.
 *   out: { type: 'need', job, count } when it wants more input; { type: 'output', job, chunks }
 *        (transferred); { type: 'checkpoint', job, rawOffset, outOffset }; then { type: 'done', job } or
 *        { type: 'error', job, error: { code, reason } | { message } }. Nothing after an abort.
 * The shared status (workerData) says whether fzstd is working, for which job, up to which compressed
 * offset, and counts the work it has done (KiB in and out): the calling thread's watchdog reads it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isImgfsError } from '../errors.js';
import { decodeZstdHere, type ZstdDecodeHooks } from './zstd-inflater.js';
import {
  INPUT_BATCH,
  OUTPUT_BATCH,
  OUTPUT_CREDIT,
  STATUS_BUSY,
  STATUS_JOB,
  STATUS_JOBS,
  STATUS_OFFSET_BYTE,
  STATUS_WORK,
  ZSTD_WORKER_MARK,
  type FromWorker,
  type ToWorker,
  type ZstdWorkerData,
} from './zstd-worker-protocol.js';

const data = workerData as Partial<ZstdWorkerData> | undefined;
const port = data?.mark === ZSTD_WORKER_MARK && data.status instanceof SharedArrayBuffer ? parentPort : null;

/** Thrown inside a job whose reader has gone, to unwind it. */
const ABORTED = new Error('aborted');

if (port !== null && data?.status !== undefined) {
  const words = new Int32Array(data.status, 0, 4);
  const pieceOffset = new Float64Array(data.status, STATUS_OFFSET_BYTE, 1);
  const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);
  /** Bytes of work not yet counted in STATUS_WORK (which counts whole KiB). */
  let work = 0;
  const worked = (bytes: number): void => {
    work += bytes;
    if (work < 1024) return;
    Atomics.add(words, STATUS_WORK, Math.floor(work / 1024));
    work %= 1024;
  };

  class Job {
    private readonly inputs: Array<Uint8Array | null> = [];
    private inputWaiter: (() => void) | undefined;
    private credit = OUTPUT_CREDIT;
    private creditWaiter: (() => void) | undefined;
    private requested = 0;
    private ended = false;
    aborted = false;
    /** Decompressed chunks not sent yet, each with an ArrayBuffer of its own. */
    private batch: Uint8Array[] = [];
    private batched = 0;

    constructor(private readonly id: number) {}

    received(chunk: Uint8Array | null): void {
      this.requested = Math.max(0, this.requested - 1);
      if (chunk === null) this.ended = true;
      this.inputs.push(chunk);
      this.wake();
    }

    credited(count: number): void {
      this.credit += count;
      this.wake();
    }

    abort(): void {
      this.aborted = true;
      this.inputs.length = 0;
      this.batch = [];
      this.wake();
    }

    private wake(): void {
      this.inputWaiter?.();
      this.inputWaiter = undefined;
      this.creditWaiter?.();
      this.creditWaiter = undefined;
    }

    /** Keeps input coming: asks for a batch whenever what is waiting or on its way runs low. */
    private request(): void {
      if (this.ended || this.inputs.length + this.requested >= INPUT_BATCH) return;
      this.requested += INPUT_BATCH;
      post({ type: 'need', job: this.id, count: INPUT_BATCH });
    }

    async *input(): AsyncGenerator<Buffer, void, undefined> {
      for (;;) {
        this.request();
        // Out of input: what is decoded goes now, rather than when more input has come.
        if (this.inputs.length === 0 && this.batched > 0 && this.credit > 0) this.send();
        while (this.inputs.length === 0 && !this.aborted) await new Promise<void>((resolve) => (this.inputWaiter = resolve));
        if (this.aborted) throw ABORTED;
        const chunk = this.inputs.shift();
        if (chunk === null || chunk === undefined) return;
        yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
    }

    async add(chunk: Buffer): Promise<void> {
      // decodeZstdHere copies fzstd's blocks into fresh buffers: one of 4 KiB or more has its memory to
      // itself and is handed over as it is; a smaller one may share Node's pool and is copied again.
      const own = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer ? chunk : new Uint8Array(chunk);
      this.batch.push(own);
      this.batched += own.length;
      if (this.batched >= OUTPUT_BATCH) await this.flush();
    }

    async flush(): Promise<void> {
      while (this.credit === 0 && !this.aborted) await new Promise<void>((resolve) => (this.creditWaiter = resolve));
      if (this.aborted) throw ABORTED;
      if (this.batched > 0) this.send();
    }

    private send(): void {
      this.credit -= 1;
      const chunks = this.batch;
      this.batch = [];
      this.batched = 0;
      post({ type: 'output', job: this.id, chunks }, chunks.map((chunk) => chunk.buffer as ArrayBuffer));
    }
  }

  const jobs = new Map<number, Job>();

  const run = async (start: Extract<ToWorker, { type: 'start' }>): Promise<void> => {
    const id = start.job;
    const job = new Job(id);
    jobs.set(id, job);
    Atomics.store(words, STATUS_JOBS, jobs.size);
    let given = start.rawOffset;
    const hooks: ZstdDecodeHooks = {
      beforePush: (consumed) => {
        worked(consumed - given);
        given = consumed;
        pieceOffset[0] = consumed;
        Atomics.store(words, STATUS_JOB, id);
        Atomics.store(words, STATUS_BUSY, 1);
      },
      afterPush: () => Atomics.store(words, STATUS_BUSY, 0),
    };
    const { spacing } = start;
    try {
      const decoded = decodeZstdHere(
        () => job.input(),
        {
          name: start.name,
          from: { rawOffset: start.rawOffset, outOffset: start.outOffset },
          // The ratio limit is the calling thread's business; here output is work done.
          onOutput: worked,
          recording:
            spacing === undefined
              ? undefined
              : { spacing, onCheckpoint: (c) => post({ type: 'checkpoint', job: id, rawOffset: c.rawOffset, outOffset: c.outOffset }) },
        },
        hooks,
      );
      for await (const chunk of decoded) await job.add(chunk);
      await job.flush();
      post({ type: 'done', job: id });
    } catch (error) {
      if (job.aborted) return;
      post({
        type: 'error',
        job: id,
        error: isImgfsError(error)
          ? { code: error.code, reason: error.reason, message: error.message }
          : { message: error instanceof Error ? error.message : String(error) },
      });
    } finally {
      jobs.delete(id);
      Atomics.store(words, STATUS_JOBS, jobs.size);
    }
  };

  port.on('message', (message: ToWorker) => {
    if (message.type === 'start') {
      void run(message);
      return;
    }
    const job = jobs.get(message.job);
    if (job === undefined) return; // ended or aborted: what was on its way is dropped
    switch (message.type) {
      case 'input':
        job.received(message.chunk);
        return;
      case 'end':
        job.received(null);
        return;
      case 'credit':
        job.credited(message.count);
        return;
      case 'abort':
        jobs.delete(message.job);
        job.abort();
        return;
    }
  });
}
