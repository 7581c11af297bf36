import type { TarEntry } from '../tar/tar-entry.js';
import type { EntryKind, IndexEntry } from './layer-index.js';

const KINDS: readonly EntryKind[] = ['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo'];
const KIND_CODE = new Map(KINDS.map((kind, code) => [kind, code]));

/** Numbers kept per member, in this order, in one Float64Array (exact for every integer a tar can hold). */
export const NUMBER_FIELDS = 7; // uid, gid, size, mtimeMs, dataOffset, devmajor, devminor
/** Small integers kept per member in one Uint32Array. */
export const SMALL_FIELDS = 4; // mode, ordinal, uname id, gname id

/** Plain data that rebuilds a layer index: what the index cache stores. */
export interface LayerSnapshot {
  memberCount: number;
  whiteoutCount: number;
  tarEnd: number;
  whiteouts: string[];
  opaques: string[];
  /** Owner names, referred to by id from `small`. */
  names: string[];
  paths: string[];
  /** '' for members that are not links. */
  linknames: string[];
  kinds: Uint8Array;
  numbers: Float64Array;
  small: Uint32Array;
  /** Members with xattrs: slot → name → value bytes. */
  xattrs: Array<[number, Record<string, Buffer>]>;
}

/**
 * A layer's member metadata stored column-wise: one typed array per group of numeric fields and
 * interned owner names, instead of one object per member. Entries are materialised only when asked
 * for, which keeps a 100 k-member layer within a few MB and makes persisting it a matter of copying
 * buffers.
 */
export class LayerColumns {
  private paths: string[] = [];
  private linknames: string[] = [];
  private kinds: number[] | Uint8Array = [];
  private numbers: number[] | Float64Array = [];
  private small: number[] | Uint32Array = [];
  private names: string[] = [];
  private readonly nameIds = new Map<string, number>();
  private xattrs = new Map<number, Record<string, Buffer>>();

  get length(): number {
    return this.paths.length;
  }

  push(path: string, kind: EntryKind, member: TarEntry, linkname: string, ordinal: number): void {
    const slot = this.paths.length;
    this.paths.push(path);
    this.linknames.push(linkname);
    (this.kinds as number[]).push(KIND_CODE.get(kind) as number);
    (this.numbers as number[]).push(
      member.uid,
      member.gid,
      kind === 'file' ? member.size : 0,
      member.mtimeMs,
      member.dataOffset,
      member.devmajor,
      member.devminor,
    );
    (this.small as number[]).push(member.mode & 0o7777, ordinal, this.nameId(member.uname), this.nameId(member.gname));
    if (Object.keys(member.xattrs).length > 0) this.xattrs.set(slot, member.xattrs);
  }

  /** Ends building: growable arrays become typed arrays. Returns this. */
  seal(): this {
    this.kinds = Uint8Array.from(this.kinds);
    this.numbers = Float64Array.from(this.numbers);
    this.small = Uint32Array.from(this.small);
    return this;
  }

  static fromSnapshot(snapshot: LayerSnapshot): LayerColumns {
    const columns = new LayerColumns();
    columns.paths = snapshot.paths;
    columns.linknames = snapshot.linknames;
    columns.kinds = snapshot.kinds;
    columns.numbers = snapshot.numbers;
    columns.small = snapshot.small;
    columns.names = snapshot.names;
    columns.xattrs = new Map(snapshot.xattrs);
    return columns;
  }

  /** The given slots only (the live ones), renumbered densely. */
  snapshot(
    slots: number[],
    rest: Pick<LayerSnapshot, 'whiteouts' | 'opaques' | 'memberCount' | 'whiteoutCount' | 'tarEnd'>,
  ): LayerSnapshot {
    slots.sort((a, b) => a - b);
    const kinds = new Uint8Array(slots.length);
    const numbers = new Float64Array(slots.length * NUMBER_FIELDS);
    const small = new Uint32Array(slots.length * SMALL_FIELDS);
    const xattrs: Array<[number, Record<string, Buffer>]> = [];
    slots.forEach((slot, dense) => {
      kinds[dense] = this.kinds[slot] as number;
      for (let f = 0; f < NUMBER_FIELDS; f++) numbers[dense * NUMBER_FIELDS + f] = this.numbers[slot * NUMBER_FIELDS + f] as number;
      for (let f = 0; f < SMALL_FIELDS; f++) small[dense * SMALL_FIELDS + f] = this.small[slot * SMALL_FIELDS + f] as number;
      const own = this.xattrs.get(slot);
      if (own !== undefined) xattrs.push([dense, own]);
    });
    return {
      ...rest,
      names: this.names,
      paths: slots.map((slot) => this.paths[slot] as string),
      linknames: slots.map((slot) => this.linknames[slot] as string),
      kinds,
      numbers,
      small,
      xattrs,
    };
  }

  path(slot: number): string {
    return this.paths[slot] as string;
  }

  kind(slot: number): EntryKind {
    return KINDS[this.kinds[slot] as number] as EntryKind;
  }

  entry(slot: number): IndexEntry {
    const n = slot * NUMBER_FIELDS;
    const s = slot * SMALL_FIELDS;
    const numbers = this.numbers;
    const small = this.small;
    return {
      path: this.paths[slot] as string,
      kind: this.kind(slot),
      mode: small[s] as number,
      ordinal: small[s + 1] as number,
      uname: this.names[small[s + 2] as number] as string,
      gname: this.names[small[s + 3] as number] as string,
      uid: numbers[n] as number,
      gid: numbers[n + 1] as number,
      size: numbers[n + 2] as number,
      mtimeMs: numbers[n + 3] as number,
      dataOffset: numbers[n + 4] as number,
      devmajor: numbers[n + 5] as number,
      devminor: numbers[n + 6] as number,
      linkname: this.linknames[slot] as string,
      xattrs: this.xattrs.get(slot) ?? {},
    };
  }

  private nameId(name: string): number {
    let id = this.nameIds.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.nameIds.set(name, id);
    }
    return id;
  }
}
