import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { RingFeed, type HeaderFeed } from '../tar/header-feed.js';
import { headerReaderBody, type HeaderReaderData } from '../tar/header-reader-body.js';
import { allocateRing, RING_LAYOUT as L, type RingMemory } from '../tar/header-ring.js';

/** Where an uncompressed layer lies: the file's descriptor, and the layer's place in it. */
export interface LayerInFile {
  fd: number;
  start: number;
  size: number;
}

/**
 * A thread that reads the header blocks of an uncompressed layer lying in a file, one layer at a time,
 * ahead of a walk on the main thread that decodes them (`walkTarBatches(source, { feed })`): the
 * positional reads of a cold walk move to the second core. The thread runs a tiny script of its own
 * (header-reader-body.ts), not the library, and reads a layer only once a walk of it has begun.
 *
 * Not used by `openImage`: on the bench image it does not pay (bench/README.md, "io-worker"). The
 * walk fed by it does 20-35 % less on the main thread, but the thread needs ~50 ms of CPU and ~75 ms
 * to be ready, longer than a cold `cat` has before its last layers, and the reads it takes over cost
 * it about what they cost the walk. Kept, with its tests, as the walk's `feed` option and measured by
 * `bench/table-build-pass.js fed`, for when a thread can be had more cheaply.
 */
export class HeaderReaderThread {
  private worker: Worker | undefined;
  private memory: RingMemory | undefined;
  private control: Int32Array | undefined;
  private job = 0;
  private active: HeaderFeed | undefined;
  /** The thread failed, or did not stop for a job in time: no job goes to it any more. */
  private lost = false;
  private closed = false;

  constructor(
    /** Whether a second core is there to run it; false: `feed` never gives one. */
    private readonly enabled: boolean = availableParallelism() > 1,
  ) {}

  /** Starts the thread if it is not running yet; it is ready some tens of milliseconds later. */
  start(): void {
    if (!this.enabled || this.worker !== undefined || this.lost || this.closed) return;
    const { Worker: WorkerThread } = process.getBuiltinModule('node:worker_threads');
    const memory = allocateRing();
    const data: HeaderReaderData = { ...memory, layout: L };
    // Its source text, run as a script: the thread loads no module but node:fs.
    const script = `(${String(headerReaderBody)})(require('node:fs').readSync, require('node:worker_threads').workerData)`;
    const worker = new WorkerThread(script, { eval: true, workerData: data });
    const lose = (): void => {
      this.lost = true;
    };
    worker.on('error', lose);
    worker.on('exit', lose);
    // Waiting for jobs, it keeps no process alive.
    worker.unref();
    this.worker = worker;
    this.memory = memory;
    this.control = new Int32Array(memory.control, 0, L.SLOTS);
  }

  /** CPU time the thread had used when it last finished a job, in microseconds (the bench); 0 before. */
  get cpuMicros(): number {
    return this.memory === undefined ? 0 : (new Float64Array(this.memory.control, L.JOB_NUMBERS_AT, 3)[2] ?? 0);
  }

  /** Whether the thread is ready for a job now. */
  get ready(): boolean {
    return this.control !== undefined && !this.lost && !this.closed && Atomics.load(this.control, L.READY) === 1;
  }

  /**
   * Has the thread read `layer`'s header blocks ahead of a walk beginning now, when it is ready and
   * free; else undefined (the thread is started for later walks) and the walk reads them itself.
   * The walk must `release` the feed when it ends.
   */
  feed(layer: LayerInFile): HeaderFeed | undefined {
    this.start();
    const { memory, control } = this;
    if (!this.ready || this.active !== undefined || memory === undefined || control === undefined) return undefined;
    const job = ++this.job;
    const numbers = new Float64Array(memory.control, L.JOB_NUMBERS_AT, 2);
    numbers[0] = layer.start;
    numbers[1] = layer.size;
    Atomics.store(control, L.FD, layer.fd);
    Atomics.store(control, L.HEAD, 0);
    Atomics.store(control, L.TAIL, 0);
    Atomics.store(control, L.CANCEL, 0);
    Atomics.store(control, L.JOB, job);
    Atomics.notify(control, L.JOB);
    const feed = new RingFeed(memory, job, (stopped) => {
      this.active = undefined;
      if (!stopped) this.lost = true;
    });
    this.active = feed;
    return feed;
  }

  /**
   * Stops the job under way (before the descriptors it reads are closed) and tells the thread to end.
   * Not `terminate()`: stopping a thread still starting blocks this one until it can be stopped (some
   * 20 ms at the end of a cold `cat`); told to end, it ends by itself, and holds the process open for
   * nothing (unref'd).
   */
  close(): void {
    this.closed = true;
    this.active?.release();
    const { control } = this;
    this.worker = undefined;
    if (control !== undefined) {
      Atomics.store(control, L.JOB, -1);
      Atomics.notify(control, L.JOB);
    }
  }
}
