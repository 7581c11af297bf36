/** Path helpers for operands: joining for display, and the byte order that `walk` and `readdir` use. */

import { compareNameBytes as compareNames } from '../index.js';

/** Names in the order readdir and walk give them: by the bytes they stand for. */
export { compareNames };

/** `dir` + `/` + `name`, without doubling a slash the user typed (`etc/` → `etc/passwd`). */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** The last component of a path (`/` for the root), as find(1) tests `-name` against. */
export function baseName(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return path === '' ? '' : '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/**
 * The order of a pre-order walk with children sorted by name bytes: component by component, an
 * ancestor before its descendants. (`/a/b` < `/a-c`, which plain string order gets wrong.)
 */
export function compareWalkOrder(a: string, b: string): number {
  const ap = a.split('/').filter((c) => c !== '');
  const bp = b.split('/').filter((c) => c !== '');
  const length = Math.min(ap.length, bp.length);
  for (let i = 0; i < length; i++) {
    const order = compareNames(ap[i] as string, bp[i] as string);
    if (order !== 0) return order;
  }
  return ap.length - bp.length;
}
