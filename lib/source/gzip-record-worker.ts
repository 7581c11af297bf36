/**
 * Worker-thread entry for gzip-record-job.ts: runs recordGzip (pako) off the main thread. node:zlib
 * inflates on the libuv thread pool, so a recording pass on the main thread would take from it all the
 * time that native decoding never cost it; here it takes another core instead.
 *
 * Protocol (gzip-record-protocol.ts; messages in order):
 *   in:  { type: 'start', from, spacing, name } once; { type: 'input', chunk } … { type: 'end' };
 *        { type: 'credit', count } when the main thread has taken `count` output chunks.
 *   out: { type: 'need', count } when it wants more input; { type: 'output', chunk } (transferred);
 *        { type: 'checkpoint', checkpoint } before the bytes after it; { type: 'done' } or
 *        { type: 'error', error: { code, reason } | { message } }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isImgfsError } from '../errors.js';
import { INPUT_BATCH, OUTPUT_BATCH, OUTPUT_CREDIT, plain, WORKER_MARK, type FromWorker, type ToWorker } from './gzip-record-protocol.js';
import { recordGzip } from './gzip-recorder.js';
import type { Checkpoint } from './inflater.js';

const port = workerData === WORKER_MARK ? parentPort : null;
if (port !== null) {
  const inputs: Array<Uint8Array | null> = [];
  let inputWaiter: (() => void) | undefined;
  let credit = OUTPUT_CREDIT;
  let creditWaiter: (() => void) | undefined;
  const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

  let requested = 0;
  let ended = false;
  /** Keeps input coming: asks for a batch whenever what is waiting or on its way runs low. */
  const request = (): void => {
    if (ended || inputs.length + requested >= INPUT_BATCH) return;
    requested += INPUT_BATCH;
    post({ type: 'need', count: INPUT_BATCH });
  };

  async function* input(): AsyncGenerator<Buffer, void, undefined> {
    for (;;) {
      request();
      while (inputs.length === 0) await new Promise<void>((resolve) => (inputWaiter = resolve));
      const chunk = inputs.shift();
      if (chunk === null || chunk === undefined) return;
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
  }

  const run = async (start: Extract<ToWorker, { type: 'start' }>): Promise<void> => {
    const from: Checkpoint = {
      rawOffset: start.from.rawOffset,
      outOffset: start.from.outOffset,
      bits: start.from.bits,
      window: start.from.window === undefined ? undefined : Buffer.from(start.from.window),
    };
    try {
      const decoded = recordGzip(() => input(), {
        name: start.name,
        from,
        onOutput: () => {},
        recording: {
          spacing: start.spacing,
          onCheckpoint: (checkpoint) => post({ type: 'checkpoint', checkpoint: plain(checkpoint) }),
        },
      });
      // Output goes over in batches of OUTPUT_BATCH bytes or more: a message costs more than a copy.
      let batch: Buffer[] = [];
      let batched = 0;
      const flush = async (): Promise<void> => {
        while (credit === 0) await new Promise<void>((resolve) => (creditWaiter = resolve));
        credit -= 1;
        // One copy with memory of its own, handed over without another: recordGzip keeps the chunks it
        // yielded for its windows, and small buffers may share Node's pool.
        const own = new Uint8Array(batched);
        let at = 0;
        for (const piece of batch) {
          own.set(piece, at);
          at += piece.length;
        }
        batch = [];
        batched = 0;
        post({ type: 'output', chunk: own }, [own.buffer]);
      };
      for await (const chunk of decoded) {
        batch.push(chunk);
        batched += chunk.length;
        if (batched >= OUTPUT_BATCH) await flush();
      }
      if (batched > 0) await flush();
      post({ type: 'done' });
    } catch (error) {
      post({
        type: 'error',
        error: isImgfsError(error)
          ? { code: error.code, reason: error.reason, message: error.message }
          : { message: error instanceof Error ? error.message : String(error) },
      });
    }
  };

  port.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'start':
        void run(message);
        return;
      case 'input':
      case 'end':
        requested = Math.max(0, requested - 1);
        if (message.type === 'end') ended = true;
        inputs.push(message.type === 'input' ? message.chunk : null);
        inputWaiter?.();
        inputWaiter = undefined;
        return;
      case 'credit':
        credit += message.count;
        creditWaiter?.();
        creditWaiter = undefined;
        return;
    }
  });
}
