/**
 * fnmatch(3) without flags, as find(1) `-name` uses it on a basename: `*` any run of characters
 * (leading dots included), `?` one character, `[abc]` `[a-z]` `[!x]` `[^x]` a set, `\x` a literal x.
 * An unclosed `[` is a literal. Works on code points, so `?` matches one non-ASCII character.
 */

type Token =
  | { kind: 'literal'; char: string }
  | { kind: 'any' }
  | { kind: 'star' }
  | { kind: 'set'; negated: boolean; items: Array<[string, string]> };

export function compileGlob(pattern: string): (name: string) => boolean {
  const tokens = tokenize(pattern);
  return (name) => matchTokens(tokens, Array.from(name));
}

export function globMatch(pattern: string, name: string): boolean {
  return compileGlob(pattern)(name);
}

function tokenize(pattern: string): Token[] {
  const chars = Array.from(pattern);
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === '*') {
      if (tokens[tokens.length - 1]?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === '?') {
      tokens.push({ kind: 'any' });
    } else if (c === '\\' && i + 1 < chars.length) {
      tokens.push({ kind: 'literal', char: chars[++i] as string });
    } else if (c === '[') {
      const set = parseSet(chars, i + 1);
      if (set === undefined) tokens.push({ kind: 'literal', char: '[' });
      else {
        tokens.push(set.token);
        i = set.end;
      }
    } else {
      tokens.push({ kind: 'literal', char: c });
    }
  }
  return tokens;
}

/** Parses a bracket expression starting after `[`; returns the token and the index of its `]`. */
function parseSet(chars: string[], start: number): { token: Token; end: number } | undefined {
  let i = start;
  let negated = false;
  if (chars[i] === '!' || chars[i] === '^') {
    negated = true;
    i++;
  }
  const items: Array<[string, string]> = [];
  let first = true;
  while (i < chars.length) {
    let c = chars[i] as string;
    // A `]` first in the set is a member, not the end.
    if (c === ']' && !first) return { token: { kind: 'set', negated, items }, end: i };
    first = false;
    if (c === '\\' && i + 1 < chars.length) c = chars[++i] as string;
    const dash = chars[i + 1];
    const hi = chars[i + 2];
    if (dash === '-' && hi !== undefined && hi !== ']') {
      let high = hi;
      i += 2;
      if (high === '\\' && i + 1 < chars.length) high = chars[++i] as string;
      items.push([c, high]);
    } else {
      items.push([c, c]);
    }
    i++;
  }
  return undefined;
}

function matchTokens(tokens: Token[], name: string[]): boolean {
  // Iterative matching with one backtrack point per `*` (the classic linear-ish wildcard algorithm).
  let t = 0;
  let n = 0;
  let starT = -1;
  let starN = 0;
  while (n < name.length) {
    const token = tokens[t];
    if (token !== undefined && token.kind !== 'star' && matchOne(token, name[n] as string)) {
      t++;
      n++;
    } else if (token?.kind === 'star') {
      starT = t++;
      starN = n;
    } else if (starT >= 0) {
      t = starT + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === 'star') t++;
  return t === tokens.length;
}

function matchOne(token: Exclude<Token, { kind: 'star' }>, char: string): boolean {
  switch (token.kind) {
    case 'literal':
      return token.char === char;
    case 'any':
      return true;
    case 'set': {
      const cp = char.codePointAt(0) ?? 0;
      const inSet = token.items.some(([lo, hi]) => cp >= (lo.codePointAt(0) ?? 0) && cp <= (hi.codePointAt(0) ?? 0));
      return inSet !== token.negated;
    }
  }
}
