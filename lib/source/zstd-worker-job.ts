import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ImgfsError, type ImgfsErrorCode } from '../errors.js';
import { assertMemberStart, type Checkpoint, type DecodeContext, type RawInput } from './inflater.js';
import {
  INPUT_MESSAGE,
  STATUS_BUSY,
  STATUS_BYTES,
  STATUS_JOB,
  STATUS_JOBS,
  STATUS_OFFSET_BYTE,
  STATUS_WORK,
  ZSTD_WORKER_MARK,
  type FromWorker,
  type ToWorker,
  type ZstdWorkerData,
} from './zstd-worker-protocol.js';

/**
 * The stall limit: how far fzstd may fall behind ZSTD_MIN_RATE before its thread is terminated. A block
 * that keeps fzstd busy without output (18 crafted bytes do for 40 s) reaches it in this time; blocks
 * that each take less but, together, decode slower than ZSTD_MIN_RATE, in proportionally more.
 */
export const DEFAULT_ZSTD_STALL_MS = 10_000;
/**
 * The slowest honest decoding, in bytes of input plus output a second: time inside fzstd is paid for by
 * the work done at this rate, and what is not paid for adds up towards the stall limit. fzstd decodes
 * 150–400 MB/s; the slowest honest input measured, a 128 MiB window without a content size
 * (`zstd --long=27` from a pipe), 21 MB/s, since fzstd shifts its whole window for every block. So an
 * honest decoding never falls behind, and crafted blocks, each emitting 128 KiB after looping for a
 * while (1 000 sequences: 0.2 s), cost at most 1 / ZSTD_MIN_RATE of a second per byte the ratio limit
 * lets out, instead of unbounded time.
 */
export const ZSTD_MIN_RATE = 2 * 1024 * 1024;
const MS_PER_KIB = (1000 * 1024) / ZSTD_MIN_RATE;
/** A decoder thread with no job left ends after this long (it keeps fzstd compiled until then). */
export const DEFAULT_ZSTD_IDLE_MS = 5_000;
/** Times a decoding starts again after its thread was terminated for another decoding's stall. */
const MAX_RESTARTS = 3;

/**
 * The worker's compiled script: beside this module (dist/source/), or under source/ beside a bundle
 * that inlined this module (dist/imgfs-cli.js). Run from TypeScript sources neither exists.
 */
const SCRIPT_CANDIDATES = [new URL('./zstd-worker.js', import.meta.url), new URL('./source/zstd-worker.js', import.meta.url)];
let workerScript: URL | undefined | null = null;
let warned = false;
let defaultStallMs = DEFAULT_ZSTD_STALL_MS;
let idleMs = DEFAULT_ZSTD_IDLE_MS;
let fixedLimit: number | undefined;
let threadsAlive = 0;

/**
 * Where the worker's script is, or undefined when there is none (fzstd then runs on the calling thread).
 * Compiled code without its worker script (a bundle that left out dist/source/zstd-worker.js) warns once:
 * it has lost the watchdog.
 */
export function zstdWorkerScript(): URL | undefined {
  if (workerScript === null) {
    workerScript = SCRIPT_CANDIDATES.find((candidate) => existsSync(fileURLToPath(candidate)));
    if (workerScript === undefined && import.meta.url.endsWith('.js') && !warned) {
      warned = true;
      process.emitWarning(
        'zstd-worker.js not found beside the imgfs library: zstd layers are decoded on the calling thread, where a crafted block can keep it busy for minutes',
        { code: 'IMGFS_ZSTD_NO_WORKER' },
      );
    }
  }
  return workerScript;
}

/**
 * Sets the worker's script (tests: the TypeScript sources have no compiled script beside them):
 * `undefined` decodes on the calling thread, `null` goes back to looking beside this module.
 */
export function setZstdWorkerScript(script: URL | undefined | null): void {
  workerScript = script;
}

/**
 * Sets the stall limit of decodings that do not bring their own (`zstdStallMs` in their DecodeContext);
 * `undefined` goes back to DEFAULT_ZSTD_STALL_MS.
 */
export function setZstdStallMs(ms: number | undefined): void {
  if (ms !== undefined && !(ms > 0)) throw new RangeError(`zstdStallMs must be a number above 0, got ${ms}`);
  defaultStallMs = ms ?? DEFAULT_ZSTD_STALL_MS;
}

/** The stall limit of one decoding: `context.zstdStallMs` when the caller passes one, else the default. */
export function zstdStallMs(context: DecodeContext): number {
  const own = (context as DecodeContext & { readonly zstdStallMs?: number | undefined }).zstdStallMs;
  if (own !== undefined && !(own > 0)) throw new RangeError(`zstdStallMs must be a number above 0, got ${own}`);
  return own ?? defaultStallMs;
}

/** Sets how long an idle decoder thread lives on (tests); `undefined` goes back to DEFAULT_ZSTD_IDLE_MS. */
export function setZstdWorkerIdleMs(ms: number | undefined): void {
  idleMs = ms ?? DEFAULT_ZSTD_IDLE_MS;
}

/** Overrides the number of decoder threads (tests, benchmarks); `undefined` goes back to the default. */
export function setZstdWorkerLimit(limit: number | undefined): void {
  fixedLimit = limit;
}

/** zstd decoder threads started and not yet exited (tests). */
export function zstdWorkersRunning(): number {
  return threadsAlive;
}

/**
 * Decodings running on decoder threads, whatever their readers are doing (tests): as this thread counts
 * them, or with `held`, as the decoder threads do (a job whose reader left ends there a little later).
 */
export function zstdJobsRunning(held = false): number {
  return threads.reduce((sum, thread) => sum + (held ? thread.heldJobs : thread.jobs), 0);
}

/**
 * Decoder threads: one per core beyond the calling thread's own, at least one and at most four. More
 * threads than cores only add start-up (about 25 ms and 9 MiB each, plus compiling fzstd again, about
 * 100 ms of CPU): a thread runs any number of decodings, interleaved.
 */
function threadLimit(): number {
  return Math.max(1, fixedLimit ?? Math.min(4, availableParallelism() - 1));
}

type Event =
  | FromWorker
  | { type: 'failed'; error: unknown }
  | { type: 'stalled'; offset: number; ms: number }
  /** The thread was terminated for another job's stall (or died under it): start again elsewhere. */
  | { type: 'lost'; error: unknown };

/** One decoding's mailbox on a decoder thread. */
class Channel {
  private readonly events: Event[] = [];
  private wake: (() => void) | undefined;
  closed = false;

  constructor(
    readonly id: number,
    readonly thread: DecoderThread,
    readonly stallMs: number,
  ) {}

  push(event: Event): void {
    this.events.push(event);
    this.wake?.();
    this.wake = undefined;
  }

  /** The next event; while waiting for it, the thread keeps the process alive. */
  async next(): Promise<Event> {
    for (;;) {
      const event = this.events.shift();
      if (event !== undefined) return event;
      this.thread.waiting(1);
      try {
        await new Promise<void>((resolve) => (this.wake = resolve));
      } finally {
        this.thread.waiting(-1);
      }
    }
  }

  send(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (!this.closed) this.thread.send(message, transfer);
  }

  /** The reader is done with this job (finished, failed or gone): the thread forgets it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.thread.release(this);
  }
}

const threads: DecoderThread[] = [];
let nextJob = 1;

/**
 * A worker thread running decodings, watched: while it has jobs, a timer samples the status the thread
 * shares (is it inside fzstd, how much work has it done) and keeps the time spent inside fzstd that the
 * work done has not paid for (see ZSTD_MIN_RATE). When that reaches the stall limit of the job inside
 * fzstd, the thread is terminated: that job fails, the thread's other jobs start again on another
 * thread. Unref'd unless a reader waits for one of its jobs, so it never keeps the process alive by
 * itself.
 */
class DecoderThread {
  private readonly worker: Worker;
  private readonly words: Int32Array;
  private readonly pieceOffset: Float64Array;
  private readonly channels = new Map<number, Channel>();
  private readers = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private watchInterval = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Milliseconds spent inside fzstd and not paid for by work done; never below 0 (no credit is kept). */
  private debt = 0;
  private lastWork = 0;
  private lastTick = 0;
  dead = false;

  constructor(script: URL) {
    const status = new SharedArrayBuffer(STATUS_BYTES);
    this.words = new Int32Array(status, 0, 4);
    this.pieceOffset = new Float64Array(status, STATUS_OFFSET_BYTE, 1);
    const workerData: ZstdWorkerData = { mark: ZSTD_WORKER_MARK, status };
    this.worker = new Worker(script, { workerData });
    threadsAlive += 1;
    this.worker.once('exit', () => (threadsAlive -= 1));
    this.worker.unref();
    this.worker.on('message', (message: FromWorker) => this.channels.get(message.job)?.push(message));
    this.worker.on('error', (error) => this.died(error));
    this.worker.on('exit', (code) => this.died(new Error(`zstd decoder thread exited (${code})`)));
  }

  get jobs(): number {
    return this.channels.size;
  }

  /** Jobs the thread itself still holds (some may be on their way out after an abort). */
  get heldJobs(): number {
    return this.dead ? 0 : Atomics.load(this.words, STATUS_JOBS);
  }

  open(stallMs: number): Channel {
    const channel = new Channel(nextJob++, this, stallMs);
    this.channels.set(channel.id, channel);
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.watch();
    return channel;
  }

  send(message: ToWorker, transfer: ArrayBuffer[]): void {
    if (!this.dead) this.worker.postMessage(message, transfer);
  }

  release(channel: Channel): void {
    if (this.channels.get(channel.id) !== channel) return;
    this.channels.delete(channel.id);
    this.send({ type: 'abort', job: channel.id }, []);
    this.watch();
    if (this.channels.size === 0 && !this.dead) {
      this.idleTimer = setTimeout(() => this.end(), idleMs);
      this.idleTimer.unref();
    }
  }

  /** A reader starts (+1) or stops (-1) waiting for a job of this thread. */
  waiting(delta: number): void {
    this.readers += delta;
    if (this.dead) return;
    if (this.readers > 0) this.worker.ref();
    else this.worker.unref();
  }

  /** Starts, adjusts or stops the watchdog for the jobs there are. */
  private watch(): void {
    const interval =
      this.channels.size === 0 || this.dead
        ? 0
        : Math.max(5, Math.min(1000, Math.floor(Math.min(...[...this.channels.values()].map((c) => c.stallMs)) / 5)));
    if (interval === this.watchInterval) return;
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.watchInterval = interval;
    if (interval === 0) return;
    this.lastTick = performance.now();
    this.watchdog = setInterval(() => this.tick(), interval);
    this.watchdog.unref();
  }

  /**
   * Counts the time since the last tick as spent inside fzstd when fzstd is working now: sampled, but
   * unbiased (time is counted in proportion to how often fzstd is found working).
   */
  private tick(): void {
    const now = performance.now();
    const elapsed = now - this.lastTick;
    this.lastTick = now;
    const work = Atomics.load(this.words, STATUS_WORK);
    const earned = ((work - this.lastWork) | 0) * MS_PER_KIB;
    this.lastWork = work;
    // A tick that comes late (this thread was busy, or the process stopped) does not count the time it
    // missed: only a stall seen to last is one.
    const spent = Atomics.load(this.words, STATUS_BUSY) === 1 && elapsed <= 3 * this.watchInterval ? elapsed : 0;
    this.debt = Math.max(0, this.debt + spent - earned);
    const culprit = this.channels.get(Atomics.load(this.words, STATUS_JOB));
    // A job the reader has left may still be inside fzstd: it is held to the default.
    const limit = culprit?.stallMs ?? defaultStallMs;
    if (this.debt < limit) return;
    this.kill(culprit, { type: 'stalled', offset: this.pieceOffset[0] ?? 0, ms: limit });
  }

  /** Terminates the thread: `culprit` gets `event`, every other job starts again on another thread. */
  private kill(culprit: Channel | undefined, event: Event): void {
    if (this.dead) return;
    this.dead = true;
    const index = threads.indexOf(this);
    if (index >= 0) threads.splice(index, 1);
    clearInterval(this.watchdog);
    clearTimeout(this.idleTimer);
    void this.worker.terminate();
    for (const channel of this.channels.values()) {
      channel.push(channel === culprit ? event : { type: 'lost', error: event.type === 'failed' ? event.error : new Error('zstd decoder thread terminated') });
    }
    this.channels.clear();
  }

  /** The thread failed or exited by itself: the job inside fzstd, if any, is to blame. */
  private died(error: unknown): void {
    if (this.dead) return;
    const busy = Atomics.load(this.words, STATUS_BUSY) === 1 ? this.channels.get(Atomics.load(this.words, STATUS_JOB)) : undefined;
    this.kill(busy, { type: 'failed', error });
  }

  /** Ends an idle thread. */
  private end(): void {
    if (this.channels.size > 0 || this.dead) return;
    this.kill(undefined, { type: 'failed', error: new Error('idle') });
  }
}

/** The thread for a new job: an idle one, else a new one while there are fewer than the limit, else the least busy one. */
function pickThread(script: URL): DecoderThread {
  const idle = threads.find((thread) => thread.jobs === 0);
  if (idle !== undefined) return idle;
  if (threads.length < threadLimit()) {
    const thread = new DecoderThread(script);
    threads.push(thread);
    return thread;
  }
  return threads.reduce((least, thread) => (thread.jobs < least.jobs ? thread : least));
}

/**
 * decodeZstdHere (zstd-inflater.ts) on a decoder thread, under its watchdog. This thread feeds the job
 * compressed chunks (copied once, then transferred) as it asks for them, and takes the decompressed
 * chunks (transferred, not copied) as its reader wants them: a job decodes at most OUTPUT_CREDIT
 * messages ahead. The ratio limit (`onOutput`) is applied here, before a chunk is handed on;
 * checkpoints are reported once the bytes before them have been.
 *
 * A job inside fzstd without progress for `stallMs` (or, over a longer time, with less progress than
 * ZSTD_MIN_RATE: its thread's watchdog decides) fails with ECOMPRESSION; its thread is terminated, and
 * the thread's other jobs start again from their start on another thread, skipping what they had
 * already handed on. The job ends with this generator: at the end of the stream, on an error, or when
 * its reader returns early.
 */
export async function* decodeZstdInWorker(
  script: URL,
  input: RawInput,
  context: DecodeContext,
  stallMs: number,
): AsyncGenerator<Buffer, void, undefined> {
  const { from, name, recording } = context;
  assertMemberStart('zstd', from);
  /** Checkpoints received, reported once the output up to them has been handed on. */
  const pending: Checkpoint[] = [];
  let lastQueued = from.outOffset;
  let yielded = from.outOffset;
  const report = (): void => {
    for (let next = pending[0]; next !== undefined && next.outOffset <= yielded; next = pending[0]) {
      pending.shift();
      recording?.onCheckpoint(next);
    }
  };

  for (let attempt = 0; ; attempt += 1) {
    const channel = pickThread(script).open(stallMs);
    const iterator = input(from.rawOffset)[Symbol.asyncIterator]();
    /** Bytes handed on by an earlier attempt, decoded again and dropped. */
    let skip = yielded - from.outOffset;
    let feeding: Promise<void> | undefined;
    let inputEnded = false;
    /**
     * Sends the next `count` messages of input (INPUT_MESSAGE bytes or more each), then the end; errors
     * of the input come back as events. Each message is a copy of its own, transferred: the input's
     * buffers may share memory with anything (a BufferSource hands out views of its caller's buffer),
     * and a clone of a view would copy all of the memory behind it.
     */
    const feed = async (count: number): Promise<void> => {
      try {
        for (let i = 0; i < count && !inputEnded && !channel.closed; i += 1) {
          const parts: Buffer[] = [];
          let size = 0;
          while (size < INPUT_MESSAGE) {
            const next = await iterator.next();
            if (next.done === true) {
              inputEnded = true;
              break;
            }
            parts.push(next.value);
            size += next.value.length;
          }
          if (size > 0) {
            const chunk = new Uint8Array(size);
            let at = 0;
            for (const part of parts) {
              chunk.set(part, at);
              at += part.length;
            }
            channel.send({ type: 'input', job: channel.id, chunk }, [chunk.buffer]);
          }
          if (inputEnded) channel.send({ type: 'end', job: channel.id });
        }
      } catch (error) {
        channel.push({ type: 'failed', error });
      }
    };

    try {
      channel.send({ type: 'start', job: channel.id, name, rawOffset: from.rawOffset, outOffset: from.outOffset, spacing: recording?.spacing });
      let lost = false;
      while (!lost) {
        const event = await channel.next();
        switch (event.type) {
          case 'need': {
            const { count } = event;
            feeding = (feeding ?? Promise.resolve()).then(() => feed(count));
            break;
          }
          case 'checkpoint':
            // Output comes in batches: a checkpoint may arrive before the bytes that lead up to it. A
            // job started again reports again the ones already queued.
            if (event.outOffset > lastQueued) {
              lastQueued = event.outOffset;
              pending.push({ rawOffset: event.rawOffset, outOffset: event.outOffset });
            }
            break;
          case 'output': {
            channel.send({ type: 'credit', job: channel.id, count: 1 });
            for (const chunk of event.chunks) {
              let buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
              if (skip > 0) {
                const dropped = Math.min(skip, buffer.length);
                skip -= dropped;
                buffer = buffer.subarray(dropped);
                if (buffer.length === 0) continue;
              }
              context.onOutput(buffer.length);
              yield buffer;
              yielded += buffer.length;
              report();
            }
            break;
          }
          case 'done':
            report();
            return;
          case 'error':
            throw event.error.code === undefined
              ? new Error(event.error.message)
              : new ImgfsError(event.error.code as ImgfsErrorCode, event.error.reason ?? event.error.message, { archive: name });
          case 'failed':
            throw event.error;
          case 'stalled':
            throw new ImgfsError(
              'ECOMPRESSION',
              `zstd decoder made no progress for ${event.ms} ms (crafted block?) near compressed offset ${event.offset}`,
              { archive: name, offset: yielded },
            );
          case 'lost':
            if (attempt >= MAX_RESTARTS) throw event.error;
            lost = true;
            break;
        }
      }
    } finally {
      channel.close();
      await feeding?.catch(() => {});
      await iterator.return?.();
    }
  }
}
