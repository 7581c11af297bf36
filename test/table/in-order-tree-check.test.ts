import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TarEntry, TarEntryType } from '../../lib/tar/tar-entry.js';
import { tarMember } from '../helpers/tar-member.js';
import { LayerTable } from '../../lib/table/layer-table.js';
import { InOrderTreeCheck } from '../../lib/table/in-order-tree-check.js';
import { LayerColumns } from '../../lib/table/layer-columns.js';
import { usePlainKernel, type PlainMemberKernel } from '../../lib/table/plain-member-kernel.js';
import { seededRandom } from '../helpers/seeded-random.js';

// A layer in path order is checked as it is read (InOrderTreeCheck); any other order is checked after
// sorting, by runs of the sorted column (forEachParentRun). Both must give the same table: the same
// members dropped under a non-directory, with the same warnings, and the same directories reached
// without a member, in the same order. A column of ASCII paths is checked by the WebAssembly kernel
// when it is built (dist/, `npm run build`): each case runs without it and with it.

interface Built {
  paths: string[];
  reached: readonly string[];
  warnings: string[];
}

async function build(specs: ReadonlyArray<readonly [string, TarEntryType]>): Promise<Built> {
  const warnings: string[] = [];
  async function* batches(): AsyncGenerator<TarEntry[]> {
    yield specs.map(([name, type], i) => tarMember(name, type, i));
  }
  const table = await LayerTable.buildFromBatches(batches(), { onWarning: (warning) => warnings.push(`${warning.code} ${warning.path} ${warning.message}`) });
  return { paths: [...table.allEntries()].map((entry) => `${entry.path}:${entry.kind}`), reached: table.reachedDirs, warnings };
}

// Names that sort on either side of '/' ('-', '.', ' ' before it; '0', 'b' after), a prefix of another
// ('a' of 'a-b'), non-ASCII (two-byte and astral), and a raw byte that is not UTF-8 (0xc3, kept as an
// escape, name-bytes.ts) whose byte is also the first of 'é': bytes and code units sort differently.
const NAMES = ['a', 'a-b', 'a.c', 'a0', 'b', 'x y', 'é', 'x\udcc3', 'xé', '\u{1f600}', '.wh.a', '.wh.b', '.wh..wh..opq'];
/** Half the random layers have ASCII names only, which the kernel checks. */
const ASCII_NAMES = NAMES.filter((name) => /^[\x00-\x7f]*$/.test(name));
const TYPES: TarEntryType[] = ['directory', 'directory', 'file', 'symlink', 'fifo'];

function randomLayer(seed: number, names: readonly string[]): Array<[string, TarEntryType]> {
  const next = seededRandom(seed);
  const pick = <T,>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const byPath = new Map<string, TarEntryType>();
  const count = 1 + Math.floor(next() * 40);
  for (let i = 0; i < count; i++) {
    const depth = 1 + Math.floor(next() * 4);
    const parts = Array.from({ length: depth }, () => pick(names));
    byPath.set(parts.join('/'), pick(TYPES));
  }
  if (next() < 0.3) byPath.set('.', 'directory');
  return [...byPath];
}

const byCodeUnits = (a: readonly [string, TarEntryType], b: readonly [string, TarEntryType]): number => {
  const x = a[0] === '.' ? '' : a[0];
  const y = b[0] === '.' ? '' : b[0];
  return x < y ? -1 : x > y ? 1 : 0;
};

describe.each([
  { checker: 'JavaScript', withKernel: false },
  { checker: 'the WebAssembly kernel for ASCII paths', withKernel: true },
])('InOrderTreeCheck, $checker', ({ withKernel }) => {
  let kernel: PlainMemberKernel | undefined;
  beforeAll(() => {
    kernel = usePlainKernel(withKernel ? readFileSync(resolve('dist/table/plain-member-kernel.wasm')) : null);
    if (withKernel) expect(kernel, 'dist/table/plain-member-kernel.wasm (npm run build) loads').toBeDefined();
  });
  afterAll(() => usePlainKernel(null));
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('finds members below a non-directory and directories without a member, as the sorted-table checks do', async () => {
    const specs: Array<[string, TarEntryType]> = [
      ['a', 'file'],
      ['a-b/c', 'file'],
      ['a/b', 'directory'],
      ['a/b/c', 'file'],
      ['d/e/f', 'file'],
      ['d/e/g', 'file'],
      ['d/h', 'symlink'],
      ['d/h/i', 'file'],
    ];
    const inOrder = await build(specs);
    expect(inOrder.paths).toEqual(['a:file', 'a-b/c:file', 'd/e/f:file', 'd/e/g:file', 'd/h:symlink']);
    expect(inOrder.reached).toEqual(['d', 'a-b', 'd/e']);
    expect(inOrder.warnings).toEqual([
      'ECONFLICT /a/b layer: /a/b dropped: /a is a file in the same layer',
      'ECONFLICT /a/b/c layer: /a/b/c dropped: /a is a file in the same layer',
      'ECONFLICT /d/h/i layer: /d/h/i dropped: /d/h is a symlink in the same layer',
    ]);
    expect(await build([...specs].reverse())).toEqual(inOrder);
  });

  it('gives up at the first member out of order or repeated', async () => {
    const outOfOrder = new InOrderTreeCheck();
    outOfOrder.add('b', 'file');
    outOfOrder.add('a', 'file');
    expect(outOfOrder.ordered).toBe(false);
    const repeated = new InOrderTreeCheck();
    repeated.add('a', 'file');
    repeated.add('a', 'dir');
    expect(repeated.ordered).toBe(false);
    // And the table then checks its sorted columns instead.
    const sortedChecks = vi.spyOn(LayerColumns.prototype, 'forEachParentRun');
    await build([['a', 'directory'], ['a/b', 'file']]);
    expect(sortedChecks).not.toHaveBeenCalled();
    await build([['a/b', 'file'], ['a', 'directory']]);
    expect(sortedChecks).toHaveBeenCalled();
  });

  it('agrees with the checks after sorting on random layers', async () => {
    const sortedChecks = vi.spyOn(LayerColumns.prototype, 'forEachParentRun');
    let members = 0;
    let dropped = 0;
    let reached = 0;
    const kernelChecks = kernel?.treeChecks ?? 0;
    for (let seed = 1; seed <= 300; seed++) {
      const specs = randomLayer(seed, seed % 2 === 0 ? ASCII_NAMES : NAMES);
      const sorted = [...specs].sort(byCodeUnits);
      const shuffled = [...sorted].reverse();
      const calls = sortedChecks.mock.calls.length;
      const inOrder = await build(sorted);
      members += inOrder.paths.length;
      dropped += inOrder.warnings.length;
      reached += inOrder.reached.length;
      expect(sortedChecks.mock.calls.length, `seed ${seed}: the sorted layer is checked as it is read`).toBe(calls);
      // Directories reached only by whiteouts or opaque markers are found in the markers' tar order,
      // which reversing the layer changes: among directories of one length, the order is not compared.
      const unordered = (built: Built): Built => ({ ...built, reached: [...built.reached].sort() });
      const other = await build(shuffled);
      expect(unordered(other), `seed ${seed}`).toEqual(unordered(inOrder));
      expect(inOrder.reached.every((dir, i) => i === 0 || (inOrder.reached[i - 1] as string).length <= dir.length), `seed ${seed}: shallowest first`).toBe(true);
    }
    // The layers were varied enough to exercise both checks.
    expect(members).toBeGreaterThan(3_000);
    expect(dropped).toBeGreaterThan(300);
    expect(reached).toBeGreaterThan(300);
    // With the kernel, it checked the ASCII layers (each in order once, reversed once).
    if (withKernel) expect((kernel?.treeChecks ?? 0) - kernelChecks).toBeGreaterThan(250);
  });
});
