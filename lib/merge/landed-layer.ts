import type { EntryKind, HideReason, LayerTable, TableEntry } from '../table/layer-table.js';
import { baseName, parentOf, ROOT } from '../table/entry-name.js';

/** What the merge asks of one layer; a LayerTable as read, or a LandedLayer over one. */
export type LayerView = Pick<
  LayerTable,
  'get' | 'kindAt' | 'impliesDir' | 'hidesBelow' | 'isOpaque' | 'childrenOf' | 'hardlinksTo' | 'hardlinkTargets' | 'hasHardlinks' | 'removedBefore' | 'whiteoutPaths' | 'opaqueDirs' | 'allEntries'
>;

/**
 * R6: a layer as it lands on the view below it. When a runtime applies a layer, the parents of each
 * entry are resolved through what is already on disk: where a lower layer left a symlink to a
 * directory (merged-usr bases: `lib -> usr/lib`) and this layer has no entry of its own for it, the
 * entries under it (`lib/x.so`), and its whiteouts and opaque markers, land in that directory
 * (`usr/lib/x.so`), and the symlink stays. `moves` maps each such directory of the layer's own paths
 * to where it lands (a directory path of the view below); everything here translates between the two.
 * Most layers have no moves and are used as they are, without this wrapper.
 */
export class LandedLayer implements LayerView {
  /** Landed directory -> the layer's own directories that land there. */
  private readonly origins = new Map<string, string[]>();
  /** Names the moves add to directories above where they land (`usr` -> `lib` for a move to usr/lib). */
  private readonly passages = new Map<string, Set<string>>();
  private lastPath: string | undefined;
  private lastSources: string[] = [];

  constructor(
    private readonly table: LayerTable,
    private readonly moves: ReadonlyMap<string, string>,
  ) {
    for (const [from, to] of moves) {
      const list = this.origins.get(to);
      if (list === undefined) this.origins.set(to, [from]);
      else list.push(from);
      for (let child = to; child !== ROOT; child = parentOf(child)) {
        const parent = parentOf(child);
        const names = this.passages.get(parent) ?? new Set<string>();
        names.add(baseName(child));
        this.passages.set(parent, names);
      }
    }
  }

  /** Where a path of the layer's own lands. */
  landed(path: string): string {
    return landedPath(this.moves, path);
  }

  /**
   * The layer's own paths that land at `path` (several only when the layer has two spellings of it).
   * The merge asks several questions about one path in a row: the last answer is kept.
   */
  private sources(path: string): string[] {
    if (path === this.lastPath) return this.lastSources;
    const found: string[] = [];
    if (this.landed(path) === path) found.push(path);
    for (let dir = path; ; dir = parentOf(dir)) {
      for (const from of this.origins.get(dir) ?? []) {
        const original = dir === ROOT ? joinUnder(from, path) : from + path.slice(dir.length);
        if (this.landed(original) === path) found.push(original);
      }
      if (dir === ROOT) break;
    }
    this.lastPath = path;
    this.lastSources = found;
    return found;
  }

  get(path: string): TableEntry | undefined {
    let best: TableEntry | undefined;
    for (const source of this.sources(path)) {
      const entry = this.table.get(source);
      // R2 across spellings: the later member in the tar wins.
      if (entry !== undefined && (best === undefined || entry.ordinal > best.ordinal)) best = entry;
    }
    return best === undefined ? undefined : this.moved(best, path);
  }

  kindAt(path: string): EntryKind | undefined {
    return this.get(path)?.kind;
  }

  impliesDir(path: string): boolean {
    if (this.get(path) !== undefined) return false;
    if (this.passages.has(path) || this.origins.has(path)) return true;
    return this.sources(path).some((source) => this.table.impliesDir(source));
  }

  hidesBelow(path: string): HideReason | undefined {
    for (const source of this.sources(path)) {
      const reason = this.table.hidesBelow(source);
      if (reason !== undefined) return reason;
    }
    return undefined;
  }

  isOpaque(dir: string): boolean {
    return this.sources(dir).some((source) => this.table.isOpaque(source));
  }

  removedBefore(path: string, ordinal: number): boolean {
    return this.sources(path).some((source) => this.table.removedBefore(source, ordinal));
  }

  childrenOf(dir: string): readonly string[] {
    const names = new Set<string>(this.passages.get(dir));
    for (const source of this.sources(dir)) {
      for (const name of this.table.childrenOf(source)) {
        // A child that moved away is only there for what now lands elsewhere.
        const child = source === ROOT ? name : `${source}/${name}`;
        if (!this.moves.has(child)) names.add(name);
      }
    }
    return [...names];
  }

  hardlinksTo(target: string): readonly TableEntry[] {
    return this.sources(target).flatMap((source) => this.table.hardlinksTo(source).map((link) => this.moved(link, this.landed(link.path))));
  }

  hasHardlinks(): boolean {
    return this.table.hasHardlinks();
  }

  *hardlinkTargets(): Iterable<string> {
    for (const target of this.table.hardlinkTargets()) yield this.landed(target);
  }

  *whiteoutPaths(): Iterable<string> {
    for (const path of this.table.whiteoutPaths()) yield this.landed(path);
  }

  *opaqueDirs(): Iterable<string> {
    for (const dir of this.table.opaqueDirs()) yield this.landed(dir);
  }

  *allEntries(): Generator<TableEntry> {
    for (const entry of this.table.allEntries()) yield this.moved(entry, this.landed(entry.path));
  }

  /** A member seen at its landed path; a hard link's target is a path of the layer too, so it lands as well. */
  private moved(entry: TableEntry, path: string): TableEntry {
    const linkname = entry.kind === 'hardlink' ? this.landed(entry.linkname) : entry.linkname;
    if (path === entry.path && linkname === entry.linkname) return entry;
    return { ...entry, path, linkname };
  }
}

/** `path` with its nearest moved ancestor-or-self replaced by where that one lands. */
export function landedPath(moves: ReadonlyMap<string, string>, path: string): string {
  if (moves.size === 0) return path;
  for (let dir = path; dir !== ROOT; dir = parentOf(dir)) {
    const to = moves.get(dir);
    if (to !== undefined) return joinUnder(to, path.slice(dir.length + 1));
  }
  return path;
}

/** `dir/rest`, where `rest` may be empty (then `dir` itself). */
export function joinUnder(dir: string, rest: string): string {
  if (rest === '') return dir;
  return dir === ROOT ? rest : `${dir}/${rest}`;
}
