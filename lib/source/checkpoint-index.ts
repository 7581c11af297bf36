import { createHash } from '../lazy-crypto.js';
import { zlib } from '../lazy-zlib.js';
import { DEFLATE_WINDOW, STREAM_START, type Checkpoint, type UnsettledCheckpoint } from './inflater.js';

/**
 * Bumped whenever the serialised form changes; other versions are rejected, never read. v2: a CRC-32
 * trailer instead of v1's sha256 (still read, so that a cache written before keeps its checkpoints).
 * The checksum only ever caught damage (anyone who can write the cache can write a matching digest),
 * and a warm read then needs no node:crypto (~5 ms to load) and no hashing of the file. v3: the
 * checkpoints first, as one table with its own CRC-32 and each window's, the packed windows after it,
 * so that a warm read fetches the table and the one window it starts from (~20 KB), not every window
 * (a 113 MB layer's 877 KB at 2 MiB spacing); v1 and v2 files are still read whole.
 */
export const CHECKPOINT_FORMAT_VERSION = 3;
const SHA256_VERSION = 1;
const CRC_VERSION = 2;
const MAGIC = Buffer.from('imgfsckp', 'latin1');
const CODECS = ['gzip', 'zstd'] as const;
const HEADER_SIZE = 8 + 2 + 1 + 1 + 8 + 8 + 4;
/** v1, v2: each entry followed by its packed window. */
const ENTRY_HEADER_SIZE = 8 + 8 + 1 + 2 + 4;
/** v3: an entry of the table, with its packed window's CRC-32. */
const TABLE_ENTRY_SIZE = ENTRY_HEADER_SIZE + 4;
/** Trailer length by format version: v1 a sha256, v2 a CRC-32. */
const TRAILER_SIZE: Readonly<Record<number, number>> = { [SHA256_VERSION]: 32, [CRC_VERSION]: 4 };
/** What an open where the file lies reads first: the header and, for up to ~300 checkpoints, the whole table. */
const FIRST_READ = 8 * 1024;
/** Windows are packed fast: they are small, and packing happens during the first pass. */
const WINDOW_PACK_LEVEL = 1;

/**
 * Bytes of unsettled checkpoints (their windows unpacked) one index holds before it settles and packs
 * the oldest: packing a window costs about as much as the trials that settle it (~0.3 ms), and a pass
 * in order uses few of its checkpoints, so up to this much is left for later (about 400 checkpoints).
 */
const UNSETTLED_MAX = 16 * 1024 * 1024;

/** A checkpoint as kept in memory: its window deflated (about 3× smaller for typical layers). */
interface StoredCheckpoint {
  readonly rawOffset: number;
  readonly outOffset: number;
  readonly bits: number;
  /** Length of the window before packing; 0 for none. */
  readonly windowLength: number;
  /** The packed window, or how to fetch it from a checkpoint file (undefined when that fails); undefined for none. */
  readonly packedWindow: Buffer | (() => Buffer | undefined) | undefined;
  readonly packedLength: number;
  /** Set while the exact position is not known yet (`rawOffset` is then where the boundary was found). */
  readonly unsettled?: UnsettledCheckpoint | undefined;
}

/** A checkpoint file read where it lies, a piece at a time (a v3 file's table, then a window when needed). */
export interface StoredFile {
  readonly size: number;
  /** The bytes at `offset`; throws when they cannot be read. */
  read(offset: number, length: number): Buffer;
}

const START: StoredCheckpoint = Object.freeze({ rawOffset: 0, outOffset: 0, bits: 0, windowLength: 0, packedWindow: undefined, packedLength: 0 });

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

  /** Memory held by packed windows. */
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
    this.points.push({ rawOffset: checkpoint.rawOffset, outOffset: checkpoint.outOffset, bits: 0, windowLength: 0, packedWindow: undefined, packedLength: 0, unsettled: checkpoint });
    this.unsettledBytes += checkpoint.bytes;
    while (this.unsettledBytes > UNSETTLED_MAX && this.settledUpTo < this.points.length) {
      if (this.settle(this.settledUpTo) !== false) this.settledUpTo += 1;
    }
    return true;
  }

  private pack(checkpoint: Checkpoint): StoredCheckpoint {
    const window = checkpoint.window;
    const packedWindow = window === undefined ? undefined : zlib().deflateRawSync(window, { level: WINDOW_PACK_LEVEL });
    this.packedBytes += packedWindow?.length ?? 0;
    return {
      rawOffset: checkpoint.rawOffset,
      outOffset: checkpoint.outOffset,
      bits: checkpoint.bits ?? 0,
      windowLength: window?.length ?? 0,
      packedWindow,
      packedLength: packedWindow?.length ?? 0,
    };
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
   * The last checkpoint at or before decompressed `offset`, its window unpacked (and fetched from its
   * file first, for an index opened where it lies). Windows are checked here, not on import (the
   * import's checksums cover them, and unpacking all of them would slow every open): one that cannot be
   * fetched, fails its CRC-32 or does not unpack to its stated length is dropped, and the one before
   * it is used.
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
      this.packedBytes -= point.packedLength;
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

  /** The serialised form (v3); `rawSize` (the compressed size) is recorded and checked by `parse`. */
  serialise(rawSize: number): Buffer {
    this.settleAll();
    // A window that can no longer be fetched (an index opened from a file since removed) is left out with its checkpoint.
    const kept = this.points.flatMap((point) => {
      const packed = typeof point.packedWindow === 'function' ? point.packedWindow() : point.packedWindow;
      return point.packedLength > 0 && packed === undefined ? [] : [{ point, packed }];
    });
    const table = Buffer.alloc(HEADER_SIZE + kept.length * TABLE_ENTRY_SIZE + 4);
    MAGIC.copy(table, 0);
    table.writeUInt16LE(CHECKPOINT_FORMAT_VERSION, 8);
    table.writeUInt8(CODECS.indexOf(this.compression) + 1, 10);
    table.writeUInt8(this.complete ? 1 : 0, 11);
    table.writeBigUInt64LE(BigInt(rawSize), 12);
    table.writeBigUInt64LE(BigInt(this.completeSize ?? 0), 20);
    table.writeUInt32LE(kept.length, 28);
    let at = HEADER_SIZE;
    for (const { point, packed } of kept) {
      table.writeBigUInt64LE(BigInt(point.rawOffset), at);
      table.writeBigUInt64LE(BigInt(point.outOffset), at + 8);
      table.writeUInt8(point.bits, at + 16);
      table.writeUInt16LE(point.windowLength, at + 17);
      table.writeUInt32LE(packed?.length ?? 0, at + 19);
      table.writeUInt32LE(packed === undefined ? 0 : zlib().crc32(packed), at + 23);
      at += TABLE_ENTRY_SIZE;
    }
    table.writeUInt32LE(zlib().crc32(table.subarray(0, at)), at);
    return Buffer.concat([table, ...kept.flatMap(({ packed }) => (packed === undefined ? [] : [packed]))]);
  }

  /**
   * An index read where its file lies: a v3 file's header and table now (checked as `parse` checks
   * them), each window only when a read starts from its checkpoint (`find`). Older versions are read
   * whole. Throws as `parse` does; a window found damaged later is dropped (see `find`) and reported to
   * `onDamage` with the reason.
   */
  static open(file: StoredFile, compression: 'gzip' | 'zstd', rawSize: number, onDamage: (reason: string) => void = () => {}): CheckpointIndex {
    const head = file.read(0, Math.min(file.size, FIRST_READ));
    if (head.length < HEADER_SIZE || !head.subarray(0, 8).equals(MAGIC)) throw new Error('not a checkpoint file');
    if (head.readUInt16LE(8) !== CHECKPOINT_FORMAT_VERSION) return CheckpointIndex.parse(file.read(0, file.size), compression, rawSize);
    const tableEnd = HEADER_SIZE + head.readUInt32LE(28) * TABLE_ENTRY_SIZE + 4;
    if (tableEnd > file.size) throw new Error('truncated');
    const table = tableEnd <= head.length ? head.subarray(0, tableEnd) : file.read(0, tableEnd);
    return CheckpointIndex.fromTable(table, file.size, compression, rawSize, (offset, length, crc) => () => {
      let packed: Buffer;
      try {
        packed = file.read(offset, length);
      } catch (error) {
        onDamage(`a window cannot be read: ${(error as Error).message}`);
        return undefined;
      }
      if (packed.length === length && zlib().crc32(packed) === crc) return packed;
      onDamage(packed.length === length ? 'checksum mismatch in a window' : 'truncated');
      return undefined;
    });
  }

  /**
   * Reads a serialised index for a stream of the given codec and compressed size. Throws an Error saying
   * what is wrong for anything that is not exactly what `serialise` writes for such a stream.
   */
  static parse(bytes: Buffer, compression: 'gzip' | 'zstd', rawSize: number): CheckpointIndex {
    if (bytes.length < HEADER_SIZE || !bytes.subarray(0, 8).equals(MAGIC)) throw new Error('not a checkpoint file');
    const version = bytes.readUInt16LE(8);
    if (version === CHECKPOINT_FORMAT_VERSION) {
      if (bytes.length < HEADER_SIZE + 4) throw new Error('too short');
      const tableEnd = HEADER_SIZE + bytes.readUInt32LE(28) * TABLE_ENTRY_SIZE + 4;
      if (tableEnd > bytes.length) throw new Error('truncated');
      // Every window checked now: the file is in memory anyway, and an import rejects any damage.
      return CheckpointIndex.fromTable(bytes.subarray(0, tableEnd), bytes.length, compression, rawSize, (offset, length, crc) => {
        const packed = bytes.subarray(offset, offset + length);
        if (zlib().crc32(packed) !== crc) throw new Error('checksum mismatch');
        return packed;
      });
    }
    const trailerSize = TRAILER_SIZE[version];
    if (trailerSize === undefined) throw new Error(`format version ${version}, expected ${CHECKPOINT_FORMAT_VERSION}`);
    if (bytes.length < HEADER_SIZE + trailerSize) throw new Error('too short');
    const body = bytes.subarray(0, bytes.length - trailerSize);
    const trailer = bytes.subarray(body.length);
    const intact = version === SHA256_VERSION ? createHash('sha256').update(body).digest().equals(trailer) : zlib().crc32(body) === trailer.readUInt32LE(0);
    if (!intact) throw new Error('checksum mismatch');
    const { flags, size, count } = checkHeader(body, compression, rawSize);

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
      const point: StoredCheckpoint = { rawOffset, outOffset, bits, windowLength, packedWindow: packed, packedLength };
      checkPoint(point, points[points.length - 1], i, compression, rawSize);
      points.push(point);
    }
    if (at !== body.length) throw new Error('trailing bytes');
    return index.adopt(points, flags, size);
  }

  /**
   * A v3 table (header, entries, CRC-32) of a file `fileSize` bytes long, its windows behind what
   * `window(offset, length, crc)` makes of each: the window itself, or how to fetch it later.
   */
  private static fromTable(
    table: Buffer,
    fileSize: number,
    compression: 'gzip' | 'zstd',
    rawSize: number,
    window: (offset: number, length: number, crc: number) => StoredCheckpoint['packedWindow'],
  ): CheckpointIndex {
    const crcAt = table.length - 4;
    if (zlib().crc32(table.subarray(0, crcAt)) !== table.readUInt32LE(crcAt)) throw new Error('checksum mismatch');
    const { flags, size, count } = checkHeader(table, compression, rawSize);
    const points: StoredCheckpoint[] = [];
    let windowAt = table.length;
    for (let i = 0, at = HEADER_SIZE; i < count; i += 1, at += TABLE_ENTRY_SIZE) {
      const packedLength = table.readUInt32LE(at + 19);
      if (windowAt + packedLength > fileSize) throw new Error('truncated');
      const point: StoredCheckpoint = {
        rawOffset: readSafe(table, at),
        outOffset: readSafe(table, at + 8),
        bits: table.readUInt8(at + 16),
        windowLength: table.readUInt16LE(at + 17),
        packedWindow: packedLength > 0 ? window(windowAt, packedLength, table.readUInt32LE(at + 23)) : undefined,
        packedLength,
      };
      windowAt += packedLength;
      checkPoint(point, points[points.length - 1], i, compression, rawSize);
      points.push(point);
    }
    if (windowAt !== fileSize) throw new Error('trailing bytes');
    return new CheckpointIndex(compression).adopt(points, flags, size);
  }

  private adopt(points: StoredCheckpoint[], flags: number, size: number): this {
    const last = points[points.length - 1] ?? START;
    if (flags === 1 && size < last.outOffset) throw new Error('complete, but smaller than its last checkpoint');
    if (flags === 0 && size !== 0) throw new Error('a size without being complete');
    this.points = points;
    this.packedBytes = points.reduce((sum, p) => sum + p.packedLength, 0);
    this.completeSize = flags === 1 ? size : undefined;
    return this;
  }
}

/** The header's fields, checked against the stream it is meant for. */
function checkHeader(bytes: Buffer, compression: 'gzip' | 'zstd', rawSize: number): { flags: number; size: number; count: number } {
  if (bytes.readUInt8(10) !== CODECS.indexOf(compression) + 1) throw new Error(`not for ${compression}`);
  const flags = bytes.readUInt8(11);
  if (flags > 1) throw new Error('unknown flags');
  const storedRawSize = readSafe(bytes, 12);
  if (storedRawSize !== rawSize) throw new Error(`for a stream of ${storedRawSize} bytes, this one has ${rawSize}`);
  const size = readSafe(bytes, 20);
  const count = bytes.readUInt32LE(28);
  if (count < 1) throw new Error('no checkpoints');
  return { flags, size, count };
}

/** Throws unless `point` (number `i`) can follow `previous` in a stream of `rawSize` stored bytes. */
function checkPoint(point: StoredCheckpoint, previous: StoredCheckpoint | undefined, i: number, compression: 'gzip' | 'zstd', rawSize: number): void {
  const { rawOffset, outOffset, bits, windowLength, packedLength } = point;
  if (previous === undefined) {
    if (rawOffset !== 0 || outOffset !== 0 || bits !== 0 || windowLength !== 0 || packedLength !== 0) {
      throw new Error('the first checkpoint is not the start of the stream');
    }
    return;
  }
  if (outOffset <= previous.outOffset || position(rawOffset, bits) <= position(previous.rawOffset, previous.bits)) {
    throw new Error(`checkpoint ${i} is not after checkpoint ${i - 1}`);
  }
  if (rawOffset >= rawSize) throw new Error(`checkpoint ${i} is past the end of the stream`);
  if (bits > 7) throw new Error(`checkpoint ${i} has a bit offset of ${bits}`);
  if (windowLength > DEFLATE_WINDOW) throw new Error(`checkpoint ${i} has a window of ${windowLength} bytes`);
  if ((windowLength === 0) !== (packedLength === 0)) throw new Error(`checkpoint ${i} has an inconsistent window`);
  if (bits > 0 && windowLength === 0) throw new Error(`checkpoint ${i} is inside a member without a window`);
  if (compression === 'zstd' && (bits !== 0 || windowLength !== 0)) throw new Error(`checkpoint ${i} is not at a zstd frame`);
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
  const packed = typeof point.packedWindow === 'function' ? point.packedWindow() : point.packedWindow;
  if (packed === undefined) return undefined;
  try {
    const window = zlib().inflateRawSync(packed, { maxOutputLength: Math.max(1, point.windowLength) });
    return window.length === point.windowLength ? window : undefined;
  } catch {
    return undefined;
  }
}
