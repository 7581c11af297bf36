import { joinPath } from '../table/entry-name.js';
import type { MergedNode, MergedView } from './merged-view.js';

/** R8: Linux's MAXSYMLINKS. The 40th link of one resolution is followed; the 41st is ELOOP. */
export const MAX_SYMLINK_HOPS = 40;

export type ResolveFailure = 'ENOENT' | 'ENOTDIR' | 'ELOOP';

export type Resolution =
  | { ok: true; node: MergedNode; path: string }
  | { ok: false; code: ResolveFailure };

/**
 * Resolves a path of the API (absolute or relative to the image root) to a node, as the kernel would
 * inside a chroot at the image root (R8): components are taken one at a time, `..` goes to the parent
 * of what has been resolved so far and stays at the root, an absolute symlink target restarts at the
 * image root, and every symlink met on the way is followed. With `followLast` false the last
 * component is not followed (lstat, readlink, walk). Never touches anything outside the view.
 */
export function resolvePath(view: MergedView, input: string, followLast: boolean): Resolution {
  // Components still to resolve, stored reversed so that taking the next one is a pop.
  const pending = components(input).reverse();
  // A trailing slash asks for a directory, so the last symlink is followed whatever `followLast` says.
  const mustBeDir = /\/\.?$/.test(input) && pending.length > 0;
  const resolved: string[] = [];
  // The node of `resolved`, when known; after `..` or a symlink restart it is a directory that is looked
  // up again only if the walk ends there (the root's metadata can need every layer: ask only if wanted).
  let current: MergedNode | undefined;
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.pop() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      current = undefined;
      continue;
    }
    const path = joinPath(resolved.join('/'), part);
    const node = view.lookup(path);
    if (node === undefined) return { ok: false, code: 'ENOENT' };
    const last = pending.length === 0;
    if (node.kind === 'symlink' && (!last || followLast || mustBeDir)) {
      if (++hops > MAX_SYMLINK_HOPS) return { ok: false, code: 'ELOOP' };
      const target = node.entry?.linkname ?? '';
      if (target === '') return { ok: false, code: 'ENOENT' };
      if (target.startsWith('/')) resolved.length = 0;
      for (const next of components(target).reverse()) pending.push(next);
      current = undefined;
      continue;
    }
    if (!last && node.kind !== 'dir') return { ok: false, code: 'ENOTDIR' };
    resolved.push(part);
    current = node;
  }
  const path = resolved.join('/');
  const node = current ?? (view.lookup(path) as MergedNode);
  if (mustBeDir && node.kind !== 'dir') return { ok: false, code: 'ENOTDIR' };
  return { ok: true, node, path };
}

function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}
