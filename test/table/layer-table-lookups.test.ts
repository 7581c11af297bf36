/**
 * LayerTable's lookups (`get`, `kindAt`, `impliesDir`) answer from binary searches of the sorted path
 * column, and remember what a search showed besides its own answer (whether a directory holds
 * anything, from the names on either side). These tests check every answer against the member list
 * itself, whatever was asked before, including names that sort between `p` and `p/` (`p-x`, `p.d`);
 * and that resolving a path through stacked layers loaded from the cache costs at most one search
 * per layer and component (a warm lookup is too short for V8 to compile the search: issue #14).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolvePath } from '../../lib/merge/resolve-path.js';
import { MergedView } from '../../lib/merge/merged-view.js';
import { EncodedNames } from '../../lib/table/encoded-names.js';
import { LayerTable } from '../../lib/table/layer-table.js';
import { decodeSnapshot, encodeSnapshot } from '../../lib/table/snapshot-codec.js';
import type { TarEntry } from '../../lib/tar/tar-entry.js';
import { tarMember } from '../helpers/tar-member.js';

afterEach(() => vi.restoreAllMocks());

/** A table as a warm run has it: built, written to its cache file's bytes, and loaded back. */
async function cachedTable(names: readonly string[]): Promise<LayerTable> {
  async function* members(): AsyncGenerator<TarEntry> {
    for (const [i, name] of names.entries()) yield tarMember(name, name.endsWith('/') ? 'directory' : 'file', i);
  }
  const built = await LayerTable.build(members());
  return LayerTable.fromSnapshot(decodeSnapshot(encodeSnapshot(built.snapshot())));
}

describe('LayerTable lookups', () => {
  it('answer as the member list says after any earlier question, with names sorting between p and p/', async () => {
    // Every path of up to three pieces that sort around '/' ('-' and '.' before it, '0' and 'b' after).
    const pieces = ['a', 'a-x', 'a.d', 'a0', 'b'];
    const universe = pieces.flatMap((x) => [x, ...pieces.flatMap((y) => [`${x}/${y}`, ...pieces.map((z) => `${x}/${y}/${z}`)])]);
    let seed = 5;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const parent = (path: string): string => path.slice(0, Math.max(0, path.lastIndexOf('/')));
    const wrong: string[] = [];
    for (let round = 0; round < 150; round++) {
      // Distinct members; one with members below it is a directory (a layer's file with members under
      // it is not what is asked here), others are directories a third of the time.
      const kinds = new Map<string, 'dir' | 'file'>();
      for (let i = 1 + (next() % 10); i > 0; i--) kinds.set(universe[next() % universe.length] as string, next() % 3 === 0 ? 'dir' : 'file');
      for (const name of kinds.keys()) if ([...kinds.keys()].some((other) => other.startsWith(`${name}/`))) kinds.set(name, 'dir');
      const names = [...kinds].map(([name, kind]) => (kind === 'dir' ? `${name}/` : name));
      const bytes = encodeSnapshot((await cachedTable(names)).snapshot());
      const expected = {
        kindAt: (path: string) => kinds.get(path),
        // The root ('') is implied by any member at all.
        impliesDir: (path: string) => (path === '' ? kinds.size > 0 : !kinds.has(path) && [...kinds.keys()].some((name) => name.startsWith(`${path}/`))),
      };
      const check = (table: LayerTable, question: 'kindAt' | 'impliesDir', path: string, after: string): void => {
        const answer = table[question](path);
        if (answer !== expected[question](path)) wrong.push(`${JSON.stringify(names)}: ${question}(${path}) = ${answer} after ${after}`);
      };
      // What one question leaves remembered must not change the answer to the next, on a fresh table.
      for (const first of universe) {
        for (const then of [first, parent(first)]) {
          for (const question of ['kindAt', 'impliesDir'] as const) {
            const table = LayerTable.fromSnapshot(decodeSnapshot(bytes));
            check(table, 'kindAt', first, 'nothing');
            check(table, question, then, `kindAt(${first})`);
          }
        }
      }
    }
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('resolve a bottom-layer file through stacked cached layers with at most one search per layer and component', async () => {
    const bottom = ['etc/', 'etc/passwd', 'usr/', 'usr/share/', 'usr/share/zoneinfo/', 'usr/share/zoneinfo/Europe/'];
    for (let i = 0; i < 300; i++) bottom.push(`usr/share/doc/pkg${i}/copyright`, `usr/lib/lib${i}.so`);
    bottom.push('usr/share/zoneinfo/Europe/Berlin', 'usr/share/zoneinfo/Europe/Paris');
    const layers = await Promise.all([
      cachedTable(bottom.sort()),
      cachedTable(['usr/', 'usr/lib/', 'usr/lib/python3/', 'usr/lib/python3/x.py', 'usr/share/', 'usr/share/man/', 'usr/share/man/y.1']),
      cachedTable(['etc/', 'etc/hosts', 'var/', 'var/log/', 'var/log/apt.log']),
      cachedTable(['usr/', 'usr/local/', 'usr/local/bin/', 'usr/local/bin/entrypoint.sh']),
      cachedTable(['app/', 'app/start.js']),
    ]);
    const view = new MergedView(layers, () => undefined);
    const seek = vi.spyOn(EncodedNames.prototype, 'seek');
    const slotOf = vi.spyOn(EncodedNames.prototype, 'slotOf');
    const resolved = resolvePath(view, '/usr/share/zoneinfo/Europe/Berlin', true);
    expect(resolved.ok && resolved.node.kind === 'file' && resolved.node.layer === 0).toBe(true);
    const components = 5;
    expect(seek.mock.calls.length + slotOf.mock.calls.length).toBeLessThanOrEqual(layers.length * components);
  });
});
