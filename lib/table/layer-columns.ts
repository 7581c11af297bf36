import type { SparseMap } from '../tar/sparse-map.js';
import type { TarEntry } from '../tar/tar-entry.js';
import type { EntryKind, TableEntry } from './layer-table.js';
import { nameList, NameColumnBuilder, type NameColumn } from './encoded-names.js';
import { parentOf } from './entry-name.js';
import { NumericColumnBuilder, pickColumn, valueAt, type NumericColumn } from './numeric-column.js';

const KINDS: readonly EntryKind[] = ['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo'];
const KIND_CODE = new Map(KINDS.map((kind, code) => [kind, code]));

/** A kind's code in the kind column (`pushRow`). */
export function kindCode(kind: EntryKind): number {
  return KIND_CODE.get(kind) as number;
}

/** The kind of a code of the kind column. */
export function kindOfCode(code: number): EntryKind {
  return KINDS[code] as EntryKind;
}

/** The numeric fields kept per member, one column each (numeric-column.ts), in this order. */
export const FIELDS = ['uid', 'gid', 'size', 'mtimeMs', 'dataOffset', 'devmajor', 'devminor', 'mode', 'ordinal', 'uname', 'gname'] as const;
const [UID, GID, SIZE, MTIME, OFFSET, DEVMAJOR, DEVMINOR, MODE, ORDINAL, UNAME, GNAME] = FIELDS.map((_, i) => i) as number[] as [number, number, number, number, number, number, number, number, number, number, number];

/** Plain data that rebuilds a layer index: what the index cache stores. */
export interface LayerSnapshot {
  memberCount: number;
  whiteoutCount: number;
  tarEnd: number;
  /** Whited-out paths and opaque directories, each with the ordinal of its first marker (R7 tar order). */
  whiteouts: Array<[path: string, ordinal: number]>;
  opaques: Array<[dir: string, ordinal: number]>;
  /** Directories the layer has no member for but reaches into (see LayerTable.reachedDirs). */
  reachedDirs: string[];
  /** Owner names, referred to by id from `small`. */
  names: string[];
  /** Sorted by `compareCodeUnits`, unique. */
  paths: NameColumn;
  /** '' for members that are not links. */
  linknames: NameColumn;
  kinds: Uint8Array;
  /** One per entry of FIELDS (`uname` and `gname` are ids into `names`). */
  fields: NumericColumn[];
  /** Members with xattrs: slot → name → value bytes. */
  xattrs: Array<[number, Record<string, Buffer>]>;
  /** Sparse files: slot → where their stored regions belong (their size column is the real size). */
  sparse: Array<[number, SparseMap]>;
}

/** The one order of the path column: plain UTF-16 code unit order, cheap and the same at load time. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Collects members while a layer is walked; `seal` turns them into sorted, frozen columns. Numbers go
 * straight into narrow columns (numeric-column.ts; plain arrays of numbers cost twice the memory and a
 * copy at the end), and a layer already in path order (what docker, buildkit and GNU tar write) is
 * sealed without sorting: peak memory stays close to what the finished table keeps.
 */
export class LayerColumnsBuilder {
  private readonly paths = new NameColumnBuilder();
  private readonly linknames = new NameColumnBuilder();
  private kinds = new Uint8Array(1024);
  private readonly fields = FIELDS.map(() => new NumericColumnBuilder());
  private readonly names: string[] = [];
  private readonly nameIds = new Map<string, number>();
  private readonly xattrs = new Map<number, Record<string, Buffer>>();
  /** After `seal`: paths with more than one member (R2), and the ordinal of the first of them. */
  readonly replaced = new Map<string, number>();
  private readonly sparse = new Map<number, SparseMap>();
  /** Rows pushed to `kinds` (the path column counts them too, but gets its name first). */
  private kindCount = 0;
  private lastName: string | undefined;
  private lastNameId = 0;

  push(path: string, kind: EntryKind, member: TarEntry, linkname: string, ordinal: number): void {
    const slot = this.paths.length;
    this.paths.push(path);
    this.linknames.push(linkname);
    const size = kind === 'file' ? (member.sparse?.realSize ?? member.size) : 0;
    const owners = this.ownerId(member.uname);
    this.pushRow(KIND_CODE.get(kind) as number, member.uid, member.gid, size, member.mtimeMs, member.dataOffset, member.devmajor, member.devminor, member.mode, ordinal, owners, this.ownerId(member.gname));
    if (hasAny(member.xattrs)) this.xattrs.set(slot, member.xattrs);
    if (kind === 'file' && member.sparse !== undefined) this.sparse.set(slot, member.sparse);
  }

  /** The kind column so far: its first `pathNames.length` codes (valid until the next push). */
  get kindCodes(): Uint8Array {
    return this.kinds;
  }

  /** The path column, for a member pushed as bytes (`pushRow` then completes it). */
  get pathNames(): NameColumnBuilder {
    return this.paths;
  }

  /** The link name column, for a member pushed as bytes (`pushRow` then completes it). */
  get linkNames(): NameColumnBuilder {
    return this.linknames;
  }

  /**
   * Everything of a member but its names, which the caller has just pushed to `pathNames` and
   * `linkNames`: `kind` as its code (`kindCode`), owner names as ids (`ownerId`), `size` as the table
   * keeps it (0 for anything but a file).
   */
  pushRow(kind: number, uid: number, gid: number, size: number, mtimeMs: number, dataOffset: number, devmajor: number, devminor: number, mode: number, ordinal: number, uname: number, gname: number): void {
    const slot = this.kindCount++;
    if (slot === this.kinds.length) this.grow();
    this.kinds[slot] = kind;
    const fields = this.fields;
    (fields[UID] as NumericColumnBuilder).push(uid);
    (fields[GID] as NumericColumnBuilder).push(gid);
    (fields[SIZE] as NumericColumnBuilder).push(size);
    (fields[MTIME] as NumericColumnBuilder).push(mtimeMs);
    (fields[OFFSET] as NumericColumnBuilder).push(dataOffset);
    (fields[DEVMAJOR] as NumericColumnBuilder).push(devmajor);
    (fields[DEVMINOR] as NumericColumnBuilder).push(devminor);
    (fields[MODE] as NumericColumnBuilder).push(mode & 0o7777);
    (fields[ORDINAL] as NumericColumnBuilder).push(ordinal);
    (fields[UNAME] as NumericColumnBuilder).push(uname);
    (fields[GNAME] as NumericColumnBuilder).push(gname);
  }

  /**
   * `pushRow` of `count` rows staged elsewhere (plain-member-kernel.ts), in bulk, after their names:
   * their kind codes, the first nine fields (uid to ordinal, in FIELDS order) each with its largest
   * value and whether all are the same, and one uname and gname id for them all.
   */
  pushStagedRows(kinds: Uint8Array, fields: readonly StagedField[], uname: number, gname: number, count: number): void {
    while (this.kindCount + count > this.kinds.length) this.grow();
    this.kinds.set(kinds.subarray(0, count), this.kindCount);
    this.kindCount += count;
    fields.forEach(({ values, largest, same }, field) => (this.fields[field] as NumericColumnBuilder).pushStaged(values, count, largest, same));
    (this.fields[UNAME] as NumericColumnBuilder).pushRepeated(uname, count);
    (this.fields[GNAME] as NumericColumnBuilder).pushRepeated(gname, count);
  }

  /**
   * Sorts by path and keeps, of members sharing a path, the last one in the tar (R2). The result is
   * the column store in its final form. `ascending`: the caller saw every path come strictly after the
   * one before it, so there is nothing to sort or check.
   */
  seal(ascending = false): LayerColumns {
    const count = this.paths.length;
    const paths = this.paths.seal();
    const data: ColumnData = {
      names: this.names,
      paths,
      linknames: this.linknames.seal(),
      kinds: this.kinds.slice(0, count),
      fields: this.fields.map((field) => field.seal()),
      xattrs: [...this.xattrs],
      sparse: [...this.sparse],
    };
    if (ascending || paths.strictlyAscending()) return new LayerColumns(data);
    // Out of order (a tar written in directory order): sorted as strings, decoded once.
    const list = nameList(paths);
    const order = Array.from({ length: count }, (_, slot) => slot);
    // Ties broken by position, so the last member of a group is the latest in the tar.
    order.sort((a, b) => compareCodeUnits(list[a] as string, list[b] as string) || a - b);
    const kept = order.filter((slot, i) => list[slot] !== list[order[i + 1] as number]);
    for (let i = 0; i + 1 < order.length; i++) {
      const path = list[order[i] as number] as string;
      if (path === list[order[i + 1] as number] && !this.replaced.has(path)) {
        this.replaced.set(path, valueAt(data.fields[ORDINAL] as NumericColumn, order[i] as number));
      }
    }
    return pick({ ...data, paths: list }, kept);
  }

  /** Doubles the kind column's capacity. */
  private grow(): void {
    const grown = new Uint8Array(this.kinds.length * 2);
    grown.set(this.kinds);
    this.kinds = grown;
  }

  /** The id of an owner name in the table's list of them (added at its first use). */
  ownerId(name: string): number {
    // Most members share one or two owner names: the last one answered is checked first.
    if (name === this.lastName) return this.lastNameId;
    let id = this.nameIds.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.nameIds.set(name, id);
    }
    this.lastName = name;
    this.lastNameId = id;
    return id;
  }
}

/** A staged field (`pushStagedRows`): its values, the largest of them, whether all are the same. */
export interface StagedField {
  values: Float64Array;
  largest: number;
  same: boolean;
}

/** Whether an object has any own key, without listing them (one array per member otherwise). */
function hasAny(record: Record<string, unknown>): boolean {
  for (const key in record) if (Object.hasOwn(record, key)) return true;
  return false;
}

type ColumnData = Pick<LayerSnapshot, 'names' | 'paths' | 'linknames' | 'kinds' | 'fields' | 'xattrs' | 'sparse'>;

/**
 * A layer's member metadata, column-wise and sorted by path: one narrow column per numeric field
 * and interned owner names instead of one object per member, found by binary search instead
 * of a hash map. A 100 k-member layer stays within a few MB, a directory's subtree is one contiguous
 * run of the path column, and persisting or loading it is a matter of copying buffers: no per-member
 * work at all when an index comes from the cache.
 */
export class LayerColumns {
  private readonly xattrsBySlot: Map<number, Record<string, Buffer>>;
  private readonly sparseBySlot: Map<number, SparseMap>;

  constructor(private readonly data: ColumnData) {
    this.xattrsBySlot = new Map(data.xattrs);
    this.sparseBySlot = new Map(data.sparse);
  }

  get length(): number {
    return this.data.paths.length;
  }

  /** Slot of `path`, or -1. */
  find(path: string): number {
    const fast = this.data.paths.slotOf?.(path);
    if (fast !== undefined) return fast;
    const at = this.lowerBound(path);
    return this.data.paths.at(at) === path ? at : -1;
  }

  /** First slot whose path is not below `key` in code unit order. */
  lowerBound(key: string): number {
    const paths = this.data.paths;
    const fast = paths.seek?.(key);
    if (fast !== undefined) return fast;
    let low = 0;
    let high = paths.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((paths.at(middle) as string) < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  path(slot: number): string {
    return this.data.paths.at(slot) as string;
  }

  kind(slot: number): EntryKind {
    return KINDS[this.data.kinds[slot] as number] as EntryKind;
  }

  entry(slot: number): TableEntry {
    const { fields, names } = this.data;
    const field = (index: number): number => valueAt(fields[index] as NumericColumn, slot);
    return {
      sparse: this.sparseBySlot.get(slot),
      path: this.data.paths.at(slot) as string,
      kind: this.kind(slot),
      mode: field(MODE),
      ordinal: field(ORDINAL),
      uname: names[field(UNAME)] as string,
      gname: names[field(GNAME)] as string,
      uid: field(UID),
      gid: field(GID),
      size: field(SIZE),
      mtimeMs: field(MTIME),
      dataOffset: field(OFFSET),
      devmajor: field(DEVMAJOR),
      devminor: field(DEVMINOR),
      linkname: this.data.linknames.at(slot) as string,
      xattrs: this.xattrsBySlot.get(slot) ?? {},
    };
  }

  /**
   * Calls `visit` for each run of consecutive slots whose paths share a parent directory, with that
   * directory: the table's checks that go by parent decode one name per run, not one per member.
   */
  forEachParentRun(visit: (parent: string, first: number, end: number) => void): void {
    const paths = this.data.paths;
    for (let first = 0; first < this.length; ) {
      const parent = parentOf(this.path(first));
      let end = paths.parentRunEnd?.(first) ?? first + 1;
      if (paths.parentRunEnd === undefined) while (end < this.length && parentOf(this.path(end)) === parent) end++;
      visit(parent, first, end);
      first = end;
    }
  }

  columnData(): ColumnData {
    return this.data;
  }

  /** A copy without the given slots (members the index decided cannot exist). */
  without(dropped: ReadonlySet<number>): LayerColumns {
    const kept = Array.from({ length: this.length }, (_, slot) => slot).filter((slot) => !dropped.has(slot));
    return pick(this.data, kept);
  }
}

/** The given rows of a column set, in the given order, as a new LayerColumns. */
function pick(data: ColumnData, slots: readonly number[]): LayerColumns {
  const kinds = new Uint8Array(slots.length);
  const xattrsBySlot = new Map(data.xattrs);
  const xattrs: Array<[number, Record<string, Buffer>]> = [];
  const sparseBySlot = new Map(data.sparse);
  const sparse: Array<[number, SparseMap]> = [];
  slots.forEach((slot, dense) => {
    kinds[dense] = data.kinds[slot] as number;
    const own = xattrsBySlot.get(slot);
    if (own !== undefined) xattrs.push([dense, own]);
    const map = sparseBySlot.get(slot);
    if (map !== undefined) sparse.push([dense, map]);
  });
  return new LayerColumns({
    names: data.names,
    paths: slots.map((slot) => data.paths.at(slot) as string),
    linknames: slots.map((slot) => data.linknames.at(slot) as string),
    kinds,
    fields: data.fields.map((column) => pickColumn(column, slots)),
    xattrs,
    sparse,
  });
}
