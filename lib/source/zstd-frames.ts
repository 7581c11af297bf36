/**
 * The one zstd frame parser (RFC 8878 §3.1): follows the frame and block headers of a stream without
 * decoding it, to find where each frame ends (every frame start is a checkpoint: native zstd needs no
 * state there) and to refuse a frame whose declared window is too large before the decoder sees it.
 * Block contents are skipped by their sizes, so the cost is a few operations per 128 KiB block.
 */

/**
 * Largest zstd window accepted: 128 MiB, the limit the zstd CLI and libzstd apply by default
 * (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`, `--memory=128MB`). Only `zstd --long=28` and above write more.
 */
export const MAX_ZSTD_WINDOW = 2 ** 27;

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames: 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const BLOCK_RLE = 1;
const BLOCK_RESERVED = 3;
/** RFC 8878, 3.1.1.2.3: no block is larger than 128 KiB. */
const MAX_BLOCK_SIZE = 128 * 1024;

type Phase =
  | 'magic' // 4 bytes
  | 'descriptor' // 1 byte: Frame_Header_Descriptor
  | 'frame-header' // window descriptor, dictionary id and content size: 0 to 14 bytes
  | 'skippable-size' // 4 bytes
  | 'block-header'; // 3 bytes

/** Bytes that are not a zstd stream (`window` undefined), or a frame that asks for too large a window. */
export class ZstdFrameError extends Error {
  constructor(
    message: string,
    /** Offset in the stream of the frame or header concerned. */
    readonly offset: number,
    /** For a window over the limit: the window the frame declares. */
    readonly window?: number,
  ) {
    super(message);
  }
}

export class ZstdFrameScanner {
  private phase: Phase = 'magic';
  private header: number[] = [];
  private headerLength = 4;
  /** Bytes to pass over before the next header (block bodies, checksums, skippable payloads). */
  private skip = 0;
  /** After the skip, the frame ends (its last block, checksum or skippable payload). */
  private endsAfterSkip = false;
  private descriptor = 0;
  private frameStart: number;
  /** Offset of the next byte `scan` sees, counted from `startOffset`. */
  private position: number;

  /** `startOffset`: where in the stream the scan starts (a frame start), for the offsets in errors. */
  constructor(
    startOffset = 0,
    private readonly maxWindow = MAX_ZSTD_WINDOW,
  ) {
    this.position = startOffset;
    this.frameStart = startOffset;
  }

  /** True between frames: everything scanned so far is whole frames. */
  get atFrameStart(): boolean {
    return this.phase === 'magic' && this.header.length === 0 && this.skip === 0 && !this.endsAfterSkip;
  }

  /**
   * Scans the next bytes of the stream. Returns the offsets in `chunk` just after each frame that ends in
   * it, increasing. Throws ZstdFrameError on bytes that are not a zstd frame, or on a frame header that
   * declares a window larger than `maxWindow`.
   */
  scan(chunk: Uint8Array): number[] {
    const ends: number[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        if (this.skip > 0) break;
      }
      if (this.endsAfterSkip) {
        this.endsAfterSkip = false;
        this.expect('magic', 4);
        ends.push(at);
        continue;
      }
      if (at >= chunk.length) break;
      if (this.phase === 'magic' && this.header.length === 0) this.frameStart = this.position + at;
      this.header.push(chunk[at] ?? 0);
      at += 1;
      if (this.header.length < this.headerLength) continue;
      this.onHeader(this.position + at - this.header.length);
    }
    // A frame whose last skip ended exactly at the end of this chunk.
    if (this.skip === 0 && this.endsAfterSkip) {
      this.endsAfterSkip = false;
      this.expect('magic', 4);
      ends.push(chunk.length);
    }
    this.position += chunk.length;
    return ends;
  }

  private expect(phase: Phase, length: number): void {
    this.phase = phase;
    this.headerLength = length;
    this.header = [];
  }

  private onHeader(offset: number): void {
    const h = this.header;
    switch (this.phase) {
      case 'magic': {
        const magic = littleEndian(h, 0, 4);
        if (magic === ZSTD_MAGIC) this.expect('descriptor', 1);
        else if (((magic & SKIPPABLE_MAGIC_MASK) >>> 0) === SKIPPABLE_MAGIC) this.expect('skippable-size', 4);
        else throw new ZstdFrameError('invalid zstd data (no frame magic)', offset);
        return;
      }
      case 'skippable-size': {
        this.expect('magic', 4);
        this.skip = littleEndian(h, 0, 4);
        this.endsAfterSkip = true;
        return;
      }
      case 'descriptor': {
        const descriptor = h[0] ?? 0;
        if ((descriptor & 8) !== 0) throw new ZstdFrameError('invalid zstd frame header (reserved bit set)', offset);
        this.descriptor = descriptor;
        const length = (this.singleSegment ? 0 : 1) + this.dictionaryBytes + this.contentSizeBytes;
        if (length > 0) this.expect('frame-header', length);
        else this.expect('block-header', 3); // unreachable: a single segment always has a content size
        return;
      }
      case 'frame-header': {
        const window = this.windowSize();
        if (window > this.maxWindow) {
          throw new ZstdFrameError(
            `zstd frame at compressed offset ${this.frameStart} needs a ${mebibytes(window)} window, more than the ` +
              `${mebibytes(this.maxWindow)} allowed`,
            this.frameStart,
            window,
          );
        }
        this.expect('block-header', 3);
        return;
      }
      case 'block-header': {
        const value = littleEndian(h, 0, 3);
        const last = (value & 1) === 1;
        const type = (value >> 1) & 3;
        const size = value >>> 3;
        if (type === BLOCK_RESERVED) throw new ZstdFrameError('invalid zstd block type', offset);
        if (size > MAX_BLOCK_SIZE) throw new ZstdFrameError('invalid zstd block size', offset);
        this.header = [];
        this.skip = type === BLOCK_RLE ? 1 : size;
        if (last) {
          this.skip += (this.descriptor & 4) !== 0 ? 4 : 0;
          this.endsAfterSkip = true;
        }
        return;
      }
    }
  }

  private get singleSegment(): boolean {
    return ((this.descriptor >> 5) & 1) === 1;
  }

  private get dictionaryBytes(): number {
    return [0, 1, 2, 4][this.descriptor & 3] ?? 0;
  }

  private get contentSizeBytes(): number {
    const flag = this.descriptor >> 6;
    return flag === 0 ? (this.singleSegment ? 1 : 0) : 1 << flag;
  }

  /** The window the frame declares: its window descriptor, or for a single segment its content size. */
  private windowSize(): number {
    const h = this.header;
    if (!this.singleSegment) {
      const descriptor = h[0] ?? 0;
      const base = 2 ** (10 + (descriptor >> 3));
      return base + (base / 8) * (descriptor & 7);
    }
    const length = this.contentSizeBytes;
    const size = littleEndian(h, this.dictionaryBytes, length);
    return length === 2 ? size + 256 : size;
  }
}

/** An unsigned little-endian integer of up to 8 bytes (exact up to 2^53, which is all a window needs). */
function littleEndian(bytes: readonly number[], at: number, length: number): number {
  let value = 0;
  for (let i = length - 1; i >= 0; i -= 1) value = value * 256 + (bytes[at + i] ?? 0);
  return value;
}

function mebibytes(bytes: number): string {
  return bytes >= 2 ** 20 ? `${Math.round((bytes / 2 ** 20) * 10) / 10} MiB` : `${bytes} bytes`;
}
