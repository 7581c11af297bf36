import { describe, expect, it } from 'vitest';
import { normalizeByComponents, normalizeName } from '../../lib/table/entry-name.js';

describe('normalizeName', () => {
  it('agrees with component-wise normalisation (R1) on every name of up to 5 pieces from a / . .. alphabet (its fast path included)', () => {
    const pieces = ['a', '/', '.', 'bc', '..', './', '//'];
    let checked = 0;
    const visit = (name: string, depth: number): void => {
      expect(normalizeName(name), JSON.stringify(name)).toEqual(normalizeByComponents(name));
      checked++;
      if (depth > 0) for (const piece of pieces) visit(name + piece, depth - 1);
    };
    visit('', 5);
    expect(normalizeByComponents('./a//b/../c/')).toEqual({ path: 'a/c', climbsOut: false });
    expect(normalizeByComponents('../a')).toEqual({ path: 'a', climbsOut: true });
    expect(checked).toBe((7 ** 6 - 1) / 6);
  });

  it('cuts a long already-normal name out of the member name as is', () => {
    const chain = 'c/'.repeat(5000);
    expect(normalizeName(`./${chain}`).path).toBe(chain.slice(0, -1));
    expect(normalizeName(`/${chain}f`).path).toBe(`${chain}f`);
  });
});
