import type { TableEntry } from '../table/layer-table.js';
import { comparePaths, joinPath, normalizeEntryName } from '../table/entry-name.js';
import { sameMember, type MergedNode, type MergedView } from './merged-view.js';

/** What one layer did to a path (the `history` command and `ImageFS.history`). */
export type LayerAction = 'added' | 'modified' | 'metadata' | 'deleted' | 'hidden' | 'untouched';

export interface PathHistoryStep {
  index: number;
  action: LayerAction;
  /** The path's kind in the view up to this layer, when it exists there. */
  kind: MergedNode['kind'] | undefined;
}

/**
 * For each layer, bottom first, how the view of layers 0..L differs from 0..L-1 at `path` (no symlink
 * is followed). Decided from tar headers alone, never from content: a member that keeps type, size and
 * mtime but changes mode or owner is `metadata` (a chmod/chown re-adds the whole file); any other
 * re-added non-directory is `modified`. A directory member that changes nothing is `untouched`.
 */
export function pathHistory(view: MergedView, rawPath: string): { path: string; visible: boolean; steps: PathHistoryStep[] } {
  const path = normalizeEntryName(rawPath);
  const steps: PathHistoryStep[] = [];
  let before: MergedNode | undefined;
  for (let layer = 0; layer < view.layerCount(); layer++) {
    const after = view.lookupUpTo(path, layer);
    steps.push({ index: layer, action: compare(view, layer, path, before, after), kind: after?.kind });
    before = after;
  }
  return { path: `/${path}`, visible: before !== undefined, steps };
}

function compare(
  view: MergedView,
  layer: number,
  path: string,
  before: MergedNode | undefined,
  after: MergedNode | undefined,
): LayerAction {
  if (before === undefined) return after === undefined ? 'untouched' : 'added';
  if (after === undefined) return view.layer(layer).hidesBelow(path) === 'opaque' ? 'hidden' : 'deleted';
  if (sameMember(after, before)) return 'untouched';
  const was = before.entry;
  const now = after.entry;
  if (was === undefined || now === undefined) return after.kind === before.kind ? 'metadata' : 'modified';
  if (after.kind !== before.kind || !sameContent(was, now)) return 'modified';
  if (after.kind !== 'dir' && was.mtimeMs !== now.mtimeMs) return 'modified';
  return after.kind === 'dir' && sameMetadata(was, now) ? 'untouched' : 'metadata';
}

function sameContent(a: TableEntry, b: TableEntry): boolean {
  return a.size === b.size && a.linkname === b.linkname && a.devmajor === b.devmajor && a.devminor === b.devminor;
}

function sameMetadata(a: TableEntry, b: TableEntry): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtimeMs === b.mtimeMs;
}

export interface LayerChanges {
  index: number;
  /** Absolute paths, in walk order (component by component, by name bytes). */
  added: string[];
  modified: string[];
  /** Paths the layer removed from the view below it (whiteouts, opaque directories). */
  deleted: string[];
}

/**
 * `docker diff` for one layer: paths that the layer adds or modifies as seen in the view 0..L, and
 * paths of view 0..L-1 it deletes. A deleted directory is listed once, not with its contents.
 */
export function layerChanges(view: MergedView, layer: number): LayerChanges {
  const index = view.layer(layer);
  const added: string[] = [];
  const modified: string[] = [];
  const deleted = new Set<string>();
  for (const member of index.allEntries()) {
    const after = view.lookupUpTo(member.path, layer);
    const provided = after?.viaLayer === layer ? after.via : after?.layer === layer ? after.entry : undefined;
    if (after === undefined || provided?.ordinal !== member.ordinal) continue;
    const before = layer > 0 ? view.lookupUpTo(member.path, layer - 1) : undefined;
    const action = compare(view, layer, member.path, before, after);
    if (action === 'added') added.push(`/${member.path}`);
    else if (action === 'modified' || action === 'metadata') modified.push(`/${member.path}`);
  }
  if (layer > 0) {
    for (const hidden of index.whiteoutPaths()) {
      if (view.lookupUpTo(hidden, layer - 1) !== undefined) deleted.add(`/${hidden}`);
    }
    for (const dir of index.opaqueDirs()) {
      for (const name of view.children(dir, layer - 1)) {
        const child = joinPath(dir, name);
        if (view.lookupUpTo(child, layer) === undefined) deleted.add(`/${child}`);
      }
    }
  }
  const inWalkOrder = (list: Iterable<string>): string[] => [...list].sort(comparePaths);
  return { index: layer, added: inWalkOrder(added), modified: inWalkOrder(modified), deleted: inWalkOrder(deleted) };
}
