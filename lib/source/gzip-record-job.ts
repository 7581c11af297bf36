import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ImgfsError, type ImgfsErrorCode } from '../errors.js';
import { plain, WORKER_MARK, type FromWorker, type ToWorker } from './gzip-record-protocol.js';
import type { Checkpoint, DecodeContext, RawInput } from './inflater.js';

/**
 * Streams smaller than this are recorded on the calling thread: starting a worker (about 30 ms with
 * pako loaded) costs more than it saves.
 */
export const WORKER_MIN_RAW_SIZE = 8 * 1024 * 1024;

/**
 * The worker's compiled script: beside this module (dist/source/), or under source/ beside a bundle
 * that inlined this module (dist/imgfs-cli.js). Run from TypeScript sources neither exists, and
 * recording stays on the calling thread.
 */
const SCRIPT_CANDIDATES = [new URL('./gzip-record-worker.js', import.meta.url), new URL('./source/gzip-record-worker.js', import.meta.url)];
let workerScript: URL | undefined | null = null;
let workersRunning = 0;

let fixedLimit: number | undefined;

/**
 * How many recording workers may run at once: one per idle core, the main thread's own left aside, by
 * the load average. A worker only helps when a core would otherwise be idle: it costs more CPU than
 * recording on the calling thread (a fresh isolate compiles pako again, output is copied over), which
 * on a busy machine makes it slower (a 271 MB image on 2 loaded cores: 2.8 s against 2.3 s).
 */
function workerLimit(): number {
  return fixedLimit ?? Math.floor(availableParallelism() - 1 - (loadavg()[0] ?? 0));
}

/** Overrides the number of workers allowed (tests); `undefined` goes back to the load average. */
export function setRecordWorkerLimit(limit: number | undefined): void {
  fixedLimit = limit;
}

/** Sets where the worker's script is (tests); `undefined` keeps recording on the calling thread. */
export function setRecordWorkerScript(script: URL | undefined): void {
  workerScript = script;
}

/** Recording workers running now (tests). */
export function recordWorkersRunning(): number {
  return workersRunning;
}

function findWorkerScript(): URL | undefined {
  if (workerScript === null) workerScript = SCRIPT_CANDIDATES.find((candidate) => existsSync(fileURLToPath(candidate)));
  return workerScript;
}

/**
 * recordGzip in a worker thread when one is worth it (a stream of at least WORKER_MIN_RAW_SIZE, a free
 * slot, the compiled worker script present), else on this thread. Same results and errors either way;
 * the worker decodes at most OUTPUT_CREDIT batches ahead of the reader, and the ratio limit
 * (`onOutput`) is applied here, before a chunk is handed on.
 */
export function recordGzipOffThread(input: RawInput, context: DecodeContext, rawSize: number | undefined): AsyncGenerator<Buffer, void, undefined> {
  const script = (rawSize ?? 0) - context.from.rawOffset < WORKER_MIN_RAW_SIZE ? undefined : findWorkerScript();
  if (script === undefined || workersRunning >= workerLimit()) return onThisThread(input, context);
  return inWorker(script, input, context);
}

/** pako is loaded when first needed: most runs never record. */
async function* onThisThread(input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  const { recordGzip } = await import('./gzip-recorder.js');
  yield* recordGzip(input, context);
}

type Event = FromWorker | { type: 'failed'; error: unknown };

async function* inWorker(script: URL, input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  const { from, name, recording } = context;
  if (recording === undefined) throw new Error('recordGzipOffThread needs context.recording');
  workersRunning += 1;
  const worker = new Worker(script, { workerData: WORKER_MARK });
  worker.unref();
  const events: Event[] = [];
  let wake: (() => void) | undefined;
  const push = (event: Event): void => {
    events.push(event);
    wake?.();
    wake = undefined;
  };
  worker.on('message', (message: FromWorker) => push(message));
  worker.on('error', (error) => push({ type: 'failed', error }));
  worker.on('exit', (code) => push({ type: 'failed', error: new Error(`gzip recording worker exited (${code})`) }));
  const send = (message: ToWorker, transfer: ArrayBuffer[] = []): void => worker.postMessage(message, transfer);

  const iterator = input(from.rawOffset)[Symbol.asyncIterator]();
  /** Checkpoints received, reported once the output up to them has been handed on. */
  const pending: Checkpoint[] = [];
  let yielded = from.outOffset;
  let feeding: Promise<void> | undefined;
  let inputEnded = false;
  /** Sends the next `count` input chunks, or the end; errors of the input come back as events. */
  const feed = async (count: number): Promise<void> => {
    try {
      for (let i = 0; i < count && !inputEnded; i += 1) {
        const next = await iterator.next();
        if (next.done === true) {
          inputEnded = true;
          send({ type: 'end' });
          return;
        }
        // A copy of its own, transferred: cloning a view would copy all of the memory behind it.
        const chunk = new Uint8Array(next.value.length);
        chunk.set(next.value);
        send({ type: 'input', chunk }, [chunk.buffer]);
      }
    } catch (error) {
      push({ type: 'failed', error });
    }
  };

  try {
    send({ type: 'start', from: plain(from), spacing: recording.spacing, name }); // the window is small: cloned
    for (;;) {
      const event = events.shift();
      if (event === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      switch (event.type) {
        case 'need': {
          const { count } = event;
          feeding = (feeding ?? Promise.resolve()).then(() => feed(count));
          break;
        }
        case 'checkpoint':
          // Output comes in batches: a checkpoint may arrive before the bytes that lead up to it.
          pending.push(fromClone(event.checkpoint));
          break;
        case 'output': {
          const chunk = Buffer.from(event.chunk.buffer, event.chunk.byteOffset, event.chunk.byteLength);
          context.onOutput(chunk.length);
          send({ type: 'credit', count: 1 });
          yield chunk;
          yielded += chunk.length;
          for (let next = pending[0]; next !== undefined && next.outOffset <= yielded; next = pending[0]) {
            pending.shift();
            recording.onCheckpoint(next);
          }
          break;
        }
        case 'done':
          return;
        case 'error':
          throw event.error.code === undefined
            ? new Error(event.error.message)
            : new ImgfsError(event.error.code as ImgfsErrorCode, event.error.reason ?? event.error.message, { archive: name });
        case 'failed':
          throw event.error;
      }
    }
  } finally {
    workersRunning -= 1;
    worker.removeAllListeners('exit');
    void worker.terminate();
    await feeding?.catch(() => {});
    await iterator.return?.();
  }
}

/** A checkpoint as received: its window arrives as a Uint8Array. */
function fromClone(checkpoint: Checkpoint): Checkpoint {
  const window = checkpoint.window as Uint8Array | undefined;
  return {
    rawOffset: checkpoint.rawOffset,
    outOffset: checkpoint.outOffset,
    bits: checkpoint.bits,
    window: window === undefined ? undefined : Buffer.from(window.buffer, window.byteOffset, window.byteLength),
  };
}

