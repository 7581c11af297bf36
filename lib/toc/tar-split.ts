import type { Readable } from 'node:stream';
import type { ByteSource } from '../source/byte-source.js';
import { clampRead, clampStream } from '../source/range.js';
import { createRangeStream } from '../source/range-stream.js';
import { tocError } from './toc-errors.js';

/**
 * The tar-split stream of a zstd:chunked layer (vbatts/tar-split `storage` JSON packer, one JSON object
 * a line): `{"type":2,"payload":"<base64>"}` segments hold the tar's own bytes (headers, padding, end
 * blocks) verbatim; `{"type":1,"name":…,"size":N}` entries stand for a file's data, which is not
 * stored. Laid end to end they give the exact tar stream, so its headers tell everything the TOC
 * leaves out (user and group names, PAX records) and where every file's data lies.
 */
export interface TarSplit {
  /** The tar's own bytes at their offsets in the uncompressed tar stream. */
  readonly segments: ReadonlyArray<{ offset: number; bytes: Buffer }>;
  /** Length of the tar stream. */
  readonly size: number;
}

const SEGMENT = 2;
const FILE = 1;

export function parseTarSplit(ndjson: Buffer): TarSplit {
  const segments: Array<{ offset: number; bytes: Buffer }> = [];
  let offset = 0;
  let start = 0;
  let line = 0;
  while (start < ndjson.length) {
    let end = ndjson.indexOf(0x0a, start);
    if (end < 0) end = ndjson.length;
    const text = ndjson.subarray(start, end).toString('utf8').trim();
    start = end + 1;
    line++;
    if (text === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      throw tocError(`tar-split line ${line} is not JSON`);
    }
    const { type, size, payload } = (typeof record === 'object' && record !== null ? record : {}) as Record<string, unknown>;
    if (type === SEGMENT) {
      if (typeof payload !== 'string') throw tocError(`tar-split line ${line}: a segment without a payload`);
      const bytes = Buffer.from(payload, 'base64');
      if (bytes.length > 0) segments.push({ offset, bytes });
      offset += bytes.length;
    } else if (type === FILE) {
      const length = size ?? 0;
      if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) throw tocError(`tar-split line ${line}: file size ${JSON.stringify(size)}`);
      offset += length;
    } else {
      throw tocError(`tar-split line ${line}: unknown entry type ${JSON.stringify(type)}`);
    }
    if (!Number.isSafeInteger(offset)) throw tocError(`tar-split line ${line}: the tar stream grows past 2^53 bytes`);
  }
  return { segments, size: offset };
}

/**
 * The tar stream as the tar-split knows it: its own bytes where it has them, zeros where file data
 * lies. The tar walker reads headers out of it exactly as out of the real stream (and skips the data).
 */
export class TarSplitSource implements ByteSource {
  readonly seekable = true;
  readonly size: number;

  constructor(
    private readonly split: TarSplit,
    readonly name: string,
  ) {
    this.size = split.size;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const { start, end } = clampRead(offset, length, this.size);
    const out = Buffer.alloc(end - start);
    const segments = this.split.segments;
    let low = 0;
    let high = segments.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const segment = segments[mid] as { offset: number; bytes: Buffer };
      if (segment.offset + segment.bytes.length <= start) low = mid + 1;
      else high = mid;
    }
    for (let i = low; i < segments.length; i++) {
      const segment = segments[i] as { offset: number; bytes: Buffer };
      if (segment.offset >= end) break;
      const from = Math.max(start, segment.offset);
      const to = Math.min(end, segment.offset + segment.bytes.length);
      segment.bytes.copy(out, from - start, from - segment.offset, to - segment.offset);
    }
    return out;
  }

  createReadStream(start?: number, end?: number): Readable {
    const range = clampStream(start, end, this.size);
    return createRangeStream((o, l) => this.read(o, l), range.start, range.end);
  }

  async close(): Promise<void> {}
}
