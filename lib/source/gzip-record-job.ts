/**
 * The gzip recording pass (gzip-recorder.ts, pako) in a worker thread, both sides in this one module:
 * the main thread's side (`recordGzipOffThread`) starts a worker on this same compiled file, whose
 * top level then serves the job (`serveRecording`). node:zlib inflates on the libuv thread pool, so a
 * recording pass on the main thread would take from it all the time that native decoding never cost
 * it; in a worker it takes another core instead.
 *
 * Messages, in order:
 *   to the worker:   { type: 'start', from, spacing, name } once; { type: 'input', chunk } … { type: 'end' };
 *                    { type: 'credit', count } when the main thread has taken `count` output chunks.
 *   from the worker: { type: 'need', count } when it wants more input; { type: 'output', chunk }
 *                    (transferred); { type: 'checkpoint', checkpoint } before the bytes after it;
 *                    { type: 'done' } or { type: 'error', error: { code, reason } | { message } }.
 */
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { MessagePort } from 'node:worker_threads';
import { ImgfsError, isImgfsError, type ImgfsErrorCode } from '../errors.js';
import type { Checkpoint, DecodeContext, RawInput } from './inflater.js';
import { canRecordNatively, recordGzipNatively } from './native-gzip-recorder.js';
import { SpanOutput } from './span-output.js';

/**
 * The argument (in the worker's `process.argv`) and `workerData` the job passes, so that this module
 * serves only a worker started for it. The argument can be checked without loading node:worker_threads,
 * which the CLI then loads only when it starts a worker, not at every start-up.
 */
const WORKER_MARK = 'imgfs-gzip-recorder';
/** Output is sent in batches of at least this many bytes (a message costs more than copying 64 KiB). */
const OUTPUT_BATCH = 256 * 1024;
/** Output batches handed over and not yet taken: bounds how far the worker decodes ahead of its reader. */
const OUTPUT_CREDIT = 8;
/** The worker asks for input this many chunks at a time, when fewer than that are waiting. */
const INPUT_BATCH = 8;

type ToWorker =
  | { type: 'start'; from: Checkpoint; spacing: number; name: string }
  | { type: 'input'; chunk: Uint8Array }
  | { type: 'end' }
  | { type: 'credit'; count: number };

type FromWorker =
  | { type: 'need'; count: number }
  | { type: 'output'; chunk: Uint8Array }
  | { type: 'checkpoint'; checkpoint: Checkpoint }
  | { type: 'done' }
  | { type: 'error'; error: { code?: string; reason?: string; message: string } };

/** A checkpoint as plain data for postMessage, its window copied out of whatever memory it shares. */
function plain(checkpoint: Checkpoint): Checkpoint {
  const window = checkpoint.window === undefined ? undefined : Buffer.from(new Uint8Array(checkpoint.window));
  return { rawOffset: checkpoint.rawOffset, outOffset: checkpoint.outOffset, bits: checkpoint.bits ?? 0, window };
}

/**
 * Streams smaller than this are recorded on the calling thread: starting a worker (about 30 ms with
 * pako loaded) costs more than it saves.
 */
export const WORKER_MIN_RAW_SIZE = 8 * 1024 * 1024;

/**
 * The worker's script, this module compiled: itself in dist/source/, or under source/ beside a bundle
 * that inlined it (dist/imgfs-cli.js). Run from TypeScript sources, no compiled file exists, and
 * recording stays on the calling thread.
 */
const SCRIPT_CANDIDATES = [new URL('./gzip-record-job.js', import.meta.url), new URL('./source/gzip-record-job.js', import.meta.url)];
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

/** pako is loaded when first needed: most runs never record, and a pass from a member start records natively. */
async function* onThisThread(input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  yield* (await recorderFor(context.from))(input, context);
}

/** node:zlib from a member start (native-gzip-recorder.ts), pako from inside a member. */
async function recorderFor(from: Checkpoint): Promise<(input: RawInput, context: DecodeContext) => AsyncGenerator<Buffer, void, undefined>> {
  if (canRecordNatively(from)) return recordGzipNatively;
  return (await import('./gzip-recorder.js')).recordGzip;
}

type Event = FromWorker | { type: 'failed'; error: unknown };

async function* inWorker(script: URL, input: RawInput, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
  const { from, name, recording } = context;
  if (recording === undefined) throw new Error('recordGzipOffThread needs context.recording');
  workersRunning += 1;
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(script, { workerData: WORKER_MARK, argv: [WORKER_MARK] });
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

  // Recycled input: each chunk is copied out (below) before the next is asked for.
  const iterator = input(from.rawOffset, true)[Symbol.asyncIterator]();
  const output = new SpanOutput(context);
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
          // Copied into span-aligned buffers (maybe spans the cache let go of): the span cursor would
          // otherwise join the batches into a fresh span, a copy too.
          const batch = event.chunk;
          send({ type: 'credit', count: 1 });
          for (let at = 0; at < batch.length; ) {
            const length = Math.min(output.room, batch.length - at);
            output.buffer.set(batch.subarray(at, at + length), output.at);
            const chunk = output.take(length) as Buffer;
            output.renewIfFull();
            at += length;
            yield chunk;
            yielded += length;
            for (let next = pending[0]; next !== undefined && next.outOffset <= yielded; next = pending[0]) {
              pending.shift();
              recording.onCheckpoint(next);
            }
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

// Not a top-level await, which would make every module that imports this one asynchronous (and so
// refuse `require()`); the parent's first messages wait in the port until the listener is attached.
if (process.argv.includes(WORKER_MARK)) {
  void import('node:worker_threads').then(({ isMainThread, parentPort, workerData }) => {
    if (!isMainThread && workerData === WORKER_MARK && parentPort !== null) serveRecording(parentPort);
  });
}

/** The worker's side: runs recordGzip on the input it is sent and sends back output and checkpoints. */
function serveRecording(port: MessagePort): void {
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
      const record = await recorderFor(from);
      const decoded = record(() => input(), {
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
