/** Path helpers for operands: joining for display, and the byte order that `walk` and `readdir` use. */

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
 * Compares two names by the bytes of their UTF-8 encoding, which is code point order. Plain `<` on
 * JS strings compares UTF-16 units and puts astral characters before U+E000–U+FFFF.
 */
export function compareNames(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const surrogate = (c: number): boolean => c >= 0xd800 && c <= 0xdfff;
    if (surrogate(x) !== surrogate(y)) return surrogate(x) ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
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
