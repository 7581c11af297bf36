/** Path helpers for operands: joining for display, and the last component. */

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
