import { RING_LAYOUT as L, type RingMemory } from './header-ring.js';

/**
 * Bytes a walk would otherwise read itself, read ahead by another thread (header-reader-body.ts): a
 * HeaderWindow asks here first. Each piece is taken only when it lies exactly where the walk asks;
 * the first that does not turns the feed off for good, and the walk reads on by itself.
 */
export interface HeaderFeed {
  /**
   * Copies the next piece into `target` when it starts at `offset` and holds at least `length` bytes,
   * and returns its length; else -1, and the feed is off from then on.
   */
  take(offset: number, length: number, target: Buffer): number;
  /** The walk is over (or off the feed): the thread stops and writes nothing more for it. Idempotent. */
  release(): void;
}

/** How long a walk waits for the thread's next piece before reading on by itself (a thread not scheduled, say). */
const WAIT_MS = 20;
/** How long, in all, `release` waits for the thread to stop (a read under way); then the thread is given up. */
const STOP_WAIT_MS = 5000;
/** Looks at the ring before sleeping: about what one positional read takes. */
const SPINS = 2000;
const UNITS = L.RING_BYTES / L.UNIT;

/** The walk's end of one job of a reader thread: it reads the ring, the thread writes it. */
export class RingFeed implements HeaderFeed {
  private readonly control: Int32Array;
  private readonly bytes: Buffer;
  private readonly offsets: Float64Array;
  private readonly lengths: Int32Array;
  private head = 0;
  private tail = 0;
  private on = true;
  private released = false;
  /** Pieces taken, and times the walk slept waiting for the thread (for tests and the bench). */
  taken = 0;
  waits = 0;
  /** The walk asked for something the thread had not read (it stopped following, or went astray). */
  fellBack = false;

  constructor(
    memory: RingMemory,
    private readonly job: number,
    /** Told once the thread has stopped writing for this job, or was given up (`false`). */
    private readonly onReleased: (stopped: boolean) => void,
  ) {
    this.control = new Int32Array(memory.control, 0, L.SLOTS);
    this.bytes = Buffer.from(memory.ring);
    this.offsets = new Float64Array(memory.ring);
    this.lengths = new Int32Array(memory.ring);
  }

  take(offset: number, length: number, target: Buffer): number {
    if (!this.on) return -1;
    for (;;) {
      if (this.tail === this.head && !this.waitForMore()) return this.off();
      const slot = this.tail % UNITS;
      const found = this.lengths[slot * 4 + 2] ?? L.END;
      if (found === L.WRAP) {
        this.tail += UNITS - slot;
        continue;
      }
      if (found < length || found > target.length || this.offsets[slot * 2] !== offset) return this.off();
      const from = (slot + 1) * L.UNIT;
      this.bytes.copy(target, 0, from, from + found);
      this.tail += 1 + Math.ceil(found / L.UNIT);
      Atomics.store(this.control, L.TAIL, this.tail);
      if (Atomics.load(this.control, L.WAITING) === 1) Atomics.notify(this.control, L.TAIL);
      this.taken++;
      return found;
    }
  }

  release(): void {
    this.on = false;
    if (this.released) return;
    this.released = true;
    const control = this.control;
    Atomics.store(control, L.CANCEL, this.job);
    Atomics.notify(control, L.TAIL);
    const deadline = Date.now() + STOP_WAIT_MS;
    for (;;) {
      const done = Atomics.load(control, L.DONE);
      if (done === this.job) break;
      if (Date.now() > deadline) {
        this.onReleased(false);
        return;
      }
      Atomics.wait(control, L.DONE, done, 100);
    }
    this.onReleased(true);
  }

  /** Whether the thread has published more pieces, waiting a little for them if not. */
  private waitForMore(): boolean {
    const control = this.control;
    for (;;) {
      this.head = Atomics.load(control, L.HEAD);
      if (this.head !== this.tail) return true;
      // Finished without an END record only when it failed: nothing more will come.
      if (Atomics.load(control, L.DONE) === this.job) return false;
      // The thread is usually a read away: a short spin is cheaper than sleeping and being woken.
      for (let spin = 0; spin < SPINS && Atomics.load(control, L.HEAD) === this.tail; spin++);
      if (Atomics.load(control, L.HEAD) !== this.tail) continue;
      this.waits++;
      if (Atomics.wait(control, L.HEAD, this.tail, WAIT_MS) === 'timed-out') {
        this.head = Atomics.load(control, L.HEAD);
        return this.head !== this.tail;
      }
    }
  }

  private off(): number {
    this.fellBack = true;
    this.release();
    return -1;
  }
}
