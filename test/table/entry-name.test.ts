import { describe, expect, it } from 'vitest';
import { normalizeName } from '../../lib/table/entry-name.js';

/** R1 as written: split on '/', drop empty and '.' components, resolve '..' lexically, clamped at the root. */
function byComponents(raw: string): { path: string; climbsOut: boolean } {
  const parts: string[] = [];
  let climbsOut = false;
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) climbsOut = true;
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return { path: parts.join('/'), climbsOut };
}

describe('normalizeName', () => {
  it('agrees with component-wise normalisation on every name of up to 5 pieces from a / . .. alphabet (its fast path included)', () => {
    const pieces = ['a', '/', '.', 'bc', '..', './', '//'];
    let checked = 0;
    const visit = (name: string, depth: number): void => {
      expect(normalizeName(name), JSON.stringify(name)).toEqual(byComponents(name));
      checked++;
      if (depth > 0) for (const piece of pieces) visit(name + piece, depth - 1);
    };
    visit('', 5);
    expect(checked).toBe((7 ** 6 - 1) / 6);
  });

  it('cuts a long already-normal name out of the member name as is', () => {
    const chain = 'c/'.repeat(5000);
    expect(normalizeName(`./${chain}`).path).toBe(chain.slice(0, -1));
    expect(normalizeName(`/${chain}f`).path).toBe(`${chain}f`);
  });
});
