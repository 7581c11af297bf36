/**
 * Globs over absolute image paths for `scan` include/exclude: `**` any run of characters across
 * directories, `*` any run within one component, `?` one character, `[...]` a set (`[!...]` negated).
 * A pattern without `/` matches the basename anywhere (as `.gitignore` does), so `*.so` finds every
 * shared object while `/usr/lib/**` names one subtree.
 */
export function compilePathGlob(pattern: string): (path: string) => boolean {
  const anchored = pattern.includes('/');
  const source = translate(anchored && !pattern.startsWith('/') ? `/${pattern}` : pattern);
  const regex = new RegExp(anchored ? `^${source}$` : `(?:^|/)${source}$`, 'u');
  return (path) => regex.test(path);
}

function translate(pattern: string): string {
  let out = '';
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === '*') {
      if (chars[i + 1] === '*') {
        // `/**/` also matches a single `/`, so `/a/**/b` finds `/a/b`.
        const slashAfter = chars[i + 2] === '/';
        out += slashAfter ? '(?:.*/)?' : '.*';
        i += slashAfter ? 2 : 1;
      } else {
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const close = chars.indexOf(']', i + 2);
      if (close < 0) {
        out += '\\[';
        continue;
      }
      let body = chars.slice(i + 1, close).join('');
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      out += `[${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else {
      out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return out;
}
