import { BLOCK_SIZE } from './header.js';
import type { HeaderWindow } from './header-window.js';
import { parseNumeric } from './large-numbers.js';
import { tarCorrupt, tarLimit, tarTruncated, type TarLocation } from './tar-errors.js';

/**
 * Where a sparse file's data lies. The archive stores only the data regions, one after the other; the
 * rest of the file (the holes) reads as zeros. This is what GNU tar, Go and Docker extract.
 */
export interface SparseMap {
  /** The file's logical size, holes included. */
  realSize: number;
  /** Data regions as flat `offset, length` pairs, ascending and non-overlapping. */
  regions: number[];
}

/** Old GNU 'S' header: four map entries of 12 + 12 bytes at 386, `isextended` at 482, `realsize` at 483. */
const HEADER_MAP_AT = 386;
const HEADER_MAP_ENTRIES = 4;
const HEADER_EXTENDED_AT = 482;
const REAL_SIZE_AT = 483;
/** Each extension block: 21 entries, then `isextended` at 504. */
const EXTENSION_ENTRIES = 21;
const EXTENSION_EXTENDED_AT = 504;

/**
 * Reads an old GNU sparse ('S') map: the header's own entries, then extension blocks for as long as
 * each says another follows. Returns the map and where the data starts. The extension blocks are
 * bounded by `maxBytes` like any other metadata (a hostile chain could otherwise run to the end).
 */
export async function readOldGnuSparse(
  header: Buffer,
  window: HeaderWindow,
  dataStart: number,
  maxBytes: number,
  where: TarLocation,
): Promise<{ map: SparseMap; dataOffset: number }> {
  const regions: number[] = [];
  const number = (block: Buffer, at: number, what: string, location: TarLocation): number =>
    parseNumeric(block.subarray(at, at + 12), what, location);
  const collect = (block: Buffer, from: number, count: number, location: TarLocation): void => {
    for (let i = 0; i < count; i++) {
      const at = from + i * 24;
      // The map ends at the first entry whose offset field starts with NUL (GNU, BSD tar and Go agree).
      if (block[at] === 0) return;
      regions.push(number(block, at, 'sparse offset', location), number(block, at + 12, 'sparse length', location));
    }
  };
  collect(header, HEADER_MAP_AT, HEADER_MAP_ENTRIES, where);
  const realSize = number(header, REAL_SIZE_AT, 'sparse real size', where);
  let more = header[HEADER_EXTENDED_AT] !== 0;
  let pos = dataStart;
  while (more) {
    if (pos - dataStart >= maxBytes) throw tarLimit('GNU sparse map', pos - dataStart + BLOCK_SIZE, 'maxPaxSize', maxBytes, where);
    const block = await window.read(pos, BLOCK_SIZE);
    if (block.length < BLOCK_SIZE) {
      throw tarTruncated(where.archive, pos + block.length, `GNU sparse extension block at offset ${pos} is cut short`);
    }
    collect(block, 0, EXTENSION_ENTRIES, { archive: where.archive, offset: pos });
    more = block[EXTENSION_EXTENDED_AT] !== 0;
    pos += BLOCK_SIZE;
  }
  return { map: { realSize, regions }, dataOffset: pos };
}

/**
 * Reads a GNU PAX 1.0 sparse map from the start of an entry's data: decimal lines (the region count,
 * then an offset and a length per region), padded to whole blocks. Returns the regions and the bytes
 * the map takes, after which the stored regions follow.
 */
export async function readSparseMap1x0(
  window: HeaderWindow,
  dataStart: number,
  storedSize: number,
  maxBytes: number,
  where: TarLocation,
): Promise<{ regions: number[]; mapBytes: number }> {
  const blocks: Buffer[] = [];
  let read = 0;
  let newlines = 0;
  let wanted: number | undefined;
  // Block by block until the count line, then all 2 × count lines, are complete; one split at the end.
  while (wanted === undefined || newlines < wanted) {
    if (read >= storedSize) throw tarCorrupt('GNU sparse 1.0 map runs past the entry’s data', where);
    if (read >= maxBytes) throw tarLimit('GNU sparse map', read + BLOCK_SIZE, 'maxPaxSize', maxBytes, where);
    const block = await window.read(dataStart + read, BLOCK_SIZE);
    if (block.length < BLOCK_SIZE) {
      throw tarTruncated(where.archive, dataStart + read + block.length, 'GNU sparse 1.0 map is cut short');
    }
    read += BLOCK_SIZE;
    blocks.push(Buffer.from(block));
    for (const byte of block) if (byte === 0x0a) newlines++;
    if (wanted === undefined && newlines > 0) {
      const first = Buffer.concat(blocks).toString('latin1');
      wanted = 1 + 2 * decimal(first.slice(0, first.indexOf('\n')), 'region count', where);
    }
  }
  const lines = Buffer.concat(blocks).toString('latin1').split('\n', wanted);
  const regions = lines.slice(1).map((line) => decimal(line, 'sparse map entry', where));
  return { regions, mapBytes: read };
}

/**
 * Checks a map as Go's reader does (and BSD tar): regions ascending, not overlapping, inside the real
 * size; and, as Go finds out when it reads the data, that the regions add up to the bytes stored.
 */
export function checkSparseMap(map: SparseMap, storedSize: number, where: TarLocation): void {
  const { regions, realSize } = map;
  let previousEnd = 0;
  let total = 0;
  for (let i = 0; i < regions.length; i += 2) {
    const offset = regions[i] as number;
    const length = regions[i + 1] as number;
    if (offset < 0 || length < 0) throw tarCorrupt('GNU sparse map holds a negative number', where);
    if (offset < previousEnd) throw tarCorrupt('GNU sparse map regions overlap or are out of order', where);
    if (offset + length > realSize) {
      throw tarCorrupt(`GNU sparse map region ${offset}+${length} runs past the file size ${realSize}`, where);
    }
    previousEnd = offset + length;
    total += length;
  }
  if (total !== storedSize) {
    throw tarCorrupt(`GNU sparse map covers ${total} bytes but the entry stores ${storedSize}`, where);
  }
}

function decimal(text: string, what: string, where: TarLocation): number {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value)) {
    throw tarCorrupt(`invalid GNU sparse ${what} ${JSON.stringify(text.slice(0, 40))}`, where);
  }
  return value;
}
