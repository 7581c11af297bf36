import { ImgfsError } from '../errors.js';

/**
 * Largest zstd window accepted: 128 MiB, the limit the zstd CLI and libzstd apply by default
 * (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`, `--memory=128MB`). Only `zstd --long=28` and above write more.
 */
export const MAX_ZSTD_WINDOW = 2 ** 27;

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames: 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

type State =
  | 'magic' // collecting a frame's 4 magic bytes
  | 'descriptor' // the frame header descriptor byte
  | 'header' // window descriptor, dictionary id and content size
  | 'block' // a 3-byte block header
  | 'skip' // bytes that say nothing about memory: block contents, checksums, skippable frames
  | 'skip-size' // the 4-byte size of a skippable frame
  | 'off'; // the stream is not what zstd says: the decoder reports it, this guard has nothing to add

/**
 * Follows the frame structure of a zstd stream (RFC 8878 §3.1) ahead of the decoder, reading headers
 * only, and refuses a frame whose declared window is larger than `maxWindow` before the decoder sees
 * it. fzstd allocates a frame's whole window (up to about 2 GiB) as soon as it parses the frame
 * header, before producing any output, so neither the ratio limit nor the output cache can stop a
 * hostile header; this can.
 *
 * Block contents are skipped by their sizes, so the cost is a few operations per 128 KiB block.
 */
export class ZstdFrameGuard {
  private state: State = 'magic';
  private readonly bytes: number[] = [];
  private needed = 4;
  private skipping = 0;
  /** What follows the bytes being skipped. */
  private afterBlock: 'block' | 'checksum' | 'frame' = 'frame';
  /** Frame header descriptor of the current frame. */
  private descriptor = 0;
  private frameStart: number;
  /** Compressed offset of the next byte `scan` will see. */
  private offset: number;

  constructor(
    private readonly name: string,
    startOffset = 0,
    private readonly maxWindow = MAX_ZSTD_WINDOW,
  ) {
    this.offset = startOffset;
    this.frameStart = startOffset;
  }

  /** Checks the next piece of compressed input; throws ELIMIT for a frame that asks too much memory. */
  scan(piece: Uint8Array): void {
    let at = 0;
    while (at < piece.length && this.state !== 'off') {
      if (this.state === 'skip') {
        const step = Math.min(this.skipping, piece.length - at);
        at += step;
        this.offset += step;
        this.skipping -= step;
        if (this.skipping === 0) this.afterSkip();
        continue;
      }
      if (this.state === 'magic' && this.bytes.length === 0) this.frameStart = this.offset;
      this.bytes.push(piece[at] as number);
      at++;
      this.offset++;
      if (this.bytes.length === this.needed) this.complete();
    }
  }

  /** When a skip ends: after a block's contents, the next block or the frame's end. */
  private afterSkip(): void {
    if (this.afterBlock === 'block') this.expect('block', 3);
    else if (this.afterBlock === 'checksum') {
      this.afterBlock = 'frame';
      this.skipping = 4;
      // state stays 'skip'
    } else this.expect('magic', 4);
  }

  private expect(state: State, needed: number): void {
    this.state = state;
    this.needed = needed;
    this.bytes.length = 0;
  }

  private complete(): void {
    const b = this.bytes;
    switch (this.state) {
      case 'magic': {
        const magic = ((b[0] as number) | ((b[1] as number) << 8) | ((b[2] as number) << 16) | ((b[3] as number) << 24)) >>> 0;
        if (magic === ZSTD_MAGIC) this.expect('descriptor', 1);
        else if (((magic & SKIPPABLE_MASK) >>> 0) === SKIPPABLE_MAGIC) this.expect('skip-size', 4);
        else this.expect('off', 0);
        return;
      }
      case 'skip-size': {
        const size = ((b[0] as number) | ((b[1] as number) << 8) | ((b[2] as number) << 16) | ((b[3] as number) << 24)) >>> 0;
        this.skipTo(size, 'frame');
        return;
      }
      case 'descriptor': {
        const descriptor = b[0] as number;
        this.descriptor = descriptor;
        const singleSegment = (descriptor >> 5) & 1;
        const dictionaryFlag = descriptor & 3;
        const contentSizeFlag = descriptor >> 6;
        const dictionaryBytes = dictionaryFlag === 3 ? 4 : dictionaryFlag;
        const contentSizeBytes = contentSizeFlag === 0 ? singleSegment : 1 << contentSizeFlag;
        const needed = (singleSegment === 1 ? 0 : 1) + dictionaryBytes + contentSizeBytes;
        // Never 0: a single-segment frame always has a content size field.
        this.expect('header', needed);
        return;
      }
      case 'header': {
        this.checkWindow(this.windowSize());
        this.expect('block', 3);
        return;
      }
      case 'block': {
        const b0 = b[0] as number;
        const last = (b0 & 1) === 1;
        const type = (b0 >> 1) & 3;
        const size = (b0 >> 3) | ((b[1] as number) << 5) | ((b[2] as number) << 13);
        if (type === 3) {
          this.expect('off', 0); // reserved block type: the decoder rejects it
          return;
        }
        const checksum = (this.descriptor >> 2) & 1;
        this.skipTo(type === 1 ? 1 : size, last ? (checksum === 1 ? 'checksum' : 'frame') : 'block');
        return;
      }
      default:
        return;
    }
  }

  private skipTo(bytes: number, then: 'block' | 'checksum' | 'frame'): void {
    this.afterBlock = then;
    this.bytes.length = 0;
    if (bytes > 0) {
      this.state = 'skip';
      this.skipping = bytes;
    } else {
      this.afterSkip();
    }
  }

  /** The window a frame declares: its window descriptor, or for a single segment its content size. */
  private windowSize(): number {
    const b = this.bytes;
    const descriptor = this.descriptor;
    const singleSegment = (descriptor >> 5) & 1;
    if (singleSegment === 0) {
      const window = b[0] as number;
      const base = 2 ** (10 + (window >> 3));
      return base + (base / 8) * (window & 7);
    }
    const dictionaryFlag = descriptor & 3;
    const at = dictionaryFlag === 3 ? 4 : dictionaryFlag;
    const contentSizeFlag = descriptor >> 6;
    let size = 0;
    const length = contentSizeFlag === 0 ? 1 : 1 << contentSizeFlag;
    for (let i = length - 1; i >= 0; i--) size = size * 256 + (b[at + i] as number);
    return contentSizeFlag === 1 ? size + 256 : size;
  }

  private checkWindow(window: number): void {
    if (window <= this.maxWindow) return;
    throw new ImgfsError(
      'ELIMIT',
      `zstd frame at compressed offset ${this.frameStart} needs a ${mebibytes(window)} window, more than the ${mebibytes(this.maxWindow)} ` +
        'allowed (the zstd CLI default); decompress it with zstd --memory and recompress without --long',
      { archive: this.name },
    );
  }
}

function mebibytes(bytes: number): string {
  return bytes >= 2 ** 20 ? `${Math.round((bytes / 2 ** 20) * 10) / 10} MiB` : `${bytes} bytes`;
}
