import { joinPath } from '../table/entry-name.js';
import type { MergedNode } from './merged-view.js';
import { MAX_SYMLINK_HOPS } from './resolve-path.js';

/**
 * Where a directory path really is in some view of the image (R6, R7), as the kernel finds an entry's
 * parent when a runtime applies a layer: every component followed, symlinks resolved inside the root
 * (an absolute target starts at the root, `..` stops there), at most MAX_SYMLINK_HOPS links. Undefined
 * when the path does not lead to a directory. `lookup` answers for the view meant (layers 0..L-1).
 */
export function resolveDirectory(path: string, lookup: (path: string) => MergedNode | undefined): string | undefined {
  const pending = components(path).reverse();
  const resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.pop() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const node = lookup(joinPath(resolved.join('/'), part));
    if (node === undefined) return undefined;
    if (node.kind === 'symlink') {
      const target = node.entry?.linkname ?? '';
      if (++hops > MAX_SYMLINK_HOPS || target === '') return undefined;
      if (target.startsWith('/')) resolved.length = 0;
      pending.push(...components(target).reverse());
      continue;
    }
    if (node.kind !== 'dir') return undefined;
    resolved.push(part);
  }
  return resolved.join('/');
}

function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}
