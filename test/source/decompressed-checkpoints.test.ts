import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { constants, crc32, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { isImgfsError, type ImgfsError } from '../../lib/errors.js';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { CheckpointIndex, type StoredFile } from '../../lib/source/checkpoint-index.js';
import { DecompressedSource, SPAN_SIZE, type DecompressOptions } from '../../lib/source/decompressed-source.js';
import { gzipInflater } from '../../lib/source/gzip-inflater.js';
import type { Inflater } from '../../lib/source/inflater.js';
import { zstdInflater } from '../../lib/source/zstd-inflater.js';
import { compressibleBytes, mixed, prng, randomBytes, scaled, zstdCompress } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Most a decoder produces beyond what the cursor asked for: one output chunk (1 MiB). */
const CHUNK = 1024 * KiB;

function open(compressed: Buffer, inflater: Inflater, options?: DecompressOptions): DecompressedSource {
  return new DecompressedSource(new BufferSource(compressed, 'layer.blob'), inflater, options);
}

async function rejection(promise: Promise<unknown> | (() => unknown)): Promise<ImgfsError> {
  const error: unknown = await (typeof promise === 'function' ? Promise.resolve().then(promise) : promise).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isImgfsError(error)) throw new Error(`expected an ImgfsError, got ${String(error)}`);
  return error;
}

/** The tar walker's way through a layer: small reads at increasing offsets to the end. */
async function firstPass(source: DecompressedSource, step = 256 * KiB): Promise<void> {
  for (let offset = 0; ; offset += step) {
    if ((await source.read(offset, 512)).length < 512) return;
  }
}

/** Reads `count` random ranges, each checked against `data`; returns the most any one inflated. */
async function randomReads(source: DecompressedSource, data: Buffer, count: number, seed: number): Promise<number> {
  const random = prng(seed);
  let most = 0;
  for (let i = 0; i < count; i += 1) {
    const offset = Math.floor(random() * data.length);
    const length = random() < 0.9 ? Math.floor(random() * 8 * KiB) : Math.floor(random() * 3 * MiB);
    const before = source.stats.inflatedBytes;
    const got = await source.read(offset, length);
    most = Math.max(most, source.stats.inflatedBytes - before);
    expect(got.equals(data.subarray(offset, offset + length)), `read(${offset}, ${length})`).toBe(true);
  }
  return most;
}


/** Where a v3 export's table ends (its CRC-32 is the last 4 bytes of it). */
function tableEnd(exported: Buffer): number {
  return 32 + exported.readUInt32LE(28) * 27 + 4;
}

/** A serialised checkpoint index (v3) with its table changed by `edit` and the table's CRC-32 made right again. */
function tampered(exported: Buffer, edit: (table: Buffer) => Buffer): Buffer {
  const end = tableEnd(exported);
  const table = edit(Buffer.from(exported.subarray(0, end - 4)));
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(table), 0);
  return Buffer.concat([table, crc, exported.subarray(end)]);
}

/** The same index in format v2 (each entry followed by its window, a CRC-32 trailer), as caches written before v3 hold it. */
function asVersion2(exported: Buffer): Buffer {
  const count = exported.readUInt32LE(28);
  const parts: Buffer[] = [Buffer.from(exported.subarray(0, 32))];
  parts[0]?.writeUInt16LE(2, 8);
  let window = tableEnd(exported);
  for (let i = 0; i < count; i += 1) {
    const entry = exported.subarray(32 + i * 27, 32 + i * 27 + 23);
    const length = entry.readUInt32LE(19);
    parts.push(entry, exported.subarray(window, window + length));
    window += length;
  }
  const body = Buffer.concat(parts);
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(crc32(body), 0);
  return Buffer.concat([body, trailer]);
}

/** The same index in format v1 (sha256 trailer), as caches written before v2 hold it. */
function asVersion1(exported: Buffer): Buffer {
  const v2 = asVersion2(exported);
  const body = Buffer.from(v2.subarray(0, v2.length - 4));
  body.writeUInt16LE(1, 8);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

/** `bytes` as a checkpoint file read where it lies, counting what is read. */
function storedFile(bytes: Buffer): StoredFile & { bytesRead: number; reads: number } {
  return {
    size: bytes.length,
    bytesRead: 0,
    reads: 0,
    read(offset, length) {
      this.reads += 1;
      this.bytesRead += length;
      return Buffer.from(bytes.subarray(offset, offset + length));
    },
  };
}

/** Random reads per stream: enough to start from many different checkpoints. */
const READS = scaled(60, 300);
const gzipStreams: Array<{ label: string; data: Buffer; compressed: Buffer }> = [];
{
  const text = mixed(scaled(3, 10) * MiB, 1);
  gzipStreams.push({ label: 'mixed dynamic and stored blocks', data: text, compressed: gzipSync(text) });
  const noise = randomBytes(scaled(3, 4) * MiB, 2);
  gzipStreams.push({ label: 'gzip -1 of random data (stored blocks)', data: noise, compressed: execFileSync('gzip', ['-1', '-c', '-n'], { input: noise, maxBuffer: 1 << 28 }) });
  const plain = compressibleBytes(scaled(3, 4) * MiB, 3);
  gzipStreams.push({ label: 'zlib level 0 (stored blocks)', data: plain, compressed: gzipSync(plain, { level: 0 }) });
  gzipStreams.push({ label: 'fixed Huffman', data: plain, compressed: gzipSync(plain, { strategy: constants.Z_FIXED }) });
  const cuts = [0, 700_000, 700_001, text.length * 0.3, text.length * 0.3, text.length * 0.7 + 5, text.length].map(Math.floor);
  const members = cuts.slice(1).map((end, i) => gzipSync(text.subarray(cuts[i] ?? 0, end), { level: 1 + i }));
  gzipStreams.push({ label: 'multi-member, zero padding', data: text, compressed: Buffer.concat([...members, Buffer.alloc(1000)]) });
}

describe('small reads out of stream order, with close checkpoints', () => {
  const data = mixed(8 * MiB, 11);
  const compressed = gzipSync(data);

  it('are decoded between the checkpoints around them: less than a span each, no cursor restarted', async () => {
    const source = open(compressed, gzipInflater, { checkpoints: 'eager', checkpointSpacing: 256 * KiB, cacheBytes: 0 });
    await firstPass(source);
    const random = prng(7);
    // From the end backwards, a span or more apart: never in stream order.
    for (let offset = data.length - 200 * KiB; offset > 0; offset -= SPAN_SIZE + Math.floor(random() * 400 * KiB)) {
      const length = 1 + Math.floor(random() * 128 * KiB);
      const before = source.stats.inflatedBytes;
      expect((await source.read(offset, length)).equals(data.subarray(offset, offset + length)), `read(${offset}, ${length})`).toBe(true);
      expect(source.stats.inflatedBytes - before).toBeLessThan(SPAN_SIZE);
    }
    expect(source.stats.restarts).toBe(0);
    // Reads in stream order after them get a cursor again, which reads ahead.
    for (let offset = 0; offset < 2 * SPAN_SIZE; offset += 100 * KiB) {
      expect((await source.read(offset, 100 * KiB)).equals(data.subarray(offset, offset + 100 * KiB))).toBe(true);
    }
    expect(source.stats.restarts).toBe(1);
    await source.close();
  });

  it('re-reads going forward a few spans apart (a later pass meeting dropped pages) restart no cursor and read nothing ahead', async () => {
    // A cache of three spans, so that a cursor reads ahead; the first pass leaves the last three in it.
    const source = open(compressed, gzipInflater, { checkpoints: 'eager', checkpointSpacing: 256 * KiB, cacheBytes: 3 * SPAN_SIZE });
    await firstPass(source);
    const readAheads = source.stats.readAheads;
    const random = prng(8);
    // Forward, each within a span or two of the one before (in stream order by span), never where it ended.
    for (let offset = 300 * KiB; offset < data.length - 3 * SPAN_SIZE - 200 * KiB; offset += 200 * KiB + Math.floor(random() * SPAN_SIZE)) {
      const length = 1 + Math.floor(random() * 128 * KiB);
      const before = source.stats.inflatedBytes;
      expect((await source.read(offset, length)).equals(data.subarray(offset, offset + length)), `read(${offset}, ${length})`).toBe(true);
      expect(source.stats.inflatedBytes - before).toBeLessThan(SPAN_SIZE);
    }
    expect(source.stats.restarts).toBe(0);
    expect(source.stats.readAheads).toBe(readAheads);
    // Two back to back are not streaming yet; a reader that keeps going on where it stopped is: it
    // gets a cursor, which reads ahead.
    for (const offset of [2 * SPAN_SIZE, 2 * SPAN_SIZE + 100 * KiB]) {
      expect((await source.read(offset, 100 * KiB)).equals(data.subarray(offset, offset + 100 * KiB))).toBe(true);
    }
    expect(source.stats.restarts).toBe(0);
    for (let offset = 0; offset < 2 * SPAN_SIZE; offset += 100 * KiB) {
      expect((await source.read(offset, 100 * KiB)).equals(data.subarray(offset, offset + 100 * KiB))).toBe(true);
    }
    expect(source.stats.restarts).toBe(1);
    expect(source.stats.readAheads).toBeGreaterThan(readAheads);
    await source.close();
  });
});

describe.each(gzipStreams)('checkpoint reads over gzip: $label', ({ data, compressed }) => {
  const spacing = 256 * KiB;

  it('answers hundreds of random reads byte for byte after the first pass, each from a nearby checkpoint', async () => {
    const source = open(compressed, gzipInflater, { checkpoints: 'eager', checkpointSpacing: spacing, cacheBytes: 0 });
    await firstPass(source);
    expect(source.stats.restarts).toBe(0);
    expect(source.stats.inflatedBytes).toBe(data.length);
    expect(source.stats.checkpoints).toBeGreaterThan(data.length / spacing / 2);
    const most = await randomReads(source, data, READS, data.length);
    // From the checkpoint before a span to the end of the span after it (a read may cross a boundary).
    expect(most).toBeLessThanOrEqual(spacing + 128 * KiB + 4 * SPAN_SIZE + CHUNK);
    // Small reads are decoded between the checkpoints around them, larger ones by a new cursor.
    expect(source.stats.restarts).toBeGreaterThan(0);
    await source.close();
  });

  it('a fresh source that imports the checkpoints reads the same bytes, and exports them unchanged', async () => {
    const first = open(compressed, gzipInflater, { checkpoints: 'eager', checkpointSpacing: spacing });
    await firstPass(first);
    await first.read(data.length, 1); // to the end: the index is complete and knows the size
    const exported = first.exportCheckpoints();
    const fresh = open(compressed, gzipInflater, { cacheBytes: 0 });
    fresh.importCheckpoints(exported);
    expect(fresh.size).toBe(data.length);
    expect(fresh.stats.checkpoints).toBe(first.stats.checkpoints);
    expect(fresh.exportCheckpoints().equals(exported)).toBe(true);
    await randomReads(fresh, data, READS / 3, 7);
    expect(fresh.stats.checkpoints).toBe(first.stats.checkpoints); // complete: nothing more to record
  });
});

describe('checkpoint policies', () => {
  const data = mixed(12 * MiB, 4);
  const gz = gzipSync(data);

  it('lazy (the default): the first pass and the first read behind it record nothing; the second starts', async () => {
    const source = open(gz, gzipInflater, { cacheBytes: 0, checkpointSpacing: MiB });
    await firstPass(source);
    expect(source.stats.checkpoints).toBe(1);
    expect((await source.read(10 * MiB, 100)).equals(data.subarray(10 * MiB, 10 * MiB + 100))).toBe(true);
    expect(source.stats.restarts).toBe(1);
    expect(source.stats.checkpoints).toBe(1);
    expect((await source.read(9 * MiB, 100)).equals(data.subarray(9 * MiB, 9 * MiB + 100))).toBe(true);
    expect(source.stats.restarts).toBe(2);
    expect(source.stats.checkpoints).toBeGreaterThan(5);
    const before = source.stats.inflatedBytes;
    expect((await source.read(MiB + 5, 100)).equals(data.subarray(MiB + 5, MiB + 105))).toBe(true);
    expect(source.stats.inflatedBytes - before).toBeLessThanOrEqual(3 * MiB + CHUNK);
  });

  it('off: never records, every read behind the cursor decodes from the start', async () => {
    const source = open(gz, gzipInflater, { cacheBytes: 0, checkpoints: 'off' });
    await firstPass(source);
    await source.read(10 * MiB, 100);
    await source.read(9 * MiB, 100);
    expect(source.stats.checkpoints).toBe(1);
    expect(source.stats.inflatedBytes).toBeGreaterThanOrEqual(data.length + 10 * MiB + 9 * MiB);
  });

  it('a recording pass interrupted early is taken up again from its last checkpoint, inside a member', async () => {
    const source = open(gz, gzipInflater, { cacheBytes: 0, checkpoints: 'eager', checkpointSpacing: MiB });
    await source.read(4 * MiB, 10); // records up to about 4 MiB
    const early = source.stats.checkpoints;
    await source.read(MiB, 10); // a cursor from an early checkpoint: does not record
    await source.read(11 * MiB, 10); // far ahead of that cursor: starts again from the last checkpoint, recording
    expect(source.stats.checkpoints).toBeGreaterThan(early + 4);
    const index = CheckpointIndex.parse(source.exportCheckpoints(), 'gzip', gz.length).list();
    expect(index.filter((c) => c.windowLength > 0).length).toBe(index.length - 1); // inside the one member
    await randomReads(source, data, READS / 3, 3);
  });

  it('moves ahead to a checkpoint far beyond the cursor instead of decoding up to it', async () => {
    const first = open(gz, gzipInflater, { checkpoints: 'eager', checkpointSpacing: MiB });
    await firstPass(first);
    const fresh = open(gz, gzipInflater, { cacheBytes: 0 });
    fresh.importCheckpoints(first.exportCheckpoints());
    await fresh.read(0, 10);
    const before = fresh.stats.inflatedBytes;
    expect((await fresh.read(11 * MiB, 10)).equals(data.subarray(11 * MiB, 11 * MiB + 10))).toBe(true);
    expect(fresh.stats.inflatedBytes - before).toBeLessThanOrEqual(3 * MiB + CHUNK);
  });

  it('rejects a policy that is not one', () => {
    const source = open(gz, gzipInflater);
    expect(() => (source.checkpointPolicy = 'sometimes' as 'eager')).toThrow(RangeError);
    expect(() => open(gz, gzipInflater, { checkpointSpacing: 0 })).toThrow(RangeError);
  });
});

describe('a large gzip layer (200 MB under npm run fuzz)', () => {
  let data: Buffer;
  let gz: Buffer;
  beforeAll(() => {
    data = compressibleBytes(scaled(24, 200) * 1_000_000, 9);
    gz = gzipSync(data, { level: 1 });
  });

  it('after the first pass, a read at its end inflates at most about two spans', { timeout: 180_000 }, async () => {
    const source = open(gz, gzipInflater, { checkpoints: 'eager', checkpointSpacing: SPAN_SIZE, cacheBytes: 0 });
    await firstPass(source, MiB);
    expect(source.stats.inflatedBytes).toBe(data.length);
    await source.read(0, 10); // the last span is no longer in memory
    const end = data.length - 4096;
    let before = source.stats.inflatedBytes;
    expect((await source.read(end, 4096)).equals(data.subarray(end))).toBe(true);
    expect(source.stats.inflatedBytes - before).toBeLessThanOrEqual(2 * SPAN_SIZE + CHUNK);

    // The same in another process: a fresh source with the checkpoints from the cache.
    const fresh = open(gz, gzipInflater, { cacheBytes: 0 });
    fresh.importCheckpoints(source.exportCheckpoints());
    before = fresh.stats.inflatedBytes;
    expect((await fresh.read(end, 4096)).equals(data.subarray(end))).toBe(true);
    expect(fresh.stats.inflatedBytes - before).toBeLessThanOrEqual(2 * SPAN_SIZE + CHUNK);
    // Windows are kept deflated: well under the 32 KiB each would take.
    expect(source.stats.checkpointBytes).toBeLessThan(source.stats.checkpoints * 16 * KiB);
  });
});

describe('exported checkpoints', () => {
  const data = mixed(6 * MiB, 5);
  const gz = gzipSync(data);
  let exported: Buffer;

  beforeAll(async () => {
    const source = open(gz, gzipInflater, { checkpoints: 'eager', checkpointSpacing: 512 * KiB });
    await firstPass(source);
    exported = source.exportCheckpoints();
  });

  it('reject any damage, changing nothing', async () => {
    const random = prng(42);
    const positions = [0, 5, 8, 10, 11, 12, 20, 28, 36, 40, 45, 60, exported.length - 1, exported.length - 40];
    for (let i = 0; i < 40; i += 1) positions.push(Math.floor(random() * exported.length));
    for (const at of positions) {
      const damaged = Buffer.from(exported);
      damaged[at] = (damaged[at] ?? 0) ^ 0x10;
      const source = open(gz, gzipInflater);
      const error = await rejection(() => source.importCheckpoints(damaged));
      expect(error.code, `byte ${at}`).toBe('ECACHE');
      expect(error.message).toContain('layer.blob');
      expect(source.stats.checkpoints).toBe(1);
    }
    for (const bytes of [Buffer.alloc(0), exported.subarray(0, 50), exported.subarray(0, exported.length - 1), Buffer.concat([exported, Buffer.alloc(1)])]) {
      expect((await rejection(() => open(gz, gzipInflater).importCheckpoints(bytes))).code).toBe('ECACHE');
    }
  });

  it('are written as format 3 (a table with its CRC-32, then the windows); formats 1 and 2 from an older cache are still read', async () => {
    expect(exported.readUInt16LE(8)).toBe(3);
    const end = tableEnd(exported);
    expect(crc32(exported.subarray(0, end - 4))).toBe(exported.readUInt32LE(end - 4));
    const expected = CheckpointIndex.parse(exported, 'gzip', gz.length).list();
    for (const old of [asVersion2(exported), asVersion1(exported)]) {
      expect(CheckpointIndex.parse(old, 'gzip', gz.length).list()).toEqual(expected);
      expect(CheckpointIndex.open(storedFile(old), 'gzip', gz.length).list()).toEqual(expected);
      const source = open(gz, gzipInflater, { cacheBytes: 0 });
      source.importCheckpoints(old);
      const at = 4 * MiB + 123;
      expect((await source.read(at, 4000)).equals(data.subarray(at, at + 4000))).toBe(true);
      const damaged = Buffer.from(old);
      damaged[40] = (damaged[40] ?? 0) ^ 1;
      expect((await rejection(() => open(gz, gzipInflater).importCheckpoints(damaged))).reason).toContain('checksum mismatch');
    }
  });

  it('opened where they lie, only the table and the window a read starts from are read', async () => {
    const file = storedFile(exported);
    const source = open(gz, gzipInflater, { cacheBytes: 0 });
    source.importCheckpoints(file);
    const points = CheckpointIndex.parse(exported, 'gzip', gz.length).list();
    expect(points.length).toBeGreaterThan(8);
    // The header and table (in one read of at most 8 KiB here).
    expect(file.reads).toBe(1);
    expect(file.bytesRead).toBeLessThanOrEqual(Math.max(tableEnd(exported), 8 * KiB));
    const before = file.bytesRead;
    const at = 4 * MiB + 300 * KiB + 17;
    expect((await source.read(at, 3000)).equals(data.subarray(at, at + 3000))).toBe(true);
    // Then one window: ~16 KiB of the ~100 KiB of windows.
    expect(file.reads).toBe(2);
    expect(file.bytesRead - before).toBeLessThan(24 * KiB);
    expect(exported.length - tableEnd(exported)).toBeGreaterThan(64 * KiB);
    // Exported again, the windows are fetched: the same file.
    expect(source.exportCheckpoints().equals(exported)).toBe(true);
  });

  it('opened where they lie, a damaged window is dropped when a read needs it; reads stay right', async () => {
    const points = CheckpointIndex.parse(exported, 'gzip', gz.length).list();
    const at = 3 * MiB + 1000;
    const used = points.findLastIndex((c) => c.outOffset <= at);
    expect(used).toBeGreaterThan(0);
    let window = tableEnd(exported);
    for (let i = 0; i < used; i += 1) window += exported.readUInt32LE(32 + i * 27 + 19);
    const damaged = Buffer.from(exported);
    damaged[window + 5] = (damaged[window + 5] ?? 0) ^ 0x40;
    // Read whole, the damage is found at once; read where it lies, when the window is fetched.
    expect((await rejection(() => open(gz, gzipInflater).importCheckpoints(damaged))).reason).toContain('checksum mismatch');
    const source = open(gz, gzipInflater, { cacheBytes: 0 });
    source.importCheckpoints(storedFile(damaged));
    expect((await source.read(at, 5000)).equals(data.subarray(at, at + 5000))).toBe(true);
    expect(source.stats.checkpoints).toBe(points.length - 1);
    // A file cut short is refused when opened.
    expect((await rejection(() => open(gz, gzipInflater).importCheckpoints(storedFile(exported.subarray(0, exported.length - 1))))).code).toBe('ECACHE');
  });

  it('a small first read decodes from the checkpoint before it to its end only: no span, no read-ahead', async () => {
    const checkpoints = CheckpointIndex.parse(exported, 'gzip', gz.length).list();
    const at = 4 * MiB + 300 * KiB + 17;
    const before = checkpoints.findLast((c) => c.outOffset <= at);
    expect(before?.outOffset).toBeGreaterThan(0);
    const source = open(gz, gzipInflater);
    source.importCheckpoints(exported);
    expect((await source.read(at, 3000)).equals(data.subarray(at, at + 3000))).toBe(true);
    const { inflatedBytes, cachedBytes, readAheads } = source.stats;
    // At most up to the checkpoint after the read (one synchronous decode of the bytes between them).
    const after = checkpoints.find((c) => c.outOffset >= at + 3000);
    expect(inflatedBytes).toBeLessThanOrEqual((after?.outOffset ?? Infinity) - (before?.outOffset ?? 0) + 64 * KiB);
    expect(inflatedBytes).toBeLessThan(SPAN_SIZE);
    expect(cachedBytes).toBe(0);
    expect(readAheads).toBe(0);
    // Later reads stay right; a large one goes through spans as before.
    for (const offset of [at + 3000, 100, 5 * MiB]) expect((await source.read(offset, 70_000)).equals(data.subarray(offset, offset + 70_000))).toBe(true);
    expect((await source.read(MiB, 300_000)).equals(data.subarray(MiB, MiB + 300_000))).toBe(true);
    expect(source.stats.cachedBytes).toBeGreaterThan(0);
  });

  it('a small first read is right wherever it falls: near checkpoints, across one, in a stream of many members', async () => {
    const source = (): DecompressedSource => {
      const fresh = open(gz, gzipInflater);
      fresh.importCheckpoints(exported);
      return fresh;
    };
    const points = CheckpointIndex.parse(exported, 'gzip', gz.length).list();
    const offsets = points.slice(1).flatMap((c) => [c.outOffset, c.outOffset - 1, c.outOffset - 2000, c.outOffset + 1]);
    for (const at of [...offsets, data.length - 100]) {
      const length = Math.min(4000, data.length - at);
      expect((await source().read(at, length)).equals(data.subarray(at, at + length)), `at ${at}`).toBe(true);
    }
    // Members of 300 KiB: checkpoints at member starts, and members that end between two of them.
    const members = Buffer.concat(Array.from({ length: Math.ceil(data.length / (300 * KiB)) }, (_, i) => gzipSync(data.subarray(i * 300 * KiB, (i + 1) * 300 * KiB))));
    const first = open(members, gzipInflater, { checkpoints: 'eager', checkpointSpacing: 512 * KiB });
    await firstPass(first);
    const saved = first.exportCheckpoints();
    for (const at of [700 * KiB, 2 * MiB + 5, 4 * MiB - 10]) {
      const fresh = open(members, gzipInflater);
      fresh.importCheckpoints(saved);
      expect((await fresh.read(at, 5000)).equals(data.subarray(at, at + 5000)), `member stream at ${at}`).toBe(true);
    }
  });

  it('a first read with no checkpoint before it but the start goes through the spans (a first pass records from there)', async () => {
    const source = open(gz, gzipInflater);
    expect((await source.read(1000, 3000)).equals(data.subarray(1000, 4000))).toBe(true);
    expect(source.stats.cachedBytes).toBeGreaterThan(0);
  });

  it('reject an export for another stream: other size, other codec', async () => {
    const other = gzipSync(data.subarray(1));
    expect((await rejection(() => open(other, gzipInflater).importCheckpoints(exported))).reason).toMatch(/for a stream of \d+ bytes/);
    const zst = zstdCompress(data);
    const padded = Buffer.concat([zst, Buffer.alloc(Math.max(0, gz.length - zst.length))]).subarray(0, gz.length);
    expect((await rejection(() => open(padded, zstdInflater).importCheckpoints(exported))).reason).toContain('not for zstd');
  });

  it('reject well-checksummed nonsense: version, order, offsets, windows', async () => {
    const cases: Array<[string, (body: Buffer) => Buffer]> = [
      ['format version', (b) => (b.writeUInt16LE(4, 8), b)],
      ['unknown flags', (b) => (b.writeUInt8(4, 11), b)],
      ['a size without being complete', (b) => (b.writeBigUInt64LE(5n, 20), b)],
      ['no checkpoints', (b) => (b.writeUInt32LE(0, 28), b)],
      ['truncated', (b) => (b.writeUInt32LE(1000, 28), b)],
      ['not the start', (b) => (b.writeBigUInt64LE(1n, 32), b)],
      ['offset out of range', (b) => (b.writeBigUInt64LE(2n ** 60n, 32 + 8), b)],
    ];
    // The second entry of the table (27 bytes each).
    const second = 32 + 27;
    cases.push(
      ['not after', (b) => (b.writeBigUInt64LE(0n, second + 8), b)],
      ['past the end', (b) => (b.writeBigUInt64LE(BigInt(gz.length), second), b)],
      ['bit offset', (b) => (b.writeUInt8(9, second + 16), b)],
      ['window of', (b) => (b.writeUInt16LE(40_000, second + 17), b)],
    );
    for (const [reason, edit] of cases) {
      const error = await rejection(() => open(gz, gzipInflater).importCheckpoints(tampered(exported, edit)));
      expect(error.code, reason).toBe('ECACHE');
    }
  });

  it('a window that does not unpack to its length is dropped when needed; reads stay right', async () => {
    const list = CheckpointIndex.parse(exported, 'gzip', gz.length).list();
    expect(list.length).toBeGreaterThan(4);
    // The checkpoint a read at 3 MiB starts from: the last one at or before its span.
    const at = 3 * MiB + 1000;
    const used = list.findLastIndex((c) => c.outOffset <= Math.floor(at / SPAN_SIZE) * SPAN_SIZE);
    expect(used).toBeGreaterThan(0);
    const entry = 32 + used * 27;
    // Shorten the stated length of its window: it then unpacks to the wrong size.
    const bad = tampered(exported, (b) => (b.writeUInt16LE(b.readUInt16LE(entry + 17) - 1, entry + 17), b));
    const source = open(gz, gzipInflater, { cacheBytes: 0 });
    source.importCheckpoints(bad);
    expect((await source.read(at, 5000)).equals(data.subarray(at, at + 5000))).toBe(true);
    expect(source.stats.checkpoints).toBe(list.length - 1);
  });

  it('are only adopted when they reach further than what the source knows', () => {
    const source = open(gz, gzipInflater);
    source.importCheckpoints(exported);
    const count = source.stats.checkpoints;
    const partial = open(gz, gzipInflater);
    partial.importCheckpoints(open(gz, gzipInflater).exportCheckpoints()); // just the start: nothing new
    expect(partial.stats.checkpoints).toBe(1);
    source.importCheckpoints(partial.exportCheckpoints());
    expect(source.stats.checkpoints).toBe(count);
  });
});

describe('checkpoints over zstd', () => {
  const data = mixed(scaled(6, 12) * MiB, 6);

  it('every frame start is one: random reads over a multi-frame layer start at the frame before them', async () => {
    const cuts = [0];
    const random = prng(8);
    while ((cuts[cuts.length - 1] ?? 0) < data.length) cuts.push(Math.min(data.length, (cuts[cuts.length - 1] ?? 0) + Math.floor(200 * KiB + random() * 600 * KiB)));
    const frames = cuts.slice(1).map((end, i) => zstdCompress(data.subarray(cuts[i] ?? 0, end), i % 2 === 0 ? '-1' : '--no-check'));
    const skippable = Buffer.alloc(12);
    skippable.writeUInt32LE(0x184d2a53, 0);
    skippable.writeUInt32LE(4, 4);
    const compressed = Buffer.concat(frames.flatMap((frame, i) => (i === 3 ? [skippable, frame] : [frame])));
    // zstd records for free, so the default (lazy) records in the first pass already.
    const source = open(compressed, zstdInflater, { cacheBytes: 0, checkpointSpacing: 256 * KiB });
    await firstPass(source);
    expect(source.stats.checkpoints).toBeGreaterThanOrEqual(frames.length / 2);
    const most = await randomReads(source, data, READS, 9);
    expect(most).toBeLessThanOrEqual(800 * KiB + 256 * KiB + 4 * SPAN_SIZE + CHUNK);
    const fresh = open(compressed, zstdInflater, { cacheBytes: 0 });
    fresh.importCheckpoints(source.exportCheckpoints());
    await randomReads(fresh, data, READS / 3, 10);
  });

  it('a single-frame layer has no checkpoint but its start: reads behind the cursor decode from there', async () => {
    const source = open(zstdCompress(data), zstdInflater, { cacheBytes: 0, checkpoints: 'eager' });
    await firstPass(source);
    expect(source.stats.checkpoints).toBe(1);
    await randomReads(source, data, 10, 11);
  });
});
