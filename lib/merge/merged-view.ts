import type { EntryKind, TableEntry, LayerTable } from '../table/layer-table.js';
import { compareNameBytes, joinPath, ROOT } from '../table/entry-name.js';
import type { ImgfsWarning, WarningSink } from '../warnings.js';

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

/** Hard-link chains (a link to a link) longer than this are treated as cycles. */
const MAX_HARDLINK_HOPS = 16;

/**
 * The merged tree over all layer indexes, computed top-down and only as far as each question needs:
 * a path that an upper layer decides never looks at lower layers. Results for the full stack are
 * memoised; views of a prefix of the stack (hard links, history) are computed on demand.
 */
export class MergedView {
  private readonly nodes = new Map<string, MergedNode | null>();
  private readonly listings = new Map<string, readonly string[]>();
  private readonly linkCounts = new Map<number, number>();
  private readonly warned = new Set<string>();
  readonly top: number;

  /** Layer indexes bottom first; `undefined` where a lazily opened layer is not indexed yet. */
  private readonly layers: Array<LayerTable | undefined>;

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

  /** The index of a layer, or LayerNeeded when it is not loaded yet. */
  private at(layer: number): LayerTable {
    const index = this.layers[layer];
    if (index === undefined) throw new LayerNeeded(layer);
    return index;
  }

  /** The node at a normalised path in the full view, without following symlinks. */
  lookup(path: string): MergedNode | undefined {
    const memo = this.nodes.get(path);
    if (memo !== undefined) return memo ?? undefined;
    const node = this.lookupUpTo(path, this.top);
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
    return this.lookupUpTo(path, layer - 1, hops);
  }

  /**
   * Sorted (by name bytes) names of the visible children of a directory, in the view of layers
   * 0..`top` (default: all). Only the full view is memoised.
   */
  children(dir: string, top: number = this.top): readonly string[] {
    const full = top === this.top;
    const memo = full ? this.listings.get(dir) : undefined;
    if (memo !== undefined) return memo;
    const names = new Set<string>();
    for (let layer = top; layer >= 0; layer--) {
      const index = this.at(layer);
      for (const name of index.childrenOf(dir)) names.add(name);
      const own = index.get(dir);
      // Below a layer that replaces, whites out or makes opaque this directory, nothing lower can show.
      if (index.isOpaque(dir) || index.hidesBelow(dir) !== undefined) break;
      if (own !== undefined && own.kind !== 'dir') break;
    }
    const visible = [...names]
      .filter((name) => (full ? this.lookup(joinPath(dir, name)) : this.lookupUpTo(joinPath(dir, name), top)) !== undefined)
      .sort(compareNameBytes);
    if (full) this.listings.set(dir, visible);
    return visible;
  }

  /**
   * R7 `nlink`: how many visible names share the content member of a node. A hard link can only name
   * a member of its own layer or a lower one, so only the node's layer and those above it are asked:
   * the links whose target path is the member's path, then links to those links, and so on.
   */
  linkCount(node: MergedNode): number {
    const target = node.entry;
    if (target === undefined) return 1;
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
        for (const link of this.at(layer).hardlinksTo(linkedPath)) {
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

  layerCount(): number {
    return this.layers.length;
  }

  /** A layer's index (LayerNeeded when not loaded yet). */
  layer(index: number): LayerTable {
    return this.at(index);
  }

  /** Each warning once; one that throws (`strict`) is not remembered, so it throws again next time. */
  private warn(warning: ImgfsWarning): void {
    if (this.warned.has(warning.message)) return;
    this.onWarning(warning);
    this.warned.add(warning.message);
  }
}
