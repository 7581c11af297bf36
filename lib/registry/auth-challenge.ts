/**
 * `WWW-Authenticate` challenges (RFC 7235) as registries send them: `Bearer realm="…",service="…",scope="…"`
 * or `Basic realm="…"`. Only the first challenge of a known scheme is used.
 */

export interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

/** The challenge in a 401's `WWW-Authenticate`, or undefined when there is none imgfs understands. */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  for (const value of values) {
    const match = /^\s*(\w+)\s*(.*)$/s.exec(value);
    if (match === null) continue;
    const scheme = (match[1] as string).toLowerCase();
    if (scheme !== 'bearer' && scheme !== 'basic') continue;
    return { scheme, params: parseParams(match[2] as string) };
  }
  return undefined;
}

/** `a="x, y",b=z` → { a: 'x, y', b: 'z' }; quoted values may hold escaped quotes. */
function parseParams(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  const pattern = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/gy;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(text)) !== null) {
    if (match[0] === '') break;
    const quoted = match[2];
    params[(match[1] as string).toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (match[3] ?? '');
  }
  return params;
}
