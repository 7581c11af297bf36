import type { EntryKind, TableEntry, LayerTable } from '../table/layer-table.js';
import { baseName, compareNameBytes, joinPath, parentOf, ROOT } from '../table/entry-name.js';
import type { ImgfsWarning, WarningSink } from '../warnings.js';
import { joinUnder, LandedLayer, landedPath, type LayerView } from './landed-layer.js';
import { resolveDirectory } from './resolve-directory.js';

/** Kinds in the merged view: hard links are resolved to what they link to (R7). */
export type NodeKind = Exclude<EntryKind, 'hardlink'>;

/** One visible path of the merged view. */
export interface MergedNode {
  readonly path: string;
  readonly kind: NodeKind;
  /**
   * The member that gives metadata and content: the path's own member, a hard link's target member,
   * or, for a directory no layer has a member for, undefined (R6 defaults apply).
   */
  readonly entry: TableEntry | undefined;
  /** Layer of `entry`; for a fully implicit directory, the topmost layer that implies it. */
  readonly layer: number;
  /** The hard-link member that put this name here, when it is one. */
  readonly via: TableEntry | undefined;
  /** Layer of `via`. */
  readonly viaLayer?: number | undefined;
}

/** Identifies a member across layers: entries are materialised per lookup, so never compare objects. */
export function memberKey(layer: number, entry: TableEntry): number {
  return layer * 2 ** 32 + entry.ordinal;
}

/** True when two nodes show the same member (or the same implicit directory) at their paths. */
export function sameMember(a: MergedNode, b: MergedNode): boolean {
  if (a.entry === undefined || b.entry === undefined) return a.entry === b.entry && a.kind === b.kind;
  return a.layer === b.layer && a.entry.ordinal === b.entry.ordinal;
}

/**
 * Thrown by a question that reaches a layer whose index is not loaded yet (lazy opening). Nothing is
 * memoised on the way, so the caller loads the layer and asks again.
 */
export class LayerNeeded extends Error {
  constructor(readonly layer: number) {
    super(`layer ${layer} is not indexed yet`);
  }
}

/** Paths (and listings) the full view remembers before starting over. */
const MAX_REMEMBERED_PATHS = 200_000;

/** Hard-link chains (a link to a link) longer than this are treated as cycles. */
const MAX_HARDLINK_HOPS = 16;

/**
 * The merged tree over all layer indexes, computed top-down and only as far as each question needs:
 * a path that an upper layer decides never looks at lower layers. Results for the full stack are
 * memoised; views of a prefix of the stack (hard links, history) are computed on demand.
 */
export class MergedView {
  private readonly nodes = new Map<string, MergedNode | null>();
  /** Full-view listings: the sorted names, and how many of them are directories (a directory's `nlink`). */
  private readonly listings = new Map<string, { names: readonly string[]; subdirectories: number }>();
  private readonly linkCounts = new Map<number, number>();
  /** Per layer: hard links whose target path leads through a symlink, by the path it leads to. */
  private readonly indirectLinks = new Map<number, Map<string, TableEntry[]>>();
  private readonly warned = new Set<string>();
  readonly top: number;

  /** Layer indexes bottom first; `undefined` where a lazily opened layer is not indexed yet. */
  private readonly layers: Array<LayerTable | undefined>;
  /** Each layer as it lands on the layers below it (R6), once known. */
  private readonly landed: Array<LayerView | undefined> = [];

  constructor(
    layers: ReadonlyArray<LayerTable | undefined>,
    private readonly onWarning: WarningSink = () => {},
  ) {
    this.layers = [...layers];
    this.top = layers.length - 1;
  }

  /** Hands over a layer's index once it is loaded. */
  provide(layer: number, index: LayerTable): void {
    this.layers[layer] = index;
  }

  isLoaded(layer: number): boolean {
    return this.layers[layer] !== undefined;
  }

  /** A layer as it lands on the ones below it, or LayerNeeded when it (or one it lands on) is not loaded yet. */
  private at(layer: number): LayerView {
    const known = this.landed[layer];
    if (known !== undefined) return known;
    const index = this.layers[layer];
    if (index === undefined) throw new LayerNeeded(layer);
    // A layer with a member for every directory it reaches into (what docker build writes) lands as it is.
    const view = layer === 0 || index.reachedDirs.length === 0 ? index : this.land(index, layer);
    this.landed[layer] = view;
    return view;
  }

  /**
   * R6: which directories of a layer land elsewhere, through a symlink to a directory that the layers
   * below left where the layer has no member of its own. Shallowest first, so a deeper directory is
   * looked for where its parent landed.
   */
  private land(index: LayerTable, layer: number): LayerView {
    const below = (path: string): MergedNode | undefined => this.lookupUpTo(path, layer - 1);
    const moves = new Map<string, string>();
    for (const dir of index.reachedDirs) {
      // The layer's own whiteout or opaque marker removed what was below there: nothing to land through.
      if (index.hidesBelow(dir) !== undefined) continue;
      const at = joinUnder(landedPath(moves, parentOf(dir)), baseName(dir));
      if (below(at)?.kind !== 'symlink') continue;
      // A symlink to anything but a directory is replaced by the implicit directory instead.
      const target = resolveDirectory(at, below);
      if (target !== undefined && target !== at) moves.set(dir, target);
    }
    return moves.size === 0 ? index : new LandedLayer(index, moves);
  }

  /** The node at a normalised path in the full view, without following symlinks. */
  lookup(path: string): MergedNode | undefined {
    const memo = this.nodes.get(path);
    if (memo !== undefined) return memo ?? undefined;
    const node = this.lookupUpTo(path, this.top);
    // Bounded: a process that asks about millions of distinct paths must not keep them all.
    if (this.nodes.size >= MAX_REMEMBERED_PATHS) this.nodes.clear();
    this.nodes.set(path, node ?? null);
    return node;
  }

  /** The node at `path` in the view of layers 0..`top` (inclusive). */
  lookupUpTo(path: string, top: number, hops = 0): MergedNode | undefined {
    if (path === ROOT) return this.root(top);
    let implied: number | undefined;
    for (let layer = top; layer >= 0; layer--) {
      const index = this.at(layer);
      const entry = index.get(path);
      if (implied === undefined) {
        if (entry !== undefined) {
          if (entry.kind !== 'hardlink') return { path, kind: entry.kind, entry, layer, via: undefined };
          const target = this.resolveHardlink(entry, layer, hops);
          if (target !== undefined) return target;
          // A link that cannot be made leaves the path as the layers below had it.
        } else if (index.impliesDir(path)) {
          implied = layer;
        }
      } else if (entry !== undefined) {
        // R6: an implied directory takes its metadata from a lower directory member; a lower
        // non-directory is replaced by it, and nothing below that can speak for the path.
        if (entry.kind === 'dir') return { path, kind: 'dir', entry, layer, via: undefined };
        break;
      }
      if (index.hidesBelow(path) !== undefined) break;
    }
    return implied === undefined ? undefined : { path, kind: 'dir', entry: undefined, layer: implied, via: undefined };
  }

  private root(top: number): MergedNode {
    for (let layer = top; layer >= 0; layer--) {
      const entry = this.at(layer).get(ROOT);
      if (entry !== undefined) return { path: ROOT, kind: 'dir', entry, layer, via: undefined };
    }
    return { path: ROOT, kind: 'dir', entry: undefined, layer: 0, via: undefined };
  }

  /**
   * R7: a hard link in layer L is the member it names when the layer is applied in tar order: a member
   * of L listed before the link, else (unless L removed it before the link) what layers 0..L-1 show.
   */
  private resolveHardlink(link: TableEntry, layer: number, hops: number): MergedNode | undefined {
    const problem = (why: string): undefined => {
      this.warn({
        code: 'EHARDLINK',
        message: `layer ${layer}: hard link /${link.path} -> /${link.linkname} dropped: ${why}`,
        layer: { index: layer },
        path: `/${link.path}`,
      });
      return undefined;
    };
    if (hops >= MAX_HARDLINK_HOPS) return problem('hard links form a cycle');
    if (link.linkname === link.path) return problem('it links to itself');
    const target = this.linkTargetAt(link, layer, hops + 1);
    if (target === undefined) return problem('target not found');
    if (target.kind === 'dir' || target.entry === undefined) return problem('target is a directory');
    return { path: link.path, kind: target.kind, entry: target.entry, layer: target.layer, via: link, viaLayer: layer };
  }

  /** The node a hard link of layer `layer` names, in that layer's tar order (see resolveHardlink). */
  private linkTargetAt(link: TableEntry, layer: number, hops: number): MergedNode | undefined {
    const index = this.at(layer);
    const path = link.linkname;
    const own = index.get(path);
    if (own !== undefined && own.ordinal < link.ordinal) {
      if (own.kind !== 'hardlink') return { path, kind: own.kind, entry: own, layer, via: undefined };
      return this.resolveHardlink(own, layer, hops);
    }
    if (path === ROOT || layer === 0 || index.removedBefore(path, link.ordinal)) return undefined;
    const found = this.lookupUpTo(path, layer - 1, hops);
    if (found !== undefined) return found;
    const real = this.throughSymlinks(path, layer - 1);
    return real === undefined ? undefined : this.lookupUpTo(real, layer - 1, hops);
  }

  /**
   * Where `path` is in the view of layers 0..`top` when its parents lead through symlinks, as link(2)
   * finds a hard link's target and as R6 lands entries; undefined when they lead nowhere, or nowhere else.
   */
  private throughSymlinks(path: string, top: number): string | undefined {
    const dir = resolveDirectory(parentOf(path), (at) => this.lookupUpTo(at, top));
    return dir === undefined || dir === parentOf(path) ? undefined : joinPath(dir, baseName(path));
  }

  /**
   * Sorted (by name bytes) names of the visible children of a directory, in the view of layers
   * 0..`top` (default: all). Only the full view is memoised.
   */
  children(dir: string, top: number = this.top): readonly string[] {
    if (top === this.top) return this.listing(dir).names;
    return this.candidateNames(dir, top)
      .filter((name) => this.lookupUpTo(joinPath(dir, name), top) !== undefined)
      .sort(compareNameBytes);
  }

  /** How many of a directory's visible children (full view) are directories: its `nlink` is 2 more. */
  subdirectoryCount(dir: string): number {
    return this.listing(dir).subdirectories;
  }

  /**
   * A directory's full-view listing, memoised, with its children's nodes (as `lookup` memoises them):
   * from `childNodes`, one pass per layer over the directory's run of entries. A mount lists every
   * directory it shows, and shows each subdirectory's link count in its parent's listing first.
   */
  private listing(dir: string): { names: readonly string[]; subdirectories: number } {
    const memo = this.listings.get(dir);
    if (memo !== undefined) return memo;
    const nodes = this.childNodes(dir);
    const skip = dir === ROOT ? 0 : dir.length + 1;
    let subdirectories = 0;
    if (this.nodes.size + nodes.length >= MAX_REMEMBERED_PATHS) this.nodes.clear();
    const names = nodes.map((node) => {
      if (node.kind === 'dir') subdirectories += 1;
      this.nodes.set(node.path, node);
      return node.path.slice(skip);
    });
    if (this.listings.size >= MAX_REMEMBERED_PATHS) this.listings.clear();
    const listing = { names, subdirectories };
    this.listings.set(dir, listing);
    return listing;
  }

  /**
   * The visible children of a directory in the full view, with their nodes, sorted by name bytes;
   * nothing is memoised. A walk visits each directory once, so remembering what it passed would only
   * make its memory grow with the image (about 1 KB per entry) instead of with the tree's width.
   * Each layer's part of the directory is read once, in one pass over its run of the path column,
   * which also says which child each layer has a member for: a child is then decided from those
   * answers, as `lookupUpTo` decides it, without a binary search per child and layer (what made a
   * walk over stacked layers cost several times one layer's).
   */
  childNodes(dir: string): MergedNode[] {
    const layers = this.listingLayers(dir);
    if (layers === undefined) return this.childNodesByLookup(dir);
    const slots = layers.map((index) => index.childSlots(dir));
    const names = new Set<string>();
    for (const own of slots) for (const name of own.keys()) names.add(name);
    const nodes: MergedNode[] = [];
    for (const name of [...names].sort(compareNameBytes)) {
      const path = joinPath(dir, name);
      const node = this.nodes.get(path) ?? this.childNode(path, name, layers, slots);
      if (node !== undefined && node !== null) nodes.push(node);
    }
    return nodes;
  }

  /**
   * The layers that can show something in `dir`, top first: down to the first one that hides what is
   * below it there (as `candidateNames` stops); undefined when one of them lands elsewhere (R6 moves),
   * whose children are then looked up one by one.
   */
  private listingLayers(dir: string): LayerTable[] | undefined {
    const layers: LayerTable[] = [];
    for (let layer = this.top; layer >= 0; layer--) {
      const view = this.at(layer);
      if (view instanceof LandedLayer) return undefined;
      const index = view as LayerTable;
      layers.push(index);
      if (index.isOpaque(dir) || index.hidesBelow(dir) !== undefined) break;
      const own = index.kindAt(dir);
      if (own !== undefined && own !== 'dir') break;
    }
    return layers;
  }

  /** `lookupUpTo(path, top)` for a child of a listed directory, from what each layer's listing said of it. */
  private childNode(path: string, name: string, layers: readonly LayerTable[], slots: ReadonlyArray<ReadonlyMap<string, number>>): MergedNode | undefined {
    let implied: number | undefined;
    for (let i = 0; i < layers.length; i++) {
      const index = layers[i] as LayerTable;
      const layer = this.top - i;
      const slot = (slots[i] as ReadonlyMap<string, number>).get(name);
      if (implied === undefined) {
        if (slot !== undefined && slot >= 0) {
          const kind = index.kindOfSlot(slot);
          // Hard links follow R7 in tar order: the general lookup decides them.
          if (kind === 'hardlink') return this.lookupUpTo(path, this.top);
          return { path, kind, entry: index.entryAt(slot), layer, via: undefined };
        }
        if (slot === -1) implied = layer;
      } else if (slot !== undefined && slot >= 0) {
        if (index.kindOfSlot(slot) === 'dir') return { path, kind: 'dir', entry: index.entryAt(slot), layer, via: undefined };
        break;
      }
      if (index.hidesBelow(path) !== undefined) break;
    }
    return implied === undefined ? undefined : { path, kind: 'dir', entry: undefined, layer: implied, via: undefined };
  }

  /** `childNodes` by one `lookupUpTo` per candidate name. */
  private childNodesByLookup(dir: string): MergedNode[] {
    const nodes: MergedNode[] = [];
    for (const name of this.candidateNames(dir, this.top).sort(compareNameBytes)) {
      const path = joinPath(dir, name);
      const node = this.nodes.get(path) ?? this.lookupUpTo(path, this.top);
      if (node !== undefined && node !== null) nodes.push(node);
    }
    return nodes;
  }

  /** Names some layer 0..`top` puts in `dir`, visible or not (what the layers above hide is checked by the caller). */
  private candidateNames(dir: string, top: number): string[] {
    if (top === 0) return [...this.at(0).childrenOf(dir)];
    const names = new Set<string>();
    for (let layer = top; layer >= 0; layer--) {
      const index = this.at(layer);
      for (const name of index.childrenOf(dir)) names.add(name);
      const own = index.get(dir);
      // Below a layer that replaces, whites out or makes opaque this directory, nothing lower can show.
      if (index.isOpaque(dir) || index.hidesBelow(dir) !== undefined) break;
      if (own !== undefined && own.kind !== 'dir') break;
    }
    return [...names];
  }

  /**
   * R7 `nlink`: how many visible names share the content member of a node. A hard link can only name
   * a member of its own layer or a lower one, so only the node's layer and those above it are asked:
   * the links whose target path is the member's path, then links to those links, and so on.
   */
  linkCount(node: MergedNode): number {
    const target = node.entry;
    if (target === undefined) return 1;
    // Most images have no hard links at all: then every count is 1, and nothing needs remembering.
    if (!this.hardlinksAtOrAbove(node.layer)) return 1;
    const key = memberKey(node.layer, target);
    const memo = this.linkCounts.get(key);
    if (memo !== undefined) return memo;
    const own = this.lookup(target.path);
    let count = own !== undefined && own.via === undefined && sameMember(own, node) ? 1 : 0;
    const pending = [target.path];
    const visited = new Set<string>(pending);
    while (pending.length > 0) {
      const linkedPath = pending.pop() as string;
      for (let layer = node.layer; layer <= this.top; layer++) {
        const indirect = this.indirectLinksOf(layer).get(linkedPath) ?? [];
        for (const link of [...this.at(layer).hardlinksTo(linkedPath), ...indirect]) {
          const name = this.lookup(link.path);
          if (name?.viaLayer !== layer || name.via?.ordinal !== link.ordinal || !sameMember(name, node)) continue;
          count++;
          if (!visited.has(link.path)) {
            visited.add(link.path);
            pending.push(link.path);
          }
        }
      }
    }
    const result = Math.max(count, 1);
    this.linkCounts.set(key, result);
    return result;
  }

  private hardlinksAtOrAbove(layer: number): boolean {
    for (let at = layer; at <= this.top; at++) if (this.at(at).hasHardlinks()) return true;
    return false;
  }

  /**
   * The hard links of a layer whose target is not where its path says but through a lower symlink
   * (`hl -> lib/t.so` over `lib -> usr/lib`), by where they lead; for `nlink`. Found once per layer,
   * and only when a link count is asked for.
   */
  private indirectLinksOf(layer: number): Map<string, TableEntry[]> {
    let found = this.indirectLinks.get(layer);
    if (found !== undefined) return found;
    found = new Map();
    const index = this.at(layer);
    for (const target of index.hardlinkTargets()) {
      if (layer === 0 || index.get(target) !== undefined || this.lookupUpTo(target, layer - 1) !== undefined) continue;
      const real = this.throughSymlinks(target, layer - 1);
      if (real !== undefined) found.set(real, [...(found.get(real) ?? []), ...index.hardlinksTo(target)]);
    }
    this.indirectLinks.set(layer, found);
    return found;
  }

  layerCount(): number {
    return this.layers.length;
  }

  /** A layer as it lands on the ones below (LayerNeeded when not loaded yet). */
  layer(index: number): LayerView {
    return this.at(index);
  }

  /** Each warning once; one that throws (`strict`) is not remembered, so it throws again next time. */
  private warn(warning: ImgfsWarning): void {
    if (this.warned.has(warning.message)) return;
    this.onWarning(warning);
    this.warned.add(warning.message);
  }
}
