import { isAscii } from 'node:buffer';
import { latin1Slice, nameFromBytes, nameToBytes } from '../tar/name-bytes.js';

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
  /** Optional: the end of the run of names from `first` on that share its parent directory. */
  parentRunEnd?(first: number): number;
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
    /** Some name holds a NUL byte itself (a PAX path may): the column cannot be stored as it is. */
    readonly holdsNul = false,
  ) {
    this.ascii = isAscii(bytes);
  }

  /** The bytes and starts, as an index file stores them. */
  stored(): { bytes: Buffer; starts: Uint32Array } {
    return { bytes: this.bytes, starts: this.starts };
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

  /** Whether each name sorts strictly after the one before it, in code unit order (the path column's). */
  strictlyAscending(): boolean {
    if (!this.ascii) {
      const names = nameList(this);
      for (let i = 1; i < names.length; i++) if ((names[i - 1] as string) >= (names[i] as string)) return false;
      return true;
    }
    // ASCII: code unit order is byte order, compared in place (natively: sorted neighbours share long
    // prefixes) without decoding a name.
    const { bytes, starts } = this;
    for (let i = 1; i < this.length; i++) {
      const previous = starts[i - 1] as number;
      const start = starts[i] as number;
      if (bytes.compare(bytes, start, (starts[i + 1] as number) - 1, previous, start - 1) >= 0) return false;
    }
    return true;
  }

  /**
   * The end of the run of names from `first` on whose parent directory is `first`'s, compared as bytes
   * (no name decoded; '/' never occurs inside a multi-byte sequence, so this holds for any name).
   */
  parentRunEnd(first: number): number {
    const { bytes, starts } = this;
    const start = starts[first] as number;
    const length = parentLength(bytes, start, (starts[first + 1] as number) - 1);
    let next = first + 1;
    for (; next < this.length; next++) {
      const at = starts[next] as number;
      if (parentLength(bytes, at, (starts[next + 1] as number) - 1) !== length) break;
      if (length > 0 && bytes.compare(bytes, start, start + length, at, at + length) !== 0) break;
    }
    return next;
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
    const start = this.starts[slot] as number;
    // Natively: sorted neighbours share long prefixes (10 kB in a 5 000-deep tree).
    return this.bytes.compare(keyBytes, 0, keyLength, start, (this.starts[slot + 1] as number) - 1);
  }
}

/**
 * Collects a column's names as bytes while a layer is walked, so that no name is kept as a string: a
 * million names would otherwise sit in V8's old generation (~60 B each against ~36 here) and be marked
 * by every full collection. Grown by doubling; `seal` gives the exact column.
 */
export class NameColumnBuilder {
  private bytes: Buffer = Buffer.allocUnsafe(64 * 1024);
  private starts = new Uint32Array(1024);
  private used = 0;
  private count = 0;
  private holdsNul = false;

  get length(): number {
    return this.count;
  }

  push(name: string): void {
    this.open(3 * name.length);
    if (name !== '') {
      // The encoder itself: `write(name, at, 'utf8')` checks and sorts its arguments in JavaScript
      // first, which cost more than the copy for a path (twice per member, in a cold walk's interpreter).
      let written = utf8Write.call(this.bytes, name, this.used);
      // Not ASCII: a name may keep raw bytes as escapes (name-bytes.ts), which UTF-8 would turn into U+FFFD.
      if (written !== name.length) written = nameToBytes(name).copy(this.bytes, this.used);
      if (name.includes('\0')) this.holdsNul = true;
      this.used += written;
    }
    this.bytes[this.used++] = 0;
  }

  /**
   * Pushes the name whose bytes (no NUL among them) are `source[start, end)`, copied as they are: the
   * plain-member lane's link names, which never were strings.
   */
  pushBytes(source: Uint8Array, start: number, end: number): void {
    this.open(end - start);
    const bytes = this.bytes;
    let used = this.used;
    // Names are short: a loop costs less than a native copy's call.
    for (let i = start; i < end; i++) bytes[used++] = source[i] as number;
    bytes[used++] = 0;
    this.used = used;
  }

  /**
   * Pushes `count` names staged elsewhere (plain-member-kernel.ts), in bulk: their bytes, each with its
   * NUL, and where each starts in this column (staged knowing `end`; no push came between).
   */
  pushStaged(bytes: Uint8Array, starts: Uint32Array, count: number): void {
    this.room(bytes.length, count);
    this.bytes.set(bytes, this.used);
    this.starts.set(starts.subarray(0, count), this.count);
    this.count += count;
    this.used += bytes.length;
  }

  /**
   * Room for `length` bytes after the last name: the buffer to write the next one into, from `end`
   * on, before `commit` pushes it. Lets the plain-member lane copy a name from its header once.
   */
  reserve(length: number): Buffer {
    this.room(length, 0);
    return this.bytes;
  }

  /** Where the next name's bytes go (see `reserve`). */
  get end(): number {
    return this.used;
  }

  /** Pushes the name written at `[from, to)` of the reserved room, moved to its start when `from` is past it. */
  commit(from: number, to: number): void {
    this.open(to - from);
    if (from > this.used) this.bytes.copyWithin(this.used, from, to);
    this.used += to - from;
    this.bytes[this.used++] = 0;
  }

  /**
   * The names pushed so far, as they lie: name `i` is `bytes[starts[i], starts[i + 1] - 1)` (each ends
   * one byte, its NUL, before the next starts), for `i` below `length`. Valid until the next push.
   */
  layout(): { bytes: Buffer; starts: Uint32Array } {
    this.starts[this.count] = this.used;
    return { bytes: this.bytes, starts: this.starts };
  }

  /** Bytes `[start, end)` of the names pushed so far, as Latin-1 text (ASCII names: their text). */
  latin1(start: number, end: number): string {
    return latin1Slice.call(this.bytes, start, end);
  }

  /** Starts the next name, with room for `length` bytes and its NUL. */
  private open(length: number): void {
    this.room(length, 1);
    this.starts[this.count++] = this.used;
  }

  /**
   * Room for `length` more bytes and a NUL, and for `names` more names' starts and the end's (the
   * `starts` entry `layout` and `seal` write after the last name).
   */
  private room(length: number, names: number): void {
    if (this.used + length + 1 > this.bytes.length) this.bytes = grown(this.bytes, this.used, this.used + length + 1);
    if (this.count + names + 1 > this.starts.length) {
      const starts = new Uint32Array(Math.max(this.starts.length * 2, this.count + names + 1));
      starts.set(this.starts);
      this.starts = starts;
    }
  }

  seal(): EncodedNames {
    const end = Math.max(0, this.used - 1); // without the last name's NUL
    const starts = this.starts.slice(0, this.count + 1);
    starts[this.count] = end + 1;
    return new EncodedNames(Buffer.from(this.bytes.subarray(0, end)), starts, this.holdsNul);
  }
}

/** Node's UTF-8 encoder into a buffer at an offset (there is room: callers grow the buffer first). */
const utf8Write = (Buffer.prototype as unknown as { utf8Write: (this: Buffer, text: string, offset: number) => number }).utf8Write;

function grown(bytes: Buffer, used: number, needed: number): Buffer {
  const to = Buffer.allocUnsafe(Math.max(bytes.length * 2, needed));
  bytes.copy(to, 0, 0, used);
  return to;
}

const SLASH = 0x2f;

/** The length of the parent directory's part of the name in bytes [start, end): up to its last '/'. */
function parentLength(bytes: Buffer, start: number, end: number): number {
  for (let i = end - 1; i >= start; i--) if (bytes[i] === SLASH) return i - start;
  return 0;
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
