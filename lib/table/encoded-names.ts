import { isAscii } from 'node:buffer';
import { nameFromBytes } from '../tar/name-bytes.js';

/**
 * A column of names (paths, link targets): an array of strings while a layer is built; its encoded
 * bytes as the index cache stores them (EncodedNames) once loaded from there. Both answer `at`.
 */
export interface NameColumn {
  readonly length: number;
  at(slot: number): string | undefined;
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

  /** Whether each name sorts strictly after the one before it, in code unit order (the path column's). */
  strictlyAscending(): boolean {
    if (!this.ascii) {
      const names = nameList(this);
      for (let i = 1; i < names.length; i++) if ((names[i - 1] as string) >= (names[i] as string)) return false;
      return true;
    }
    // ASCII: code unit order is byte order, compared in place; sorted neighbours share long prefixes,
    // so this costs a few bytes per name and allocates nothing.
    const { bytes, starts } = this;
    for (let i = 1; i < this.length; i++) {
      let a = starts[i - 1] as number;
      let b = starts[i] as number;
      const aEnd = b - 1;
      const bEnd = (starts[i + 1] as number) - 1;
      while (a < aEnd && b < bEnd && bytes[a] === bytes[b]) {
        a++;
        b++;
      }
      const greater = b === bEnd ? true : a === aEnd ? false : (bytes[a] as number) > (bytes[b] as number);
      if (greater) return false;
    }
    return true;
  }
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
