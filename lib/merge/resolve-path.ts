import { joinPath, parentOf, ROOT } from '../table/entry-name.js';
import type { MergedNode, MergedView } from './merged-view.js';

/**
 * R8: Linux's MAXSYMLINKS. The 40th link of one resolution is followed; the 41st is ELOOP. The count
 * is kept in `hops` below and carried over when a resolution starts from an already resolved directory.
 */
export const MAX_SYMLINK_HOPS = 40;

export type ResolveFailure = 'ENOENT' | 'ENOTDIR' | 'ELOOP';

export type Resolution =
  | {
      ok: true;
      node: MergedNode;
      path: string;
      /** Symlinks followed on the way; a resolution that continues from this one counts on from here. */
      hops: number;
    }
  | { ok: false; code: ResolveFailure };

/** A directory already resolved (with every symlink on the way followed): where a resolution may start. */
export interface ResolvedDir {
  node: MergedNode;
  path: string;
  hops: number;
}

/**
 * Resolves a path of the API (absolute or relative to the image root) to a node, as the kernel would
 * inside a chroot at the image root (R8): components are taken one at a time, `..` goes to the parent
 * of what has been resolved so far and stays at the root, an absolute symlink target restarts at the
 * image root, and every symlink met on the way is followed. With `followLast` false the last
 * component is not followed (lstat, readlink, walk). Never touches anything outside the view.
 *
 * With `from`, `input` is taken relative to that resolved directory, exactly as if the components
 * that led to it had just been walked: `ls -R` and other walks resolve each child from its parent in
 * O(1) lookups instead of from the root, so a chain d levels deep costs O(d) lookups, not O(d²).
 * The path resolved so far is kept as one string (never rebuilt from its components), so one
 * resolution costs O(depth) lookups.
 */
export function resolvePath(view: MergedView, input: string, followLast: boolean, from?: ResolvedDir): Resolution {
  // Components still to resolve, stored reversed so that taking the next one is a pop.
  const pending = components(input).reverse();
  // A trailing slash asks for a directory, so the last symlink is followed whatever `followLast` says.
  const mustBeDir = /\/\.?$/.test(input) && pending.length > 0;
  let resolved = from?.path ?? ROOT;
  // The node of `resolved`, when known; after `..` or a symlink restart it is a directory that is looked
  // up again only if the walk ends there (the root's metadata can need every layer: ask only if wanted).
  let current: MergedNode | undefined = from?.node;
  let hops = from?.hops ?? 0;
  while (pending.length > 0) {
    const part = pending.pop() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved = parentOf(resolved);
      current = undefined;
      continue;
    }
    const path = joinPath(resolved, part);
    const node = view.lookup(path);
    if (node === undefined) return { ok: false, code: 'ENOENT' };
    const last = pending.length === 0;
    if (node.kind === 'symlink' && (!last || followLast || mustBeDir)) {
      if (++hops > MAX_SYMLINK_HOPS) return { ok: false, code: 'ELOOP' };
      const target = node.entry?.linkname ?? '';
      if (target === '') return { ok: false, code: 'ENOENT' };
      if (target.startsWith('/')) resolved = ROOT;
      for (const next of components(target).reverse()) pending.push(next);
      current = undefined;
      continue;
    }
    if (!last && node.kind !== 'dir') return { ok: false, code: 'ENOTDIR' };
    resolved = path;
    current = node;
  }
  const node = current ?? (view.lookup(resolved) as MergedNode);
  if (mustBeDir && node.kind !== 'dir') return { ok: false, code: 'ENOTDIR' };
  return { ok: true, node, path: resolved, hops };
}

function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}
