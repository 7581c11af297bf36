/**
 * Messages between zstd-worker-job.ts (the calling thread) and zstd-worker.ts (a decoder thread), and the
 * layout of the status words the watchdog shares with a decoder thread. A decoder thread runs many
 * decodings (jobs) at once; every message names its job.
 */

/** Marks the `workerData` the job passes, so the worker module does nothing when loaded any other way. */
export const ZSTD_WORKER_MARK = 'imgfs-zstd-decoder';

export interface ZstdWorkerData {
  readonly mark: typeof ZSTD_WORKER_MARK;
  /** STATUS_BYTES of shared memory: see STATUS_*. */
  readonly status: SharedArrayBuffer;
}

/**
 * Output goes over in messages of at least this many bytes: messages, not bytes, are what costs (with
 * 256 KiB messages a 113 MB layer decoded up to 30 % slower than with 1 MiB ones). The blocks in a
 * message (at most 128 KiB each, as fzstd hands them out) are transferred as they are, not copied.
 */
export const OUTPUT_BATCH = 1024 * 1024;
/**
 * Output messages of one job handed over and not yet taken: bounds how far a job decodes ahead of its
 * reader to about 4 × 1.1 MiB (plus what one 1 KiB piece of input decodes to, at most 32 MiB of RLE
 * blocks, held inside the decoder thread until the reader takes it).
 */
export const OUTPUT_CREDIT = 4;
/** Input goes over in messages of at least this many bytes (whole chunks of the input, copied together). */
export const INPUT_MESSAGE = 256 * 1024;
/** A job asks for this many input messages at a time, when fewer are waiting or on their way. */
export const INPUT_BATCH = 2;

/** Int32 words of the shared status. */
export const STATUS_BUSY = 0; // 1 while the thread is inside fzstd, 0 otherwise
export const STATUS_WORK = 1; // KiB of input given to fzstd plus KiB of output it has put out, all jobs
export const STATUS_JOB = 2; // the job fzstd was last given input of
export const STATUS_JOBS = 3; // jobs the thread holds (tests)
/** Byte offset of a Float64: the compressed offset up to which fzstd has been given input. */
export const STATUS_OFFSET_BYTE = 16;
export const STATUS_BYTES = 24;

export type ToWorker =
  | {
      type: 'start';
      job: number;
      name: string;
      rawOffset: number;
      outOffset: number;
      /** Checkpoint spacing; absent when nothing is recorded. */
      spacing: number | undefined;
    }
  | { type: 'input'; job: number; chunk: Uint8Array }
  | { type: 'end'; job: number }
  | { type: 'credit'; job: number; count: number }
  /** The reader has gone: drop the job and everything it holds. */
  | { type: 'abort'; job: number };

export type FromWorker =
  | { type: 'need'; job: number; count: number }
  /** Chunks of decompressed bytes, in order; each has an ArrayBuffer of its own, transferred. */
  | { type: 'output'; job: number; chunks: Uint8Array[] }
  /** A recorded checkpoint, posted when decoding reaches it: possibly before the bytes leading up to it. */
  | { type: 'checkpoint'; job: number; rawOffset: number; outOffset: number }
  | { type: 'done'; job: number }
  | { type: 'error'; job: number; error: { code?: string; reason?: string; message: string } };
