import type { SparseMap } from '../tar/sparse-map.js';
import { DEFAULT_MAX_NAME_LENGTH, walkTarBatches, walkTarInto, type TarBytes } from '../tar/walk-tar.js';
import type { TarEntry } from '../tar/tar-entry.js';
import type { LayerRef } from '../errors.js';
import type { WarningSink } from '../warnings.js';
import { parentOf, ROOT } from './entry-name.js';
import { InOrderTreeCheck } from './in-order-tree-check.js';
import { LayerColumns, type LayerSnapshot } from './layer-columns.js';
import { MemberIntake } from './member-intake.js';
import { acquirePlainKernel, releasePlainKernel } from './plain-member-kernel.js';
import { PlainMemberLane } from './plain-member-lane.js';

/** Entry kinds of a layer; hard links stay links here, the merge resolves them (R7). */
export type EntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TableEntry {
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
   * A sparse file: its stored regions follow one another from `dataOffset` and belong at these
   * offsets; everything else reads as zeros. `size` is then the logical size (`sparse.realSize`).
   */
  readonly sparse?: SparseMap;
  /**
   * Position among the layer's members. Unique within the layer, so (layer, ordinal) identifies a
   * member: entries are materialised on demand and are not compared by object identity.
   */
  readonly ordinal: number;
}

/** Why a layer keeps a lower layer's copy of a path out of the merged view. */
export type HideReason = 'whiteout' | 'opaque' | 'replaced';

export interface LayerIndexOptions {
  /** ELIMIT beyond this many members (default: LIMITS.maxEntries). */
  maxEntries?: number | undefined;
  onWarning?: WarningSink | undefined;
  /** The layer, named in warnings. */
  layer?: LayerRef | undefined;
  /** Told of each member's data offset as it is read (progress), before it is indexed. */
  onDataOffset?: ((dataOffset: number) => void) | undefined;
}

/** What `buildFromTar` takes: the index's options and the walk's limits. */
export interface TarTableOptions extends LayerIndexOptions {
  maxPaxSize?: number | undefined;
  maxNameLength?: number | undefined;
  /** Told how the members went (tests: that the plain-member lane was taken). */
  stats?: TableBuildStats | undefined;
}

export interface TableBuildStats {
  /** Members written into the columns straight from their header bytes. */
  plainMembers: number;
}

const SLASH = 0x2f;
/** How many paths found empty a table remembers besides `populatedDirs` (see `recentEmpty`). */
const RECENT_EMPTY = 4;

/** Directories a layer remembers answers for (what it hides, whether it holds anything) before starting over. */
const MAX_REMEMBERED_DIRS = 100_000;

/**
 * One layer's table: what the layer adds (R2: the last member for a path wins), which lower paths it
 * whites out (R3), which directories it makes opaque (R4), and the directories it implies by having
 * descendants under them (R6). It knows nothing of other layers. Members live in path-sorted columns
 * (layer-columns.ts), so implied directories and listings are ranges of the path column, found by
 * binary search: nothing is derived at load time, which is what makes a cached index cheap to open.
 */
export class LayerTable {
  private linksByTarget: Map<string, TableEntry[]> | undefined;
  private lastParent: string | undefined;
  /**
   * Whether the layer holds a member below a directory, per directory asked as a parent: the lookups
   * of a walk share their parent, and most layers hold nothing in most directories, so a map lookup
   * answers instead of a binary search over the whole path column.
   */
  private readonly populatedDirs = new Map<string, boolean>();
  /**
   * The last few paths found to hold nothing, which `populatedDirs` does not keep for `impliesDir` (a
   * walk asks it of every path): resolving one path asks it of each component, of the component
   * again as the next one's parent, and of its parent again (`hidesBelow`).
   */
  private readonly recentEmpty: (string | undefined)[] = new Array<string | undefined>(RECENT_EMPTY).fill(undefined);
  private recentEmptyTurn = 0;
  /**
   * The slots of the last two paths searched: merging asks a layer for a path (`get`), then whether it
   * implies it (`impliesDir`), and for the next component whether its parent hides it (`kindAt` of the
   * path before); each would otherwise be another binary search, run by the interpreter in a short run.
   */
  private recentPath: string | undefined;
  private recentSlot = -1;
  private olderPath: string | undefined;
  private olderSlot = -1;
  /** `hidesUnder` answers by directory (null: hides nothing). */
  private readonly hiddenUnder = new Map<string, HideReason | null>();

  private constructor(
    private readonly columns: LayerColumns,
    /** Whited-out path → ordinal of its first whiteout member. */
    private readonly whiteouts: Map<string, number>,
    /** Opaque directory → ordinal of its first marker. */
    private readonly opaques: Map<string, number>,
    /** Members read from the tar, whiteouts and markers included. */
    readonly memberCount: number,
    /** Whiteout and opaque-marker members. */
    readonly whiteoutCount: number,
    /** End of the last member's data: the tar stream's length without its end blocks. */
    readonly tarEnd: number,
    /**
     * Directories the layer has no member for but holds members, whiteouts or opaque markers under,
     * shallowest first. Only these can lead through a lower symlink (R6); found once when the layer
     * is read and persisted, so that a layer without any (the usual case) costs nothing later.
     */
    readonly reachedDirs: readonly string[],
  ) {}

  /**
   * The table of the tar in `source`, walked here: what `buildFromBatches(walkTarBatches(source))`
   * gives, the same table, warnings and errors.
   */
  static async buildFromTar(source: TarBytes, options: TarTableOptions = {}): Promise<LayerTable> {
    const { maxPaxSize, maxNameLength, stats, ...index } = options;
    const walk = { ...(maxPaxSize === undefined ? {} : { maxPaxSize }), ...(maxNameLength === undefined ? {} : { maxNameLength }) };
    // The lane pays where headers are read synchronously, one after another; elsewhere (a decoded
    // stream) the walk waits for bytes between headers anyway, and hands them over in batches.
    if (source.readIntoSync === undefined) return LayerTable.buildFromBatches(walkTarBatches(source, walk), index);
    const intake = new MemberIntake(index);
    const kernel = acquirePlainKernel();
    const lane = new PlainMemberLane(intake, maxNameLength ?? DEFAULT_MAX_NAME_LENGTH, kernel);
    try {
      await walkTarInto(source, { add: (member) => intake.add(member), lane }, walk);
    } finally {
      if (kernel !== undefined) releasePlainKernel(kernel);
      if (stats !== undefined) stats.plainMembers += lane.taken;
    }
    return LayerTable.sealed(intake);
  }

  static async build(members: AsyncIterable<TarEntry>, options: LayerIndexOptions = {}): Promise<LayerTable> {
    return LayerTable.buildFromBatches(oneByOne(members), options);
  }

  /** `build` from members handed over in batches (walk-tar.ts `walkTarBatches`): no promise per member. */
  static async buildFromBatches(batches: AsyncIterable<readonly TarEntry[]>, options: LayerIndexOptions = {}): Promise<LayerTable> {
    const intake = new MemberIntake(options);
    for await (const batch of batches) for (const member of batch) intake.add(member);
    return LayerTable.sealed(intake);
  }

  /** The table of the members an intake took, checked and sealed. */
  private static sealed(intake: MemberIntake): LayerTable {
    const { builder, whiteouts, opaques, label, layer, onWarning } = intake;
    const check = new InOrderTreeCheck();
    check.addColumn(builder.pathNames.layout(), builder.kindCodes, builder.pathNames.length);
    const conflict = (message: string, path: string): void => onWarning?.({ code: 'ECONFLICT', message: `${label}: ${message}`, layer, path: `/${path}` });
    const columns = check.ordered ? dropBlocked(builder.seal(true), check, conflict) : dropUnreachable(builder.seal(), conflict);
    warnLinksToReplacedVersions(columns, builder.replaced, (message, path) => onWarning?.({ code: 'EHARDLINK', message: `${label}: ${message}`, layer, path: `/${path}` }));
    const reached = reachedDirs(columns, [...whiteouts.keys()], [...opaques.keys()], check.ordered ? check.reached : undefined);
    return new LayerTable(columns, whiteouts, opaques, intake.memberCount, intake.whiteoutCount, intake.tarEnd, reached);
  }

  /** Rebuilds an index from what `snapshot()` produced (the persisted index cache). */
  static fromSnapshot(snapshot: LayerSnapshot): LayerTable {
    return new LayerTable(
      new LayerColumns(snapshot),
      new Map(snapshot.whiteouts),
      new Map(snapshot.opaques),
      snapshot.memberCount,
      snapshot.whiteoutCount,
      snapshot.tarEnd,
      snapshot.reachedDirs,
    );
  }

  /** Everything needed to rebuild this index without reading the layer again. */
  snapshot(): LayerSnapshot {
    return {
      ...this.columns.columnData(),
      whiteouts: [...this.whiteouts],
      opaques: [...this.opaques],
      memberCount: this.memberCount,
      whiteoutCount: this.whiteoutCount,
      tarEnd: this.tarEnd,
      reachedDirs: [...this.reachedDirs],
    };
  }

  /** The member this layer has for `path`, if any (never a whiteout). */
  get(path: string): TableEntry | undefined {
    const slot = this.slotOf(path);
    return slot < 0 ? undefined : this.columns.entry(slot);
  }

  /** The kind of the member at `path` without materialising it; the merge's hot path. */
  kindAt(path: string): EntryKind | undefined {
    const slot = this.slotOf(path);
    return slot < 0 ? undefined : this.columns.kind(slot);
  }

  private slotOf(path: string): number {
    if (path === this.recentPath) return this.recentSlot;
    if (path === this.olderPath) return this.olderSlot;
    const slot = path === ROOT ? this.columns.find(path) : this.search(path);
    this.olderPath = this.recentPath;
    this.olderSlot = this.recentSlot;
    this.recentPath = path;
    this.recentSlot = slot;
    return slot;
  }

  /**
   * The slot of `path` (not the root), or -1. When it is not known yet whether the parent holds
   * anything, one binary search answers both: members under `parent/` form one run of the sorted path
   * column, and `path` sorts inside that run when there is one, so the run is non-empty exactly when
   * the member found there, or the one before it, lies under `parent/`.
   */
  private search(path: string): number {
    const parent = this.parentOf(path);
    const known = this.knownPopulated(parent);
    if (known === false) return this.nothingUnder(path);
    const at = this.columns.lowerBound(path);
    const here = at < this.columns.length ? this.columns.path(at) : undefined;
    const found = here === path;
    if (known === undefined) {
      const prefix = `${parent}/`;
      const answer = found || here?.startsWith(prefix) === true || (at > 0 && this.columns.path(at - 1).startsWith(prefix));
      this.rememberPopulated(parent, answer, true);
      if (!answer) return this.nothingUnder(path);
    }
    this.learnPopulated(path, found ? at + 1 : at);
    return found ? at : -1;
  }

  /** A path whose parent holds nothing: nor does it (what `impliesDir` asks next). */
  private nothingUnder(path: string): -1 {
    this.rememberPopulated(path, false, false);
    return -1;
  }

  /**
   * Whether `path` holds anything, as far as the member at `next` (the first after `path`) tells: one
   * under `path/` says yes; one that does not even start with `path` sorts after every name that does,
   * so it says no. Anything between (`path-x`, `path.d`) says nothing. Saves `impliesDir` its search.
   */
  private learnPopulated(path: string, next: number): void {
    if (next >= this.columns.length) {
      this.rememberPopulated(path, false, false);
      return;
    }
    const name = this.columns.path(next);
    if (!name.startsWith(path)) this.rememberPopulated(path, false, false);
    else if (name.charCodeAt(path.length) === SLASH) this.rememberPopulated(path, true, false);
  }

  /**
   * The parent directory of `path`, as the same string object as last time when it is the same
   * directory: the children of one directory are asked about in a row (a walk, a listing), and a map
   * lookup with a string it has hashed before costs no rehash of a fresh slice.
   */
  private parentOf(path: string): string {
    const last = this.lastParent;
    if (last !== undefined && path.length > last.length && path.charCodeAt(last.length) === SLASH && path.startsWith(last) && path.indexOf('/', last.length + 1) < 0) {
      return last;
    }
    this.lastParent = parentOf(path);
    return this.lastParent;
  }

  /** True when the layer has no member for `path` but has members below it (R6). */
  impliesDir(path: string): boolean {
    if (path === ROOT) return this.columns.length > 0;
    // Asked of every path an upper layer lacks in a walk over stacked layers, files included: only a
    // "yes" is remembered, or every path would be held once more.
    return this.populated(path, false) && this.slotOf(path) < 0;
  }

  /** Whether the layer holds a member strictly below `dir`. */
  private populated(dir: string, rememberNo = true): boolean {
    const known = this.knownPopulated(dir);
    if (known !== undefined) return known;
    if (this.knownPopulated(parentOf(dir)) === false) return false;
    const prefix = `${dir}/`;
    const first = this.columns.lowerBound(prefix);
    const answer = first < this.columns.length && this.columns.path(first).startsWith(prefix);
    this.rememberPopulated(dir, answer, rememberNo);
    return answer;
  }

  /** What `populated` would answer without a search, if it is known. */
  private knownPopulated(dir: string): boolean | undefined {
    if (dir === ROOT) return this.columns.length > 0;
    if (this.recentEmpty.includes(dir)) return false;
    return this.populatedDirs.get(dir);
  }

  private rememberPopulated(dir: string, answer: boolean, rememberNo: boolean): void {
    if (!answer) this.recentEmpty[this.recentEmptyTurn++ % RECENT_EMPTY] = dir;
    if (answer || rememberNo) {
      if (this.populatedDirs.size >= MAX_REMEMBERED_DIRS) this.populatedDirs.clear();
      this.populatedDirs.set(dir, answer);
    }
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
    return this.hidesUnder(this.parentOf(path)) ?? undefined;
  }

  /**
   * What this layer does to everything below directory `dir`: the nearest of its ancestors-or-self
   * that is whited out, opaque or a non-directory decides. Remembered per directory and computed from
   * the parent's answer, so a lookup costs O(1) map operations however deep the path (a hostile layer
   * 5 000 levels deep would otherwise cost O(depth^2) per lookup); iterative, so no depth exhausts the
   * stack.
   */
  private hidesUnder(dir: string): HideReason | null {
    const memo = this.hiddenUnder.get(dir);
    if (memo !== undefined) return memo;
    // Climb to the nearest remembered ancestor, then answer downwards.
    const chain: string[] = [];
    let current = dir;
    let verdict: HideReason | null | undefined;
    for (;;) {
      verdict = this.hiddenUnder.get(current);
      if (verdict !== undefined) break;
      chain.push(current);
      if (current === ROOT) {
        verdict = null;
        break;
      }
      current = parentOf(current);
    }
    if (this.hiddenUnder.size + chain.length > MAX_REMEMBERED_DIRS) this.hiddenUnder.clear();
    for (let i = chain.length - 1; i >= 0; i--) {
      const at = chain[i] as string;
      verdict = this.ownHide(at) ?? verdict;
      this.hiddenUnder.set(at, verdict);
    }
    return verdict;
  }

  /** What directory `dir` itself does to the paths under it in this layer's view of lower layers. */
  private ownHide(dir: string): HideReason | null {
    if (dir === ROOT) return this.opaques.has(ROOT) ? 'opaque' : null;
    if (this.whiteouts.has(dir)) return 'whiteout';
    if (this.opaques.has(dir)) return 'opaque';
    const kind = this.kindAt(dir);
    return kind !== undefined && kind !== 'dir' ? 'replaced' : null;
  }

  /**
   * Names this layer puts directly in `dir` (members and implied directories), unordered. A child's
   * subtree is one contiguous run of the sorted path column, skipped with one binary search.
   */
  childrenOf(dir: string): readonly string[] {
    const prefix = dir === ROOT ? '' : `${dir}/`;
    const names = new Set<string>();
    const count = this.columns.length;
    let slot = this.columns.lowerBound(prefix);
    while (slot < count) {
      const path = this.columns.path(slot);
      if (!path.startsWith(prefix)) break;
      const rest = path.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (rest === '') {
        slot++; // the root member itself
      } else if (slash < 0) {
        names.add(rest);
        slot++;
      } else {
        const name = rest.slice(0, slash);
        names.add(name);
        // '0' follows '/' in code unit order: this skips every path under `name/` at once.
        slot = this.columns.lowerBound(`${prefix}${name}0`);
      }
    }
    return [...names];
  }

  /**
   * The names this layer puts directly in `dir`, each with the slot of its own member, or -1 for a
   * directory the layer only implies (R6: members below it, none for it): what `childrenOf` finds, with
   * what `get` and `impliesDir` would say of each child, from the one pass over the directory's run.
   */
  childSlots(dir: string): Map<string, number> {
    const prefix = dir === ROOT ? '' : `${dir}/`;
    const slots = new Map<string, number>();
    const count = this.columns.length;
    let slot = this.columns.lowerBound(prefix);
    while (slot < count) {
      const path = this.columns.path(slot);
      if (!path.startsWith(prefix)) break;
      const slash = path.indexOf('/', prefix.length);
      if (path.length === prefix.length) {
        slot++; // the root member itself
      } else if (slash < 0) {
        slots.set(path.slice(prefix.length), slot);
        slot++;
      } else {
        const name = path.slice(prefix.length, slash);
        if (!slots.has(name)) slots.set(name, -1);
        // '0' follows '/' in code unit order: this skips every path under `name/` at once.
        slot = this.columns.lowerBound(`${prefix}${name}0`);
      }
    }
    return slots;
  }

  /** The kind of the member in `slot` (from `childSlots`). */
  kindOfSlot(slot: number): EntryKind {
    return this.columns.kind(slot);
  }

  /** The member in `slot` (from `childSlots`). */
  entryAt(slot: number): TableEntry {
    return this.columns.entry(slot);
  }

  /** Paths this layer whites out (R3). */
  whiteoutPaths(): Iterable<string> {
    return this.whiteouts.keys();
  }

  opaqueDirs(): Iterable<string> {
    return this.opaques.keys();
  }

  /**
   * R7's tar order: whether this layer removed `path` from the view below it before its member
   * `ordinal` came: by a whiteout of the path or an ancestor, an opaque marker on an ancestor, or a
   * non-directory member at an ancestor, listed earlier. O(depth), and only for paths the layer hides
   * at all (`hidesBelow`, O(1) amortised), so only hard links into removed places pay for it.
   */
  removedBefore(path: string, ordinal: number): boolean {
    if (this.hidesBelow(path) === undefined) return false;
    const before = (at: number | undefined): boolean => at !== undefined && at < ordinal;
    for (let current = path; ; current = parentOf(current)) {
      if (current !== ROOT && before(this.whiteouts.get(current))) return true;
      if (current !== path) {
        if (before(this.opaques.get(current))) return true;
        const kind = this.kindAt(current);
        if (kind !== undefined && kind !== 'dir' && before(this.get(current)?.ordinal)) return true;
      }
      if (current === ROOT) return false;
    }
  }

  *allEntries(): Generator<TableEntry> {
    for (let slot = 0; slot < this.columns.length; slot++) yield this.columns.entry(slot);
  }

  /** Whether the layer has any hard-link member. */
  hasHardlinks(): boolean {
    return this.linkIndex().size > 0;
  }

  /** Hard-link members by the (normalised) path they link to; built on first use from the kind column. */
  hardlinksTo(target: string): readonly TableEntry[] {
    return this.linkIndex().get(target) ?? [];
  }

  /** Every path a hard link of this layer names. */
  hardlinkTargets(): Iterable<string> {
    return this.linkIndex().keys();
  }

  private linkIndex(): Map<string, TableEntry[]> {
    if (this.linksByTarget === undefined) {
      this.linksByTarget = new Map();
      for (let slot = 0; slot < this.columns.length; slot++) {
        if (this.columns.kind(slot) !== 'hardlink') continue;
        const link = this.columns.entry(slot);
        const list = this.linksByTarget.get(link.linkname);
        if (list === undefined) this.linksByTarget.set(link.linkname, [link]);
        else list.push(link);
      }
    }
    return this.linksByTarget;
  }
}

/**
 * R7 in tar order, where a layer keeps too little to follow it: a hard link listed between two members
 * of one path names the earlier one, which R2 does not keep. The link is then resolved without it (the
 * layers below give the target, or it is dropped), and this says so. Rare: only layers that repeat a
 * path are looked at.
 */
function warnLinksToReplacedVersions(columns: LayerColumns, replaced: ReadonlyMap<string, number>, warn: (message: string, path: string) => void): void {
  if (replaced.size === 0) return;
  for (let slot = 0; slot < columns.length; slot++) {
    if (columns.kind(slot) !== 'hardlink') continue;
    const link = columns.entry(slot);
    const first = replaced.get(link.linkname);
    const last = first === undefined ? undefined : columns.find(link.linkname);
    if (first === undefined || last === undefined || last < 0 || first > link.ordinal || columns.entry(last).ordinal < link.ordinal) continue;
    warn(`hard link /${link.path} -> /${link.linkname}: the version of the target listed before it is replaced later in the same layer and not kept; the link is resolved without it`, link.path);
  }
}

/**
 * The directories a layer reaches into without a member for them, shallowest first. `fromMembers`:
 * those its members reach, already found as they came in path order (InOrderTreeCheck).
 */
function reachedDirs(columns: LayerColumns, whiteouts: readonly string[], opaques: readonly string[], fromMembers?: readonly string[]): string[] {
  const seen = new Set<string>([ROOT]);
  const found: string[] = [];
  // A directory the members' pass went through is an ancestor of a member: one search tells, where the
  // pass itself kept no set of them.
  const passed = fromMembers === undefined ? (): boolean => false : (dir: string): boolean => {
    const first = columns.lowerBound(`${dir}/`);
    return first < columns.length && columns.path(first).startsWith(`${dir}/`);
  };
  const climb = (dir: string): void => {
    for (let current = dir; !seen.has(current) && !passed(current); current = parentOf(current)) {
      seen.add(current);
      if (columns.find(current) < 0) found.push(current);
    }
  };
  // Sorted paths: siblings come in runs, so one climb serves a run.
  if (fromMembers === undefined) columns.forEachParentRun((parent) => climb(parent));
  else found.push(...fromMembers);
  for (const path of whiteouts) climb(parentOf(path));
  for (const dir of opaques) climb(dir);
  // A parent is shorter than its children: by length is parents first, and cheap for deep paths.
  return found.sort((a, b) => a.length - b.length);
}

/** Members one by one as batches of one, for `build`. */
async function* oneByOne(members: AsyncIterable<TarEntry>): AsyncGenerator<readonly TarEntry[]> {
  for await (const member of members) yield [member];
}

/** `dropUnreachable` with the members to drop already found as they came in path order. */
function dropBlocked(columns: LayerColumns, check: InOrderTreeCheck, warn: (message: string, path: string) => void): LayerColumns {
  if (check.blocked.length === 0) return columns;
  for (const { slot, holder, holderKind } of check.blocked) {
    const path = columns.path(slot);
    warn(`/${path} dropped: /${holder} is a ${holderKind} in the same layer`, path);
  }
  return columns.without(new Set(check.blocked.map(({ slot }) => slot)));
}

/**
 * Drops members that could not exist in a real tree: anything below a non-directory that the same
 * layer also has (extracting it would need a directory where the layer put a file). Rare, so the
 * common case costs one binary search per non-directory and copies nothing.
 */
function dropUnreachable(columns: LayerColumns, warn: (message: string, path: string) => void): LayerColumns {
  // Whether a directory path lies at or below a non-directory member; asked once per distinct parent.
  // Iterative (climb to a known answer, then fill in downwards): a path 20 000 levels deep must not
  // exhaust the call stack.
  const blockedBy = new Map<string, string | null>([[ROOT, null]]);
  const blocker = (dir: string): string | null => {
    const chain: string[] = [];
    let current = dir;
    let verdict = blockedBy.get(current);
    while (verdict === undefined) {
      chain.push(current);
      current = parentOf(current);
      verdict = blockedBy.get(current);
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      const at = chain[i] as string;
      const slot = columns.find(at);
      // The nearest blocker wins, as the recursive definition had it: a non-directory here, else the
      // parent's answer.
      verdict = slot >= 0 && columns.kind(slot) !== 'dir' ? at : verdict;
      blockedBy.set(at, verdict);
    }
    return verdict;
  };
  const dropped = new Set<number>();
  // By runs of siblings: one answer per parent directory, names decoded only for what is dropped.
  columns.forEachParentRun((parent, first, end) => {
    const holder = blocker(parent);
    if (holder === null) return;
    for (let slot = first; slot < end; slot++) {
      const path = columns.path(slot);
      if (path === ROOT) continue;
      warn(`/${path} dropped: /${holder} is a ${columns.kind(columns.find(holder))} in the same layer`, path);
      dropped.add(slot);
    }
  });
  return dropped.size === 0 ? columns : columns.without(dropped);
}
