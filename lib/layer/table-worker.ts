/**
 * The body of a table worker (worker_threads): builds the table of an uncompressed layer from its tar
 * headers, exactly as the tar pass does on the main thread, and hands it back as the index file's bytes
 * (snapshot-codec.ts) in a transferred ArrayBuffer: no copy, and names stay bytes on the other side.
 * Warnings are sent back in order, errors as their fields; table-workers.ts turns them back into what
 * an in-thread build would have given.
 */
import { parentPort } from 'node:worker_threads';
import { isImgfsError, type LayerRef } from '../errors.js';
import { LayerTable } from '../table/layer-table.js';
import { encodeSnapshot } from '../table/snapshot-codec.js';
import type { ImgfsWarning } from '../warnings.js';
import { DescriptorSource } from './descriptor-source.js';
import { WORKER_READY } from './table-workers.js';

/** One layer to index: where its tar lies, and the limits that apply. */
export interface TableJob {
  id: number;
  fd: number;
  start: number;
  size: number;
  name: string;
  layer: LayerRef;
  maxEntries: number;
  maxPaxSize: number;
  maxNameLength: number;
}

/** An ImgfsError's fields (or any other error's message), as they cross threads. */
export interface SentError {
  imgfs: boolean;
  code?: string | undefined;
  reason: string;
  archive?: string | undefined;
  member?: string | undefined;
  layer?: LayerRef | undefined;
  offset?: number | undefined;
}

export type TableReply = { id: number; warnings: ImgfsWarning[] } & ({ ok: true; bytes: ArrayBuffer } | { ok: false; error: SentError });

async function build(job: TableJob): Promise<TableReply> {
  const warnings: ImgfsWarning[] = [];
  try {
    const source = new DescriptorSource(job.fd, job.start, job.size, job.name);
    const { maxPaxSize, maxNameLength, maxEntries, layer } = job;
    const table = await LayerTable.buildFromTar(source, { maxPaxSize, maxNameLength, maxEntries, layer, onWarning: (warning) => warnings.push(warning) });
    const encoded = encodeSnapshot(table.snapshot());
    // Transferred only when the buffer is the whole of its memory (a small one may share Node's pool).
    const bytes = encoded.byteOffset === 0 && encoded.byteLength === encoded.buffer.byteLength ? (encoded.buffer as ArrayBuffer) : Uint8Array.from(encoded).buffer;
    return { id: job.id, warnings, ok: true, bytes };
  } catch (error) {
    const sent: SentError = isImgfsError(error)
      ? { imgfs: true, code: error.code, reason: error.reason, archive: error.archive, member: error.member, layer: error.layer, offset: error.offset }
      : { imgfs: false, reason: (error as Error).message };
    return { id: job.id, warnings, ok: false, error: sent };
  }
}

const port = parentPort;
if (port !== null) {
  port.on('message', (job: TableJob) => {
    void build(job).then((reply) => port.postMessage(reply, reply.ok ? [reply.bytes] : []));
  });
  port.postMessage(WORKER_READY);
}
