import { tocError } from './toc-errors.js';
import type { TocRecord } from './toc-json.js';
import type { TocChunk, TocEntry, TocEntryType } from './toc-model.js';

/**
 * Turns the checked TOC records into members with their chunk lists, and checks that the chunks can
 * be trusted as checkpoints: every run of a file lies inside the blob's content (before the TOC), the
 * runs of a file tile it exactly, and no two runs claim the same decompressed bytes of one frame or
 * member. A run's frame (or member) ends where the next one starts: zstd:chunked's `endOffset`, else
 * the next run's offset, else the content's end.
 */
export function tocEntries(records: readonly TocRecord[], contentEnd: number): TocEntry[] {
  const starts = memberStarts(records, contentEnd);
  const entries: TocEntry[] = [];
  // eStargz states a uid's or gid's name once, on its first entry.
  const unames = new Map<number, string>();
  const gnames = new Map<number, string>();
  let index = 0;
  while (index < records.length) {
    const record = records[index] as TocRecord;
    if (record.type === 'chunk') throw tocError(`entry ${record.index}: a "chunk" that follows no regular file`);
    const runs: TocRecord[] = [record];
    index++;
    while (index < records.length && (records[index] as TocRecord).type === 'chunk') {
      const chunk = records[index] as TocRecord;
      if (record.type !== 'reg') throw tocError(`entry ${chunk.index}: a "chunk" that follows a ${record.type}`);
      if (chunk.name !== '' && chunk.name !== record.name) throw tocError(`entry ${chunk.index}: chunk of ${JSON.stringify(chunk.name)} follows ${JSON.stringify(record.name)}`);
      runs.push(chunk);
      index++;
    }
    const uname = nameFor(unames, record.uid, record.userName);
    const gname = nameFor(gnames, record.gid, record.groupName);
    entries.push({
      name: record.name,
      type: record.type as TocEntryType,
      mode: record.mode & 0o7777,
      uid: record.uid,
      gid: record.gid,
      uname,
      gname,
      size: record.type === 'reg' ? record.size : 0,
      mtimeMs: record.modtimeMs,
      linkname: record.linkName,
      devmajor: record.devMajor,
      devminor: record.devMinor,
      xattrs: record.xattrs,
      digest: record.digest,
      chunks: record.type === 'reg' && record.size > 0 ? chunksOf(record, runs, starts, contentEnd) : [],
    });
  }
  checkOverlaps(entries);
  return entries;
}

function nameFor(names: Map<number, string>, id: number, stated: string | undefined): string {
  if (stated !== undefined && stated !== '') {
    names.set(id, stated);
    return stated;
  }
  return names.get(id) ?? '';
}

/** Sorted distinct offsets at which some run's frame or member starts. */
function memberStarts(records: readonly TocRecord[], contentEnd: number): number[] {
  const set = new Set<number>();
  for (const record of records) if ((record.type === 'reg' && record.size > 0) || record.type === 'chunk') set.add(record.offset);
  set.add(contentEnd);
  return [...set].sort((a, b) => a - b);
}

function chunksOf(file: TocRecord, runs: readonly TocRecord[], starts: readonly number[], contentEnd: number): TocChunk[] {
  const what = (run: TocRecord): string => `entry ${run.index} (${JSON.stringify(file.name)})`;
  const chunks: TocChunk[] = [];
  let expected = 0;
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i] as TocRecord;
    const next = runs[i + 1];
    // A chunkSize of 0 means "to the end of the file" (eStargz), or the whole file when there is one run.
    const end = run.chunkSize > 0 ? run.chunkOffset + run.chunkSize : next !== undefined ? next.chunkOffset : file.size;
    if (run.chunkOffset !== expected || end <= run.chunkOffset || end > file.size) {
      throw tocError(`${what(run)}: chunk [${run.chunkOffset}, ${end}) does not continue the file at ${expected} within its ${file.size} bytes`);
    }
    // Offset 0 is the blob's first member, which starts with a tar header: data there needs an innerOffset
    // (and a run without an offset has none: 0 is what a missing `offset` reads as).
    if (run.offset >= contentEnd || (run.offset === 0 && run.innerOffset === 0)) {
      throw tocError(`${what(run)}: data offset ${run.offset} lies outside the layer's content [0, ${contentEnd})`, run.offset);
    }
    const following = starts[upperBound(starts, run.offset)] as number;
    // zstd:chunked states where the last frame of a file ends; it must not run into the next one.
    const stated = i === runs.length - 1 && file.endOffset > 0 ? file.endOffset : undefined;
    if (stated !== undefined && (stated <= run.offset || stated > following)) {
      throw tocError(`${what(run)}: endOffset ${stated} is not within (${run.offset}, ${following}]`, run.offset);
    }
    const single = runs.length === 1;
    chunks.push({
      fileOffset: run.chunkOffset,
      size: end - run.chunkOffset,
      compressedOffset: run.offset,
      compressedEnd: stated ?? following,
      innerOffset: run.innerOffset,
      digest: run.chunkDigest ?? (single ? file.digest : undefined),
    });
    expected = end;
  }
  if (expected !== file.size) throw tocError(`entry ${file.index} (${JSON.stringify(file.name)}): chunks cover ${expected} of ${file.size} bytes`);
  return chunks;
}

/** Runs sharing a frame or member must claim disjoint decompressed ranges of it. */
function checkOverlaps(entries: readonly TocEntry[]): void {
  const byMember = new Map<number, Array<{ from: number; to: number; name: string }>>();
  for (const entry of entries) {
    for (const chunk of entry.chunks) {
      const list = byMember.get(chunk.compressedOffset) ?? [];
      list.push({ from: chunk.innerOffset, to: chunk.innerOffset + chunk.size, name: entry.name });
      byMember.set(chunk.compressedOffset, list);
    }
  }
  for (const [offset, list] of byMember) {
    if (list.length < 2) continue;
    list.sort((a, b) => a.from - b.from);
    for (let i = 1; i < list.length; i++) {
      const previous = list[i - 1] as { to: number; name: string };
      const current = list[i] as { from: number; name: string };
      if (current.from < previous.to) {
        throw tocError(`${JSON.stringify(previous.name)} and ${JSON.stringify(current.name)} claim the same bytes of the frame at ${offset}`, offset);
      }
    }
  }
}

/** Index of the first element greater than `value`. */
function upperBound(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((sorted[mid] as number) <= value) low = mid + 1;
    else high = mid;
  }
  return low;
}
