import { createHash } from '../lazy-crypto.js';
import type { LayerSidecar } from '../layer/layer-reader.js';
import { TOC_DIGEST_ANNOTATION } from './estargz-footer.js';
import type { TocLayer } from './toc-layer.js';
import type { PlacedRun, TocLayout } from './toc-layout.js';
import type { TocChunk, TocFormat } from './toc-model.js';
import { CHECKSUM_KEYS, firstOf } from './zstd-chunked-footer.js';

/** Sidecar suffix of a TOC layer's summary, beside its cached table. */
const SIDECAR = 'toc';
const VERSION = 1;
const RUN_FIELDS = 6;
const SHA256 = /^sha256:([0-9a-f]{64})$/;

/**
 * What reading a TOC layer's files needs once its table is cached: where its TOC lies and which digest
 * it matched, what kind of table it gives, and every run of every file (where it lies in the data
 * space and in the blob, and its digest). Kept in the index cache beside the table, so that a warm
 * open neither fetches nor parses the TOC again (parsing a large TOC costs 25–130 ms; over HTTP the
 * footer and the TOC are two requests). The members are not kept: the table has them, and a caller
 * that needs them (building the table, `verify`) reads the TOC.
 */
export interface TocSummary {
  readonly format: TocFormat;
  readonly tocOffset: number;
  readonly tocLength: number;
  /** The digest the descriptor named and the TOC matched, when it named one. */
  readonly checkedDigest: string | undefined;
  /** zstd:chunked with a tar-split: offsets are the tar's own. */
  readonly tarSplit: boolean;
  readonly tarSize: number | undefined;
  /** The TOC matched a stated digest and every run has one. */
  readonly checksItself: boolean;
  /** Runs (and the data space's size); a summary from the cache has no members and no tar-split bytes. */
  readonly layout: TocLayout;
}

export function summarize(toc: TocLayer): TocSummary {
  const checkedDigest = toc.toc.checkedDigest;
  return {
    format: toc.format,
    tocOffset: toc.toc.location.tocOffset,
    tocLength: toc.toc.location.tocLength,
    checkedDigest,
    tarSplit: toc.tarSize !== undefined,
    tarSize: toc.tarSize,
    checksItself: checkedDigest !== undefined && toc.toc.entries.every((entry) => entry.chunks.every((chunk) => chunk.digest !== undefined)),
    layout: toc.layout,
  };
}

/** The digest of the TOC that a layer's descriptor states (the one readToc checks first), if any. */
export function annotatedTocDigest(annotations: Readonly<Record<string, string>>): string | undefined {
  return firstOf(annotations, CHECKSUM_KEYS) ?? annotations[TOC_DIGEST_ANNOTATION];
}

/**
 * The summary kept for this layer, when there is one and it is for the TOC the layer has now: the one
 * whose digest the descriptor states, or (no digest stated) the one at the place the footer says. A
 * file that does not decode is dropped with a warning.
 */
export async function loadSummary(
  sidecar: LayerSidecar | undefined,
  expected: { digest: string } | { format: TocFormat; tocOffset: number; tocLength: number },
): Promise<TocSummary | undefined> {
  const bytes = await sidecar?.load(SIDECAR);
  if (sidecar === undefined || bytes === undefined) return undefined;
  let summary: TocSummary;
  try {
    summary = decodeSummary(bytes);
  } catch (error) {
    await sidecar.drop(SIDECAR, (error as Error).message);
    return undefined;
  }
  if ('digest' in expected) return summary.checkedDigest === expected.digest ? summary : undefined;
  const same = summary.checkedDigest === undefined && summary.format === expected.format && summary.tocOffset === expected.tocOffset && summary.tocLength === expected.tocLength;
  return same ? summary : undefined;
}

/** Keeps the summary beside the table (a layer whose runs state digests other than sha256 is not kept). */
export async function storeSummary(sidecar: LayerSidecar | undefined, summary: TocSummary): Promise<void> {
  const bytes = sidecar === undefined ? undefined : encodeSummary(summary);
  if (bytes !== undefined) await sidecar?.store(SIDECAR, bytes);
}

/**
 * Layout: a 4-byte header length, the JSON header (facts and the runs' distinct paths), then per run
 * six float64s (start, fileOffset, size, compressedOffset, compressedEnd, innerOffset), a byte saying whether it
 * has a digest, 32 digest bytes and a uint32 path index; last, the sha256 of all that.
 */
export function encodeSummary(summary: TocSummary): Buffer | undefined {
  const runs = summary.layout.runs;
  const paths: string[] = [];
  const pathIndex = new Map<string, number>();
  for (const run of runs) {
    if (run.chunk.digest !== undefined && !SHA256.test(run.chunk.digest)) return undefined;
    if (!pathIndex.has(run.path)) {
      pathIndex.set(run.path, paths.length);
      paths.push(run.path);
    }
  }
  // Undefined facts (no checked digest, no tar-split size) are left out of the JSON, and so read back.
  const { layout, ...facts } = summary;
  const header = Buffer.from(JSON.stringify({ version: VERSION, ...facts, size: layout.size, count: runs.length, paths }));
  const perRun = RUN_FIELDS * 8 + 1 + 32 + 4;
  const body = Buffer.alloc(4 + header.length + runs.length * perRun);
  body.writeUInt32LE(header.length, 0);
  header.copy(body, 4);
  let at = 4 + header.length;
  for (const run of runs) {
    const { chunk } = run;
    for (const value of [run.start, chunk.fileOffset, chunk.size, chunk.compressedOffset, chunk.compressedEnd, chunk.innerOffset]) at = body.writeDoubleLE(value, at);
    const digest = chunk.digest === undefined ? undefined : (SHA256.exec(chunk.digest) as RegExpExecArray)[1];
    at = body.writeUInt8(digest === undefined ? 0 : 1, at);
    if (digest !== undefined) body.write(digest, at, 'hex');
    at += 32;
    at = body.writeUInt32LE(pathIndex.get(run.path) as number, at);
  }
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

type SummaryHeader = Omit<TocSummary, 'layout'> & { version: number; size: number; count: number; paths: string[] };

/** Throws (a plain Error saying why) when the bytes are not a whole summary of this version. */
export function decodeSummary(bytes: Buffer): TocSummary {
  if (bytes.length < 4 + 32) throw new Error('too short');
  const body = bytes.subarray(0, bytes.length - 32);
  if (!createHash('sha256').update(body).digest().equals(bytes.subarray(bytes.length - 32))) throw new Error('checksum mismatch');
  const headerLength = body.readUInt32LE(0);
  const header = JSON.parse(body.subarray(4, 4 + headerLength).toString('utf8')) as SummaryHeader;
  if (header.version !== VERSION) throw new Error(`version ${header.version}, not ${VERSION}`);
  const perRun = RUN_FIELDS * 8 + 1 + 32 + 4;
  if (body.length !== 4 + headerLength + header.count * perRun) throw new Error('length does not match the run count');
  const runs: PlacedRun[] = [];
  let at = 4 + headerLength;
  for (let i = 0; i < header.count; i++) {
    const [start, fileOffset, size, compressedOffset, compressedEnd, innerOffset] = Array.from({ length: RUN_FIELDS }, (_, field) => body.readDoubleLE(at + field * 8)) as [number, number, number, number, number, number];
    at += RUN_FIELDS * 8;
    const hasDigest = body.readUInt8(at) === 1;
    const digest = hasDigest ? `sha256:${body.toString('hex', at + 1, at + 33)}` : undefined;
    at += 33;
    const path = header.paths[body.readUInt32LE(at)];
    at += 4;
    if (path === undefined) throw new Error('run names no path');
    const chunk: TocChunk = { fileOffset, size, compressedOffset, compressedEnd, innerOffset, digest };
    runs.push({ start, chunk, path });
  }
  const { version: _version, size: spaceSize, count: _count, paths: _paths, ...facts } = header;
  return { ...facts, checkedDigest: facts.checkedDigest, tarSize: facts.tarSize, layout: { members: [], runs, size: spaceSize } };
}
