/**
 * Finds the frame boundaries of a zstd stream without decoding it (RFC 8878, 3.1): frame headers and
 * block headers say how long everything is. Used to decode frame by frame, so that each frame start is a
 * checkpoint (fzstd cannot resume inside a frame, and needs no state at a frame start).
 */

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const BLOCK_RLE = 1;
const BLOCK_RESERVED = 3;
/** RFC 8878, 3.1.1.2.3: no block is larger than 128 KiB. */
const MAX_BLOCK_SIZE = 128 * 1024;

type Phase =
  | 'magic' // 4 bytes
  | 'descriptor' // 1 byte: Frame_Header_Descriptor
  | 'skippable-size' // 4 bytes
  | 'block-header'; // 3 bytes

export class ZstdFrameError extends Error {
  constructor(
    message: string,
    /** Offset from the start of the scan. */
    readonly offset: number,
  ) {
    super(message);
  }
}

export class ZstdFrameScanner {
  private phase: Phase = 'magic';
  private header: number[] = [];
  /** Bytes to pass over before the next header (frame header fields, block bodies, checksums). */
  private skip = 0;
  /** After the skip, the frame ends (its last block, checksum or skippable payload). */
  private endsAfterSkip = false;
  private checksum = false;
  private position = 0;

  /** True between frames: everything scanned so far is whole frames. */
  get atFrameStart(): boolean {
    return this.phase === 'magic' && this.header.length === 0 && this.skip === 0 && !this.endsAfterSkip;
  }

  /**
   * Scans the next bytes of the stream. Returns the offsets in `chunk` just after each frame that ends in
   * it, increasing. Throws ZstdFrameError on bytes that are not a zstd frame.
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
        this.phase = 'magic';
        ends.push(at);
        continue;
      }
      if (at >= chunk.length) break;
      this.header.push(chunk[at] ?? 0);
      at += 1;
      if (this.header.length < this.headerLength()) continue;
      this.onHeader(this.position + at - this.header.length);
      this.header = [];
    }
    // A frame whose last skip ended exactly at the end of this chunk.
    if (this.skip === 0 && this.endsAfterSkip) {
      this.endsAfterSkip = false;
      this.phase = 'magic';
      ends.push(chunk.length);
    }
    this.position += chunk.length;
    return ends;
  }

  private headerLength(): number {
    switch (this.phase) {
      case 'magic':
      case 'skippable-size':
        return 4;
      case 'descriptor':
        return 1;
      case 'block-header':
        return 3;
    }
  }

  private onHeader(offset: number): void {
    const h = this.header;
    switch (this.phase) {
      case 'magic': {
        const magic = ((h[0] ?? 0) | ((h[1] ?? 0) << 8) | ((h[2] ?? 0) << 16) | ((h[3] ?? 0) << 24)) >>> 0;
        if (magic === ZSTD_MAGIC) this.phase = 'descriptor';
        else if (((magic & SKIPPABLE_MAGIC_MASK) >>> 0) === SKIPPABLE_MAGIC) this.phase = 'skippable-size';
        else throw new ZstdFrameError('invalid zstd data (no frame magic)', offset);
        return;
      }
      case 'skippable-size': {
        this.skip = ((h[0] ?? 0) | ((h[1] ?? 0) << 8) | ((h[2] ?? 0) << 16) | ((h[3] ?? 0) << 24)) >>> 0;
        this.endsAfterSkip = true;
        return;
      }
      case 'descriptor': {
        const descriptor = h[0] ?? 0;
        if ((descriptor & 8) !== 0) throw new ZstdFrameError('invalid zstd frame header (reserved bit set)', offset);
        const contentSizeFlag = descriptor >> 6;
        const singleSegment = (descriptor >> 5) & 1;
        const dictionaryFlag = descriptor & 3;
        this.checksum = (descriptor & 4) !== 0;
        const windowBytes = singleSegment === 1 ? 0 : 1;
        const dictionaryBytes = [0, 1, 2, 4][dictionaryFlag] ?? 0;
        const contentSizeBytes = contentSizeFlag === 0 ? singleSegment : 1 << contentSizeFlag;
        this.skip = windowBytes + dictionaryBytes + contentSizeBytes;
        this.phase = 'block-header';
        return;
      }
      case 'block-header': {
        const value = (h[0] ?? 0) | ((h[1] ?? 0) << 8) | ((h[2] ?? 0) << 16);
        const last = (value & 1) === 1;
        const type = (value >> 1) & 3;
        const size = value >>> 3;
        if (type === BLOCK_RESERVED) throw new ZstdFrameError('invalid zstd block type', offset);
        if (size > MAX_BLOCK_SIZE) throw new ZstdFrameError('invalid zstd block size', offset);
        this.skip = type === BLOCK_RLE ? 1 : size;
        if (last) {
          this.skip += this.checksum ? 4 : 0;
          this.endsAfterSkip = true;
        }
        return;
      }
    }
  }
}
