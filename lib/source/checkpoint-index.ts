import { createHash } from '../lazy-crypto.js';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { DEFLATE_WINDOW, STREAM_START, type Checkpoint, type UnsettledCheckpoint } from './inflater.js';

/**
 * Bumped whenever the serialised form changes; other versions are rejected, never read. v2: a CRC-32
 * trailer instead of v1's sha256 (still read, so that a cache written before keeps its checkpoints).
 * The checksum only ever caught damage (anyone who can write the cache can write a matching digest),
 * and a warm read then needs no node:crypto (~5 ms to load) and no hashing of the file.
 */
export const CHECKPOINT_FORMAT_VERSION = 2;
const SHA256_VERSION = 1;
const MAGIC = Buffer.from('imgfsckp', 'latin1');
const CODECS = ['gzip', 'zstd'] as const;
const HEADER_SIZE = 8 + 2 + 1 + 1 + 8 + 8 + 4;
const ENTRY_HEADER_SIZE = 8 + 8 + 1 + 2 + 4;
/** Trailer length by format version: v1 a sha256, v2 a CRC-32. */
const TRAILER_SIZE: Readonly<Record<number, number>> = { [SHA256_VERSION]: 32, [CHECKPOINT_FORMAT_VERSION]: 4 };
/** Windows are packed fast: they are small, and packing happens during the first pass. */
const WINDOW_PACK_LEVEL = 1;

/**
 * Bytes of unsettled checkpoints (their windows unpacked) one index holds before it settles and packs
 * the oldest: packing a window costs about as much as the trials that settle it (~0.3 ms), and a pass
 * in order uses few of its checkpoints, so up to this much is left for later (about 400 checkpoints).
 */
const UNSETTLED_MAX = 16 * 1024 * 1024;

/** A checkpoint as kept in memory: its window deflated (about 2–3× smaller for typical layers). */
interface StoredCheckpoint {
  readonly rawOffset: number;
  readonly outOffset: number;
  readonly bits: number;
  /** Length of the window before packing; 0 for none. */
  readonly windowLength: number;
  readonly packedWindow: Buffer | undefined;
  /** Set while the exact position is not known yet (`rawOffset` is then where the boundary was found). */
  readonly unsettled?: UnsettledCheckpoint | undefined;
}

const START: StoredCheckpoint = Object.freeze({ rawOffset: 0, outOffset: 0, bits: 0, windowLength: 0, packedWindow: undefined });

/**
 * The checkpoints known for one compressed stream, in increasing order, always starting with the start
 * of the stream. `complete` once a recording pass has reached the end of the stream (then `size` is the
 * decompressed size). Serialisable (versioned, with a CRC-32 over the content) so that an index cache
 * can keep them next to the layer index; `parse` validates everything and throws on anything off.
 */
export class CheckpointIndex {
  private points: StoredCheckpoint[] = [START];
  private packedBytes = 0;
  private unsettledBytes = 0;
  /** No unsettled checkpoint lies before this index in `points`. */
  private settledUpTo = 0;
  private completeSize: number | undefined;

  constructor(readonly compression: 'gzip' | 'zstd') {}

  get count(): number {
    return this.points.length;
  }

  get complete(): boolean {
    return this.completeSize !== undefined;
  }

  /** The decompressed size, once complete. */
  get size(): number | undefined {
    return this.completeSize;
  }

  /** Memory held by windows: packed ones, and those of unsettled checkpoints. */
  get bytes(): number {
    return this.packedBytes + this.unsettledBytes;
  }

  /** The decompressed offset of the last checkpoint. */
  get lastOffset(): number {
    return this.points[this.points.length - 1]?.outOffset ?? 0;
  }

  /**
   * Appends a checkpoint past the last one (anything else is ignored: a second recording pass over a
   * stretch already recorded). Returns whether it was kept.
   */
  add(checkpoint: Checkpoint): boolean {
    const last = this.points[this.points.length - 1] ?? START;
    const bits = checkpoint.bits ?? 0;
    if (checkpoint.outOffset <= last.outOffset || position(checkpoint.rawOffset, bits) <= position(last.rawOffset, last.bits)) {
      return false;
    }
    this.points.push(this.pack(checkpoint));
    return true;
  }

  /**
   * Appends a checkpoint whose exact position is worked out when `find` first returns it (or the
   * index is listed or serialised); one whose trials find none is dropped then. Same order rule as
   * `add`, against the byte where the boundary was found.
   */
  addUnsettled(checkpoint: UnsettledCheckpoint): boolean {
    const last = this.points[this.points.length - 1] ?? START;
    if (checkpoint.outOffset <= last.outOffset || position(checkpoint.rawOffset, 0) <= position(last.rawOffset, last.bits)) return false;
    this.points.push({ rawOffset: checkpoint.rawOffset, outOffset: checkpoint.outOffset, bits: 0, windowLength: 0, packedWindow: undefined, unsettled: checkpoint });
    this.unsettledBytes += checkpoint.bytes;
    while (this.unsettledBytes > UNSETTLED_MAX && this.settledUpTo < this.points.length) {
      if (this.settle(this.settledUpTo) !== false) this.settledUpTo += 1;
    }
    return true;
  }

  private pack(checkpoint: Checkpoint): StoredCheckpoint {
    const window = checkpoint.window;
    const packedWindow = window === undefined ? undefined : deflateRawSync(window, { level: WINDOW_PACK_LEVEL });
    this.packedBytes += packedWindow?.length ?? 0;
    return { rawOffset: checkpoint.rawOffset, outOffset: checkpoint.outOffset, bits: checkpoint.bits ?? 0, windowLength: window?.length ?? 0, packedWindow };
  }

  /**
   * Settles the checkpoint at `index` in `points` if it is unsettled: the checkpoint, or false when
   * it was dropped (nothing resumes there); true when it was settled already.
   */
  private settle(index: number): Checkpoint | boolean {
    const unsettled = this.points[index]?.unsettled;
    if (unsettled === undefined) return true;
    this.unsettledBytes -= unsettled.bytes;
    const checkpoint = unsettled.settle();
    if (checkpoint === undefined) {
      this.remove(index);
      return false;
    }
    this.points[index] = this.pack(checkpoint);
    return checkpoint;
  }

  private remove(index: number): void {
    this.points.splice(index, 1);
    if (index < this.settledUpTo) this.settledUpTo -= 1;
  }

  private settleAll(): void {
    for (let index = this.settledUpTo; index < this.points.length; ) if (this.settle(index) !== false) index += 1;
    this.settledUpTo = this.points.length;
  }

  /** Whether adopting this index (an import) would let reads start nearer their offsets than `known`. */
  reachesFurtherThan(known: CheckpointIndex): boolean {
    if (this.complete) return !known.complete || this.count > known.count;
    return !known.complete && this.lastOffset > known.lastOffset;
  }

  /** The checkpoints, windows left out: for tests and diagnostics. */
  list(): Array<{ rawOffset: number; outOffset: number; bits: number; windowLength: number }> {
    this.settleAll();
    return this.points.map(({ rawOffset, outOffset, bits, windowLength }) => ({ rawOffset, outOffset, bits, windowLength }));
  }

  /** Marks the index complete: a recording pass reached the end of the stream at decompressed `size`. */
  finish(size: number): void {
    if (size >= this.lastOffset) this.completeSize = size;
  }

  /**
   * The last checkpoint at or before decompressed `offset`, its window unpacked. Windows are checked
   * here, not on import (the import's checksum covers them, and unpacking all of them would slow every
   * open): one that does not unpack to its stated length is dropped, and the one before it is used.
   */
  find(offset: number): Checkpoint {
    const low = this.indexBefore(offset);
    if (this.points[low]?.unsettled !== undefined) {
      const settled = this.settle(low);
      return typeof settled === 'object' ? settled : this.find(offset);
    }
    const point = this.points[low] ?? START;
    if (point.packedWindow === undefined) {
      return point === START ? STREAM_START : { rawOffset: point.rawOffset, outOffset: point.outOffset, bits: point.bits };
    }
    const window = unpackWindow(point);
    if (window === undefined) {
      this.remove(low);
      this.packedBytes -= point.packedWindow.length;
      return this.find(offset);
    }
    return { rawOffset: point.rawOffset, outOffset: point.outOffset, bits: point.bits, window };
  }

  /** The first checkpoint after decompressed `offset` (windows left out), or undefined. */
  after(offset: number): { rawOffset: number; outOffset: number } | undefined {
    const point = this.points[this.indexBefore(offset) + 1];
    return point === undefined ? undefined : { rawOffset: point.rawOffset, outOffset: point.outOffset };
  }

  /** The decompressed offset of the last checkpoint at or before `offset`, without unpacking anything. */
  offsetBefore(offset: number): number {
    return this.points[this.indexBefore(offset)]?.outOffset ?? 0;
  }

  private indexBefore(offset: number): number {
    let low = 0;
    let high = this.points.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.points[middle]?.outOffset ?? Infinity) <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /** True when `checkpoint` (as returned by `find`) is the last one known. */
  isLast(checkpoint: Checkpoint): boolean {
    return checkpoint.outOffset === this.lastOffset;
  }

  /** The serialised form; `rawSize` (the compressed size) is recorded and checked by `parse`. */
  serialise(rawSize: number): Buffer {
    this.settleAll();
    const parts: Buffer[] = [];
    const header = Buffer.alloc(HEADER_SIZE);
    MAGIC.copy(header, 0);
    header.writeUInt16LE(CHECKPOINT_FORMAT_VERSION, 8);
    header.writeUInt8(CODECS.indexOf(this.compression) + 1, 10);
    header.writeUInt8(this.complete ? 1 : 0, 11);
    header.writeBigUInt64LE(BigInt(rawSize), 12);
    header.writeBigUInt64LE(BigInt(this.completeSize ?? 0), 20);
    header.writeUInt32LE(this.points.length, 28);
    parts.push(header);
    for (const point of this.points) {
      const entry = Buffer.alloc(ENTRY_HEADER_SIZE);
      entry.writeBigUInt64LE(BigInt(point.rawOffset), 0);
      entry.writeBigUInt64LE(BigInt(point.outOffset), 8);
      entry.writeUInt8(point.bits, 16);
      entry.writeUInt16LE(point.windowLength, 17);
      entry.writeUInt32LE(point.packedWindow?.length ?? 0, 19);
      parts.push(entry);
      if (point.packedWindow !== undefined) parts.push(point.packedWindow);
    }
    const body = Buffer.concat(parts);
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32LE(crc32(body), 0);
    return Buffer.concat([body, trailer]);
  }

  /**
   * Reads a serialised index for a stream of the given codec and compressed size. Throws an Error saying
   * what is wrong for anything that is not exactly what `serialise` writes for such a stream.
   */
  static parse(bytes: Buffer, compression: 'gzip' | 'zstd', rawSize: number): CheckpointIndex {
    if (bytes.length < HEADER_SIZE || !bytes.subarray(0, 8).equals(MAGIC)) throw new Error('not a checkpoint file');
    const version = bytes.readUInt16LE(8);
    const trailerSize = TRAILER_SIZE[version];
    if (trailerSize === undefined) throw new Error(`format version ${version}, expected ${CHECKPOINT_FORMAT_VERSION}`);
    if (bytes.length < HEADER_SIZE + trailerSize) throw new Error('too short');
    const body = bytes.subarray(0, bytes.length - trailerSize);
    const trailer = bytes.subarray(body.length);
    const intact = version === SHA256_VERSION ? createHash('sha256').update(body).digest().equals(trailer) : crc32(body) === trailer.readUInt32LE(0);
    if (!intact) throw new Error('checksum mismatch');
    if (body.readUInt8(10) !== CODECS.indexOf(compression) + 1) throw new Error(`not for ${compression}`);
    const flags = body.readUInt8(11);
    if (flags > 1) throw new Error('unknown flags');
    const storedRawSize = readSafe(body, 12);
    if (storedRawSize !== rawSize) throw new Error(`for a stream of ${storedRawSize} bytes, this one has ${rawSize}`);
    const size = readSafe(body, 20);
    const count = body.readUInt32LE(28);
    if (count < 1) throw new Error('no checkpoints');

    const index = new CheckpointIndex(compression);
    const points: StoredCheckpoint[] = [];
    let at = HEADER_SIZE;
    for (let i = 0; i < count; i += 1) {
      if (at + ENTRY_HEADER_SIZE > body.length) throw new Error('truncated');
      const rawOffset = readSafe(body, at);
      const outOffset = readSafe(body, at + 8);
      const bits = body.readUInt8(at + 16);
      const windowLength = body.readUInt16LE(at + 17);
      const packedLength = body.readUInt32LE(at + 19);
      at += ENTRY_HEADER_SIZE;
      if (at + packedLength > body.length) throw new Error('truncated');
      // A view, not a copy: the file's buffer is kept whole either way, and copying a megabyte of
      // windows to use one of them is most of what a warm read's import costs.
      const packed = packedLength > 0 ? body.subarray(at, at + packedLength) : undefined;
      at += packedLength;
      const point: StoredCheckpoint = { rawOffset, outOffset, bits, windowLength, packedWindow: packed };
      const previous = points[points.length - 1];
      if (previous === undefined) {
        if (rawOffset !== 0 || outOffset !== 0 || bits !== 0 || windowLength !== 0 || packed !== undefined) {
          throw new Error('the first checkpoint is not the start of the stream');
        }
      } else {
        if (outOffset <= previous.outOffset || position(rawOffset, bits) <= position(previous.rawOffset, previous.bits)) {
          throw new Error(`checkpoint ${i} is not after checkpoint ${i - 1}`);
        }
        if (rawOffset >= rawSize) throw new Error(`checkpoint ${i} is past the end of the stream`);
        if (bits > 7) throw new Error(`checkpoint ${i} has a bit offset of ${bits}`);
        if (windowLength > DEFLATE_WINDOW) throw new Error(`checkpoint ${i} has a window of ${windowLength} bytes`);
        if ((windowLength === 0) !== (packed === undefined)) throw new Error(`checkpoint ${i} has an inconsistent window`);
        if (bits > 0 && windowLength === 0) throw new Error(`checkpoint ${i} is inside a member without a window`);
        if (compression === 'zstd' && (bits !== 0 || windowLength !== 0)) throw new Error(`checkpoint ${i} is not at a zstd frame`);
      }
      points.push(point);
    }
    if (at !== body.length) throw new Error('trailing bytes');
    const last = points[points.length - 1] ?? START;
    if (flags === 1 && size < last.outOffset) throw new Error('complete, but smaller than its last checkpoint');
    if (flags === 0 && size !== 0) throw new Error('a size without being complete');
    index.points = points;
    index.packedBytes = points.reduce((sum, p) => sum + (p.packedWindow?.length ?? 0), 0);
    index.completeSize = flags === 1 ? size : undefined;
    return index;
  }
}

function position(rawOffset: number, bits: number): number {
  return rawOffset * 8 + bits;
}

function readSafe(buffer: Buffer, offset: number): number {
  const value = buffer.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('offset out of range');
  return Number(value);
}

/** The window of `point`, or undefined if it does not unpack to exactly its stated length. */
function unpackWindow(point: StoredCheckpoint): Buffer | undefined {
  if (point.packedWindow === undefined) return undefined;
  try {
    const window = inflateRawSync(point.packedWindow, { maxOutputLength: Math.max(1, point.windowLength) });
    return window.length === point.windowLength ? window : undefined;
  } catch {
    return undefined;
  }
}
