/**
 * One numeric field of a layer's members (uid, size, offset, mode, ...), kept as narrow as its values
 * allow: one number when every member has the same (uid 0, devmajor 0, one mtime for a whole layer),
 * else a typed array of the narrowest type that holds them all, exactly as long as the layer. In a
 * million-entry layer this is ~25 bytes per member where one Float64 per field was 88: what a cold walk
 * keeps in memory and what a warm lookup reads and checks from the index cache both shrink with it.
 */
export type NumericArray = Uint8Array | Uint16Array | Uint32Array | Float64Array;
export type NumericColumn = number | NumericArray;

/** How a column is stored in an index file (snapshot-codec.ts). */
export type ColumnType = 'u8' | 'u16' | 'u32' | 'f64';

export function columnType(values: NumericArray): ColumnType {
  if (values instanceof Uint8Array) return 'u8';
  if (values instanceof Uint16Array) return 'u16';
  if (values instanceof Uint32Array) return 'u32';
  return 'f64';
}

export const COLUMN_ARRAYS: Readonly<Record<ColumnType, { new (length: number): NumericArray; new (buffer: ArrayBufferLike, offset: number, length: number): NumericArray; BYTES_PER_ELEMENT: number }>> = {
  u8: Uint8Array,
  u16: Uint16Array,
  u32: Uint32Array,
  f64: Float64Array,
};

/** The value of `slot` in a column. */
export function valueAt(column: NumericColumn, slot: number): number {
  return typeof column === 'number' ? column : (column[slot] as number);
}

/** The narrowest type that holds `value` exactly. */
function typeFor(value: number): ColumnType {
  if (!Number.isInteger(value) || value < 0 || Object.is(value, -0)) return 'f64';
  if (value <= 0xff) return 'u8';
  if (value <= 0xffff) return 'u16';
  return value <= 0xffff_ffff ? 'u32' : 'f64';
}

/** Per type, the largest value `push` stores without asking `typeFor` (f64: up to 2^32 - 1, as the quick check reads). */
const MAX_QUICK: Readonly<Record<ColumnType, number>> = { u8: 0xff, u16: 0xffff, u32: 0xffff_ffff, f64: 0xffff_ffff };

const WIDTH: Readonly<Record<ColumnType, number>> = { u8: 1, u16: 2, u32: 3, f64: 4 };

/**
 * Collects one field while a layer is walked: a single value until a second one appears, then a typed
 * array that widens when a value does not fit and doubles when full; `seal` gives the exact column.
 */
export class NumericColumnBuilder {
  private first: number | undefined;
  private values: NumericArray | undefined;
  private type: ColumnType = 'u8';
  /** The largest value `values` takes as it is without a check of its own (`push`'s quick case). */
  private max = -1;
  private count = 0;

  push(value: number): void {
    // The usual cases first, without working out a type: the same value again, or a value that fits.
    const values = this.values;
    if (values === undefined) {
      // 0 and -0 are equal but not the same value (typeFor keeps -0 apart): 1 / value tells them apart.
      if (value === this.first && (value !== 0 || 1 / value === 1 / this.first)) {
        this.count++;
        return;
      }
    } else if (this.count < values.length && value <= this.max && (value >>> 0) === value && (value !== 0 || 1 / value > 0)) {
      values[this.count++] = value;
      return;
    }
    this.pushAny(value);
  }

  private pushAny(value: number): void {
    if (this.values === undefined) {
      if (this.count === 0 || Object.is(value, this.first)) {
        this.first ??= value;
        this.count++;
        return;
      }
      this.type = widest(typeFor(this.first as number), typeFor(value));
      this.max = MAX_QUICK[this.type];
      this.values = new COLUMN_ARRAYS[this.type](Math.max(1024, this.count * 2));
      this.values.fill(this.first as number, 0, this.count);
    } else {
      // Wider when the value needs it, longer when full: both can happen at once (ordinal 65 536).
      const type = widest(this.type, typeFor(value));
      const full = this.count === this.values.length;
      if (type !== this.type || full) this.values = this.copied(full ? this.count * 2 : this.values.length, type);
    }
    this.values[this.count++] = value;
  }

  /**
   * `push` of each of `staged[0, count)`, in bulk (plain-member-kernel.ts): the same column, given the
   * largest of them and whether they are all the same. The values are integers from 0 to 2^53 - 1, so
   * `typeFor(largest)` is the widest type any of them needs.
   */
  pushStaged(staged: Float64Array, count: number, largest: number, same: boolean): void {
    if (count === 0) return;
    const first = staged[0] as number;
    if (same && this.values === undefined && (this.count === 0 || Object.is(first, this.first))) {
      this.first ??= first;
      this.count += count;
      return;
    }
    const type = this.values === undefined && this.count > 0 ? widest(typeFor(this.first as number), typeFor(largest)) : typeFor(largest);
    this.room(type, this.count + count).set(staged.subarray(0, count), this.count);
    this.count += count;
  }

  /** `push(value)` `count` times, in bulk. */
  pushRepeated(value: number, count: number): void {
    if (count === 0) return;
    if (this.values === undefined && (this.count === 0 || Object.is(value, this.first))) {
      this.first ??= value;
      this.count += count;
      return;
    }
    const type = this.values === undefined ? widest(typeFor(this.first as number), typeFor(value)) : typeFor(value);
    this.room(type, this.count + count).fill(value, this.count, this.count + count);
    this.count += count;
  }

  /** `values`, at least as wide as `type` and with room for `needed` values in all (made from `first` when there was none). */
  private room(type: ColumnType, needed: number): NumericArray {
    if (this.values === undefined) {
      this.type = type;
      this.max = MAX_QUICK[type];
      this.values = new COLUMN_ARRAYS[type](Math.max(1024, needed * 2));
      if (this.count > 0) this.values.fill(this.first as number, 0, this.count);
      return this.values;
    }
    const wider = widest(this.type, type);
    if (wider !== this.type || needed > this.values.length) this.values = this.copied(Math.max(needed, this.values.length * 2), wider);
    return this.values;
  }

  /** The column, exactly as long as the values pushed (a copy when the array has room to spare). */
  seal(): NumericColumn {
    if (this.values === undefined) return this.first ?? 0;
    return this.values.length === this.count ? this.values : this.values.slice(0, this.count);
  }

  private copied(length: number, type: ColumnType): NumericArray {
    const to = new COLUMN_ARRAYS[type](length);
    to.set((this.values as NumericArray).subarray(0, this.count));
    this.type = type;
    this.max = MAX_QUICK[type];
    return to;
  }
}

function widest(a: ColumnType, b: ColumnType): ColumnType {
  return WIDTH[a] >= WIDTH[b] ? a : b;
}

/** The given slots of a column, in the given order. */
export function pickColumn(column: NumericColumn, slots: readonly number[]): NumericColumn {
  if (typeof column === 'number') return column;
  const picked = new COLUMN_ARRAYS[columnType(column)](slots.length);
  slots.forEach((slot, dense) => (picked[dense] = column[slot] as number));
  return picked;
}
