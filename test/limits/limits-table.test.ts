import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLimits } from '../../lib/cli/main.js';
import { LIMITS, resolveLimits, type LimitName } from '../../lib/limits.js';
import { repoRoot } from '../cli/run-cli.js';

const names = Object.keys(LIMITS) as LimitName[];

describe('the table of limits', () => {
  it('is what the README shows, row for row', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const rows = readme.split('\n').filter((line) => line.startsWith('| `limits.'));
    expect(rows).toEqual(names.map((name) => `| \`limits.${name}\` | ${LIMITS[name].shown} | ${LIMITS[name].bounds} |`));
  });

  it('gives every limit its default, and the caller’s value where one is given', () => {
    const defaults = resolveLimits(undefined);
    expect(defaults).toEqual(Object.fromEntries(names.map((name) => [name, LIMITS[name].default])));
    expect(defaults.maxEntries).toBe(5_000_000);
    expect(resolveLimits({ maxRatio: 5000, maxLayers: Infinity })).toEqual({ ...defaults, maxRatio: 5000, maxLayers: Infinity });
  });

  it('refuses a value that is not a number above 0, and a name it does not have', () => {
    for (const bad of [0, -1, Number.NaN, '5', null]) {
      expect(() => resolveLimits({ maxEntries: bad as number })).toThrow(/limits\.maxEntries must be a number above 0/);
    }
    expect(() => resolveLimits({ maxEntrys: 5 } as never)).toThrow(/unknown limit maxEntrys \(known: maxEntries, maxLayers/);
  });

  it('is what the CLI’s --limit accepts, by the same names', () => {
    expect(parseLimits(names.map((name) => `${name}=7`))).toEqual(Object.fromEntries(names.map((name) => [name, 7])));
    expect(parseLimits(['maxRatio=inf'])).toEqual({ maxRatio: Infinity });
    expect(() => parseLimits(['maxEntrys=5'])).toThrow(`NAME one of ${names.join(', ')}`);
  });
});
