import type { TarEntry, TarEntryType } from '../tar/tar-entry.js';
import { ImgfsError } from '../errors.js';
import { ancestorsOf, baseName, classifyName, normalizeEntryName, parentOf, ROOT } from './entry-name.js';
import { LayerColumns, type LayerSnapshot } from './layer-columns.js';

/** Entry kinds of a layer; hard links stay links here, the merge resolves them (R7). */
export type EntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface IndexEntry {
  /** Normalised (R1), root-relative, '' for the root. */
  readonly path: string;
  readonly kind: EntryKind;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Symlink: the target as stored. Hard link: the normalised target path. Otherwise ''. */
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  readonly xattrs: Record<string, Buffer>;
  /** Where the content starts in the layer's uncompressed tar stream. */
  readonly dataOffset: number;
  /**
   * Position among the layer's members. Unique within the layer, so (layer, ordinal) identifies a
   * member: entries are materialised on demand and are not compared by object identity.
   */
  readonly ordinal: number;
}

/** Why a layer keeps a lower layer's copy of a path out of the merged view. */
export type HideReason = 'whiteout' | 'opaque' | 'replaced';

export interface LayerIndexOptions {
  /** ELIMIT beyond this many members (default 5 000 000). */
  maxEntries?: number | undefined;
  onWarning?: ((message: string) => void) | undefined;
  /** Named in warnings and errors. */
  label?: string | undefined;
}

const kindOfType: Partial<Record<TarEntryType, EntryKind>> = {
  file: 'file',
  directory: 'dir',
  symlink: 'symlink',
  hardlink: 'hardlink',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};

/**
 * One layer's table: what the layer adds (R2: the last member for a path wins), which lower paths it
 * whites out (R3), which directories it makes opaque (R4), and the directories it implies by having
 * descendants under them (R6). It knows nothing of other layers. Member metadata is kept in columns
 * (see layer-columns.ts) so that a 100 k-member layer stays small and persists as a few buffers.
 */
export class LayerIndex {
  private readonly slots = new Map<string, number>();
  private readonly implicitDirs = new Set<string>();
  private readonly childNames = new Map<string, string[]>();

  private constructor(
    private readonly columns: LayerColumns,
    private readonly whiteouts: Set<string>,
    private readonly opaques: Set<string>,
    /** Members read from the tar, whiteouts and markers included. */
    readonly memberCount: number,
    /** Whiteout and opaque-marker members. */
    readonly whiteoutCount: number,
    /** End of the last member's data: the tar stream's length without its end blocks. */
    readonly tarEnd: number,
  ) {}

  static async build(members: AsyncIterable<TarEntry>, options: LayerIndexOptions = {}): Promise<LayerIndex> {
    const maxEntries = options.maxEntries ?? 5_000_000;
    const label = options.label ?? 'layer';
    const columns = new LayerColumns();
    const whiteouts = new Set<string>();
    const opaques = new Set<string>();
    let memberCount = 0;
    let whiteoutCount = 0;
    let tarEnd = 0;
    for await (const member of members) {
      if (memberCount >= maxEntries) {
        throw new ImgfsError('ELIMIT', `layer has more than ${maxEntries} entries; raise the limit with option maxEntries`, {
          offset: member.headerOffset,
        });
      }
      const ordinal = memberCount++;
      tarEnd = Math.max(tarEnd, member.dataOffset + member.size);
      const path = normalizeEntryName(member.name);
      const role = classifyName(path);
      if (role.role !== 'path') {
        whiteoutCount++;
        if (role.role === 'whiteout') whiteouts.add(role.hides);
        else if (role.role === 'opaque') opaques.add(role.dir);
        continue;
      }
      const kind = kindOfType[member.type];
      if (kind === undefined) {
        options.onWarning?.(`${label}: ${member.name}: unsupported tar entry type '${member.typeflag}' skipped`);
        continue;
      }
      // The root can only ever be a directory; a non-directory member named `./` is meaningless.
      if (path === ROOT && kind !== 'dir') continue;
      const link = kind === 'hardlink' ? normalizeEntryName(member.linkname) : kind === 'symlink' ? member.linkname : '';
      columns.push(path, kind, member, link, ordinal);
    }
    const index = new LayerIndex(columns.seal(), whiteouts, opaques, memberCount, whiteoutCount, tarEnd);
    index.derive((message) => options.onWarning?.(`${label}: ${message}`));
    return index;
  }

  /** Rebuilds an index from what `snapshot()` produced (the persisted index cache). */
  static fromSnapshot(snapshot: LayerSnapshot): LayerIndex {
    const index = new LayerIndex(
      LayerColumns.fromSnapshot(snapshot),
      new Set(snapshot.whiteouts),
      new Set(snapshot.opaques),
      snapshot.memberCount,
      snapshot.whiteoutCount,
      snapshot.tarEnd,
    );
    index.derive(() => {});
    return index;
  }

  /** Everything needed to rebuild this index without reading the layer again; live members only. */
  snapshot(): LayerSnapshot {
    return this.columns.snapshot([...this.slots.values()], {
      whiteouts: [...this.whiteouts],
      opaques: [...this.opaques],
      memberCount: this.memberCount,
      whiteoutCount: this.whiteoutCount,
      tarEnd: this.tarEnd,
    });
  }

  /**
   * R2 (the later member wins), then drops members that could not exist on a real filesystem, then
   * derives implicit parents (R6) and per-directory listings.
   */
  private derive(warn: (message: string) => void): void {
    for (let slot = 0; slot < this.columns.length; slot++) this.slots.set(this.columns.path(slot), slot);
    for (const path of [...this.slots.keys()]) {
      for (const ancestor of ancestorsOf(path)) {
        const holder = this.slots.get(ancestor);
        if (holder !== undefined && this.columns.kind(holder) !== 'dir') {
          // Extracting this member would need a directory where this same layer put something else.
          warn(`/${path} dropped: /${ancestor} is a ${this.columns.kind(holder)} in the same layer`);
          this.slots.delete(path);
          break;
        }
      }
    }
    const listed = new Map<string, Set<string>>();
    const register = (path: string): void => {
      const parent = parentOf(path);
      let names = listed.get(parent);
      if (names === undefined) listed.set(parent, (names = new Set()));
      names.add(baseName(path));
    };
    for (const path of this.slots.keys()) {
      if (path === ROOT) continue;
      register(path);
      for (const ancestor of ancestorsOf(path)) {
        if (this.implicitDirs.has(ancestor)) break; // its own ancestors were registered with it
        if (!this.slots.has(ancestor)) this.implicitDirs.add(ancestor);
        register(ancestor);
      }
    }
    for (const [dir, names] of listed) this.childNames.set(dir, [...names]);
  }

  /** The member this layer has for `path`, if any (never a whiteout). */
  get(path: string): IndexEntry | undefined {
    const slot = this.slots.get(path);
    return slot === undefined ? undefined : this.columns.entry(slot);
  }

  /** The kind of the member at `path` without materialising it; the merge's hot path. */
  kindAt(path: string): EntryKind | undefined {
    const slot = this.slots.get(path);
    return slot === undefined ? undefined : this.columns.kind(slot);
  }

  /** True when the layer has no member for `path` but has members below it (R6). */
  impliesDir(path: string): boolean {
    return path === ROOT ? this.slots.size > 0 : this.implicitDirs.has(path);
  }

  isOpaque(dir: string): boolean {
    return this.opaques.has(dir);
  }

  /**
   * Whether this layer keeps the lower layers' copy of `path` out of the merged view: a whiteout for it
   * or an ancestor (R3), an opaque ancestor (R4), or a non-directory ancestor here (R5). What the layer
   * has at `path` itself is the caller's business: a layer never hides its own members.
   */
  hidesBelow(path: string): HideReason | undefined {
    if (path === ROOT) return undefined;
    if (this.whiteouts.has(path)) return 'whiteout';
    for (const ancestor of ancestorsOf(path)) {
      if (this.whiteouts.has(ancestor)) return 'whiteout';
      if (this.opaques.has(ancestor)) return 'opaque';
      const kind = this.kindAt(ancestor);
      if (kind !== undefined && kind !== 'dir') return 'replaced';
    }
    if (this.opaques.has(ROOT)) return 'opaque';
    return undefined;
  }

  /** Names this layer puts directly in `dir` (members and implied directories), unordered. */
  childrenOf(dir: string): readonly string[] {
    return this.childNames.get(dir) ?? [];
  }

  /** Paths this layer whites out (R3). */
  whiteoutPaths(): Iterable<string> {
    return this.whiteouts;
  }

  opaqueDirs(): Iterable<string> {
    return this.opaques;
  }

  *allEntries(): Generator<IndexEntry> {
    for (const slot of this.slots.values()) yield this.columns.entry(slot);
  }

  /** Visible-in-layer members (after R2), not counting whiteouts. */
  get entryCount(): number {
    return this.slots.size;
  }
}
