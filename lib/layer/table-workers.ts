import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { ImgfsError, type ImgfsErrorCode } from '../errors.js';
import { LayerTable } from '../table/layer-table.js';
import { decodeSnapshot } from '../table/snapshot-codec.js';
import type { WarningSink } from '../warnings.js';
import type { SentError, TableJob, TableReply } from './table-worker.js';

/** A layer's table, and its index-file bytes when a worker made them (so the cache stores them as they are). */
export interface BuiltTable {
  table: LayerTable;
  encoded?: Buffer | undefined;
}

/** Members in a layer indexed here from which the worker is worth starting for the layers below. */
const WORKER_WORTH_MEMBERS = 50_000;

/** What the worker posts once its modules are loaded: from then on it takes a job at once. */
export const WORKER_READY = 'ready';

/** What a worker needs to index a layer by itself: where its uncompressed tar lies, and its limits. */
export type WorkerJob = Omit<TableJob, 'id'>;

/**
 * Where an image's layers are indexed: on the main thread when it is free, else, for a layer a worker
 * can index by itself (an uncompressed tar in a file), on the second core. Layers are independent, so
 * a walk over three million-entry layers indexes two at once; a layer that cannot go to a worker (a
 * compressed one, whose decoding already runs on the thread pool) is built here at once, as before.
 * Nothing here decides which layers are indexed: that stays with the questions (lazy, top-down).
 */
export class TableWorkers {
  private worker: Worker | undefined;
  private workerBusy = false;
  /** The worker has loaded its modules and takes a job at once (see `build`). */
  private workerReady = false;
  /** The worker failed to start or stopped: every later layer is built here. */
  private workerLost = false;
  /** A layer large enough to pay for the worker's start has been seen. */
  private worth: boolean;
  private inThread = 0;
  private waiting: Array<() => void> = [];
  private readonly replies = new Map<number, (reply: TableReply) => void>();
  private nextId = 0;
  private closed = false;

  constructor(
    /** The worker's script; undefined: every layer is built here (a source checkout run by vitest). */
    private readonly script: URL | undefined = workerScript(),
    /** Workers beside the main thread; 0 keeps everything here. */
    private readonly workers: number = Math.min(1, availableParallelism() - 1),
    /** Members a layer indexed here must have for the worker to be started; 0: at the first chance. */
    private readonly worthMembers: number = WORKER_WORTH_MEMBERS,
  ) {
    this.worth = worthMembers === 0;
  }

  /** Whether a layer can be indexed on another thread at all (a worker script, a second core). */
  get offloads(): boolean {
    return this.script !== undefined && this.workers > 0 && !this.closed && !this.workerLost;
  }

  /**
   * Builds a table with `local` here, or `job` in the worker, whichever thread is free first. The
   * worker is started only after this thread has indexed a layer of WORKER_WORTH_MEMBERS members or
   * more, and takes layers only once it has loaded its modules: starting one costs tens of
   * milliseconds of CPU, more than indexing a layer of a few thousand members, so an ordinary image
   * never starts one, while in a stack of large layers the second core takes every other layer.
   */
  async build(job: WorkerJob | undefined, local: () => Promise<LayerTable>, warn: WarningSink): Promise<BuiltTable> {
    for (;;) {
      const offloadable = job !== undefined && this.offloads;
      if (this.inThread === 0 || !offloadable) return { table: await this.here(local) };
      if (this.workerReady && !this.workerBusy) return this.there(job, warn);
      if (this.worth) this.started();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** Whether a worker thread has been started (for tests and diagnostics). */
  get workerStarted(): boolean {
    return this.worker !== undefined;
  }

  /** Stops the worker (a build in it fails with ECLOSED): the descriptors it reads are about to close. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    if (worker !== undefined) await worker.terminate();
    this.wake();
  }

  private async here(local: () => Promise<LayerTable>): Promise<LayerTable> {
    this.inThread++;
    try {
      const table = await local();
      if (table.memberCount >= this.worthMembers) this.worth = true;
      return table;
    } finally {
      this.inThread--;
      this.wake();
    }
  }

  private async there(job: WorkerJob, warn: WarningSink): Promise<BuiltTable> {
    this.workerBusy = true;
    try {
      const worker = this.started();
      const id = this.nextId++;
      const reply = await new Promise<TableReply>((resolve) => {
        this.replies.set(id, resolve);
        worker.ref();
        worker.postMessage({ ...job, id } satisfies TableJob);
      });
      // Warnings in the order the pass met them, as an in-thread build gives them (`strict` throws the first).
      for (const warning of reply.warnings) warn(warning);
      if (!reply.ok) throw rebuilt(reply.error);
      const encoded = Buffer.from(reply.bytes);
      return { table: LayerTable.fromSnapshot(decodeSnapshot(encoded, { fromWorker: true })), encoded };
    } finally {
      this.workerBusy = false;
      this.worker?.unref();
      this.wake();
    }
  }

  private started(): Worker {
    if (this.worker !== undefined) return this.worker;
    // Loaded when a worker is first started, not by every command that imports this module (a warm
    // lookup starts none).
    const { Worker: WorkerThread } = process.getBuiltinModule('node:worker_threads');
    const worker = new WorkerThread(this.script as URL);
    const fail = (why: string): void => {
      if (this.worker === worker) this.worker = undefined;
      this.workerReady = false;
      this.workerLost = true;
      this.wake();
      const error: SentError = this.closed ? { imgfs: true, code: 'ECLOSED', reason: 'the image has been closed' } : { imgfs: false, reason: `table worker stopped: ${why}` };
      for (const [id, resolve] of this.replies) {
        this.replies.delete(id);
        resolve({ id, warnings: [], ok: false, error });
      }
    };
    worker.on('message', (reply: TableReply | typeof WORKER_READY) => {
      if (reply === WORKER_READY) {
        this.workerReady = true;
        this.wake();
        return;
      }
      const resolve = this.replies.get(reply.id);
      this.replies.delete(reply.id);
      resolve?.(reply);
    });
    worker.on('error', (error) => fail(error.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    // Idle, it keeps no process alive; `there` refs it while a job is out.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }
}

/** An error as the worker sent it, as the in-thread build would have thrown it. */
function rebuilt(sent: SentError): Error {
  if (!sent.imgfs) return new Error(sent.reason);
  return new ImgfsError(sent.code as ImgfsErrorCode, sent.reason, { archive: sent.archive, member: sent.member, layer: sent.layer, offset: sent.offset });
}

/**
 * The worker's script beside this module: dist/layer/ holds both; the CLI bundle (dist/imgfs-cli.js)
 * finds it in dist/layer/. Run from the TypeScript sources there is none, and nothing is offloaded.
 */
function workerScript(): URL | undefined {
  for (const candidate of ['table-worker.js', 'layer/table-worker.js']) {
    const url = new URL(candidate, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url;
  }
  return undefined;
}
