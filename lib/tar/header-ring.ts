/**
 * The memory a header reader thread (header-reader-body.ts) and a walk on the main thread share: a
 * control block of Int32 slots plus the job's two numbers, and a ring of records, each one run of the
 * layer's bytes as read by the thread, tagged with its offset in the layer.
 *
 * A record starts on a 16-byte unit: the offset (float64), the length (int32) and 4 unused bytes, then
 * the bytes, padded to whole units. Positions (HEAD, TAIL) count units from the job's start and only
 * grow; a record never straddles the ring's end (a WRAP record fills the rest). The thread alone
 * writes HEAD, the walk alone writes TAIL, each with Atomics.store after the bytes it publishes.
 */
export const RING_LAYOUT = {
  /** Set to 1 by the thread once it waits for jobs. */
  READY: 0,
  /** The job number the walk posted last (-1: the thread is to end). */
  JOB: 1,
  /** The job number the thread finished last: from then on it writes nothing for it. */
  DONE: 2,
  /** A job number the walk wants stopped. */
  CANCEL: 3,
  HEAD: 4,
  TAIL: 5,
  /** The descriptor of the file the layer lies in. */
  FD: 6,
  /** 1 while the thread waits for room in the ring: only then does the walk wake it (a wake costs a lock). */
  WAITING: 7,
  /**
   * Int32 slots of the control block. Three float64 follow at JOB_NUMBERS_AT: the job's start and size,
   * and the CPU time the thread had used when it last finished a job, in microseconds (for the bench).
   */
  SLOTS: 8,
  JOB_NUMBERS_AT: 32,
  CONTROL_BYTES: 56,
  UNIT: 16,
  /** Ring size: the thread runs at most this far ahead of the walk. */
  RING_BYTES: 1024 * 1024,
  /** Largest record: a PAX header or long name beyond it ends the thread's walk (the walk reads it itself). */
  MAX_RECORD: 64 * 1024,
  /** Length of a record that only says "go on at the ring's start". */
  WRAP: -1,
  /** Length of the record the thread ends a job's records with: nothing more will come. */
  END: -2,
} as const;

export type RingLayout = typeof RING_LAYOUT;

/** The shared memory of one reader thread. */
export interface RingMemory {
  control: SharedArrayBuffer;
  ring: SharedArrayBuffer;
}

export function allocateRing(): RingMemory {
  return { control: new SharedArrayBuffer(RING_LAYOUT.CONTROL_BYTES), ring: new SharedArrayBuffer(RING_LAYOUT.RING_BYTES) };
}
