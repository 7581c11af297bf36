import type { Checkpoint } from './inflater.js';

/** Messages between gzip-record-job.ts (main thread) and gzip-record-worker.ts (the worker). */

/** `workerData` the job passes, so the worker module does nothing when loaded any other way. */
export const WORKER_MARK = 'imgfs-gzip-recorder';

/** Output is sent in batches of at least this many bytes (a message costs more than copying 64 KiB). */
export const OUTPUT_BATCH = 256 * 1024;
/** Output batches handed over and not yet taken: bounds how far the worker decodes ahead of its reader. */
export const OUTPUT_CREDIT = 8;
/** The worker asks for input this many chunks at a time, when fewer than that are waiting. */
export const INPUT_BATCH = 8;

export type ToWorker =
  | { type: 'start'; from: Checkpoint; spacing: number; name: string }
  | { type: 'input'; chunk: Uint8Array }
  | { type: 'end' }
  | { type: 'credit'; count: number };

export type FromWorker =
  | { type: 'need'; count: number }
  | { type: 'output'; chunk: Uint8Array }
  | { type: 'checkpoint'; checkpoint: Checkpoint }
  | { type: 'done' }
  | { type: 'error'; error: { code?: string; reason?: string; message: string } };

/** A checkpoint as plain data for postMessage, its window copied out of whatever memory it shares. */
export function plain(checkpoint: Checkpoint): Checkpoint {
  const window = checkpoint.window === undefined ? undefined : Buffer.from(new Uint8Array(checkpoint.window));
  return { rawOffset: checkpoint.rawOffset, outOffset: checkpoint.outOffset, bits: checkpoint.bits ?? 0, window };
}
