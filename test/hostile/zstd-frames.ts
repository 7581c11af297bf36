/**
 * Hand-made zstd frames (RFC 8878 §3.1.1) built from raw and RLE blocks only: every header byte is the
 * test's choice, so a frame can declare any window or content size, and a gigabyte of zeros costs four
 * bytes per 128 KiB block.
 */

export type ZstdBlock = { type: 'raw'; data: Buffer } | { type: 'rle'; byte: number; size: number };

export interface ZstdFrameSpec {
  /**
   * The window descriptor byte (exponent << 3 | mantissa); window = 2^(10+exponent) × (1 + mantissa/8).
   * Default: 128 KiB (0x38). Ignored with `contentSize` in a single segment.
   */
  windowDescriptor?: number;
  /** Single-segment frame of this content size (8-byte field): the window is the content size. */
  singleSegmentSize?: number;
  /** Sets the content-checksum flag and appends these 4 bytes (the decoder checks them: a wrong one is ECOMPRESSION). */
  checksum?: Buffer;
  blocks: ZstdBlock[];
}

/** The window descriptor byte for a window of 2^log bytes. */
export function windowDescriptor(log: number): number {
  return (log - 10) << 3;
}

/** Largest block content (128 KiB). */
export const MAX_BLOCK = 128 * 1024;

export function zstdFrame(spec: ZstdFrameSpec): Buffer {
  const parts: Buffer[] = [];
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(0xfd2fb528, 0);
  parts.push(magic);
  const checksumFlag = spec.checksum === undefined ? 0 : 0x04;
  if (spec.singleSegmentSize !== undefined) {
    // Frame_Content_Size_flag 3 (8 bytes), Single_Segment_flag.
    parts.push(Buffer.from([0xc0 | 0x20 | checksumFlag]));
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(BigInt(spec.singleSegmentSize), 0);
    parts.push(size);
  } else {
    parts.push(Buffer.from([checksumFlag, spec.windowDescriptor ?? windowDescriptor(17)]));
  }
  spec.blocks.forEach((block, i) => {
    const last = i === spec.blocks.length - 1 ? 1 : 0;
    const size = block.type === 'raw' ? block.data.length : block.size;
    const type = block.type === 'raw' ? 0 : 1;
    const header = last | (type << 1) | (size << 3);
    parts.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]));
    parts.push(block.type === 'raw' ? block.data : Buffer.from([block.byte]));
  });
  if (spec.checksum !== undefined) parts.push(spec.checksum);
  return Buffer.concat(parts);
}

/** `bytes` as raw blocks of at most 128 KiB. */
export function rawBlocks(bytes: Buffer): ZstdBlock[] {
  const blocks: ZstdBlock[] = [];
  for (let at = 0; at < bytes.length; at += MAX_BLOCK) blocks.push({ type: 'raw', data: bytes.subarray(at, at + MAX_BLOCK) });
  return blocks;
}

/** `size` zero bytes as RLE blocks (4 compressed bytes per 128 KiB). */
export function zeroBlocks(size: number): ZstdBlock[] {
  const blocks: ZstdBlock[] = [];
  for (let left = size; left > 0; left -= MAX_BLOCK) blocks.push({ type: 'rle', byte: 0, size: Math.min(MAX_BLOCK, left) });
  return blocks;
}
