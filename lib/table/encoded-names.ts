import { isAscii } from 'node:buffer';
import { nameFromBytes } from '../tar/name-bytes.js';

/**
 * A column of names (paths, link targets): an array of strings while a layer is built; its encoded
 * bytes as the index cache stores them (EncodedNames) once loaded from there. Both answer `at`.
 */
export interface NameColumn {
  readonly length: number;
  at(slot: number): string | undefined;
  /**
   * Optional binary searches that compare the stored bytes in place (no name decoded): the first slot
   * whose name is not below `key`, and the slot of `key` or -1; undefined when only decoding can tell.
   */
  seek?(key: string): number | undefined;
  slotOf?(key: string): number | undefined;
}

/** The names of a column as an array (a copy only for an encoded column). */
export function nameList(column: NameColumn): readonly string[] {
  return Array.isArray(column) ? (column as readonly string[]) : Array.from({ length: column.length }, (_, slot) => column.at(slot) as string);
}

/**
 * Names kept as the bytes the index cache stores (NUL-separated, with the start of each), decoded one
 * at a time when a question reaches them: a warm lookup in a million-entry layer binary-searches ~20
 * names instead of decoding a million strings (and leaving them to the GC).
 */
export class EncodedNames implements NameColumn {
  /** All bytes are ASCII: a name decodes by latin1 (the fastest), and byte order is code unit order. */
  private readonly ascii: boolean;

  constructor(
    private readonly bytes: Buffer,
    /** `starts[i]` is where name i begins; `starts[length]` is `bytes.length + 1` (each name ends one byte, its NUL, before the next starts). */
    private readonly starts: Uint32Array,
  ) {
    this.ascii = isAscii(bytes);
  }

  get length(): number {
    return this.starts.length - 1;
  }

  at(slot: number): string | undefined {
    if (slot < 0 || slot >= this.length) return undefined;
    const start = this.starts[slot] as number;
    const end = (this.starts[slot + 1] as number) - 1;
    if (start === end) return '';
    return this.ascii ? this.bytes.toString('latin1', start, end) : nameFromBytes(this.bytes, start, end);
  }

  seek(key: string): number | undefined {
    const keyLength = this.ascii ? asciiKey(key) : -1;
    return keyLength < 0 ? undefined : this.lowerBound(keyLength);
  }

  slotOf(key: string): number | undefined {
    const keyLength = this.ascii ? asciiKey(key) : -1;
    if (keyLength < 0) return undefined;
    const slot = this.lowerBound(keyLength);
    return slot < this.length && this.compareWithKey(slot, keyLength) === 0 ? slot : -1;
  }

  /** Lower bound of the key in `keyBytes` (see `seek`): byte order is code unit order for ASCII. */
  private lowerBound(keyLength: number): number {
    let low = 0;
    let high = this.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.compareWithKey(middle, keyLength) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The name at `slot` against the key in `keyBytes`: negative, zero or positive. */
  private compareWithKey(slot: number, keyLength: number): number {
    const { bytes, starts } = this;
    const key = keyBytes;
    const start = starts[slot] as number;
    const length = (starts[slot + 1] as number) - 1 - start;
    const common = Math.min(length, keyLength);
    for (let i = 0; i < common; i++) {
      const difference = (bytes[start + i] as number) - (key[i] as number);
      if (difference !== 0) return difference;
    }
    return length - keyLength;
  }
}

/** The bytes of the key being searched for (searches are synchronous: one buffer serves them all). */
let keyBytes = Buffer.allocUnsafe(4096);

/** Puts `key` into `keyBytes` and returns its length, or -1 when it is not ASCII. */
function asciiKey(key: string): number {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit: the write is never cut short.
  if (keyBytes.length < 3 * key.length) keyBytes = Buffer.allocUnsafe(3 * key.length + 4096);
  const length = keyBytes.write(key, 0, 'utf8');
  return length === key.length ? length : -1;
}

/** The starts of the NUL-separated names in `bytes` (`count` of them), for EncodedNames. */
export function nameStarts(bytes: Buffer, count: number): Uint32Array {
  const starts = new Uint32Array(count + 1);
  let at = 0;
  for (let i = 0; i < count; i++) {
    starts[i] = at;
    const nul = bytes.indexOf(0, at);
    at = (nul < 0 ? bytes.length : nul) + 1;
  }
  starts[count] = bytes.length + 1;
  return starts;
}
