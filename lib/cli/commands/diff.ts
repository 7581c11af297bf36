/**
 * `imgfs diff`: what each layer added (A), modified (C) and deleted (D), like `docker diff` and
 * container-diff, from `ImageFS.changes(n)`. A whiteout is a deletion, never a file; a deleted
 * directory is one line, its contents implied. Text lines are in walk order, kinds interleaved.
 */

import { comparePaths } from '../../index.js';
import { lastValue, UsageError } from '../args.js';
import type { CommandSpec } from '../context.js';

type ChangeKind = 'added' | 'modified' | 'deleted';
const letters: Record<ChangeKind, string> = { added: 'A', modified: 'C', deleted: 'D' };

export const diff: CommandSpec = {
  name: 'diff',
  summary: 'list the paths each layer added (A), modified (C) and deleted (D)',
  usage: '[--layer N] [--json] IMAGE',
  details: 'Without --layer, each layer\'s lines follow a "layer N (digest):" header.',
  options: [
    { long: 'layer', value: true, valueName: 'N', help: 'only layer N (0 = bottom), without a header' },
    { long: 'json', help: 'a JSON array: per layer {layer, digest, createdBy, added, modified, deleted}' },
  ],
  paths: { min: 0, max: 0 },
  async run(ctx) {
    const count = ctx.img.layers.length;
    const chosen = lastValue(ctx.args, 'layer');
    let indexes = [...Array(count).keys()];
    if (chosen !== undefined) {
      const n = Number(chosen);
      if (!/^\d+$/.test(chosen) || n >= count) {
        throw new UsageError(`--layer: '${chosen}' is not a layer index (0 to ${count - 1})`);
      }
      indexes = [n];
    }
    const json = ctx.args.flags.has('json');
    const results: object[] = [];
    for (const n of indexes) {
      const layer = ctx.img.layers[n];
      const digest = layer?.digest ?? null;
      const changes = ctx.img.changes(n);
      if (json) {
        const { added, modified, deleted } = changes;
        results.push({ layer: n, digest, createdBy: layer?.createdBy ?? null, added, modified, deleted });
        continue;
      }
      if (chosen === undefined) {
        if (n !== indexes[0]) await ctx.out.line('');
        await ctx.out.line(`layer ${n}${digest === null ? '' : ` (${digest})`}:`);
      }
      const lines: Array<[string, ChangeKind]> = [
        ...changes.added.map((path): [string, ChangeKind] => [path, 'added']),
        ...changes.modified.map((path): [string, ChangeKind] => [path, 'modified']),
        ...changes.deleted.map((path): [string, ChangeKind] => [path, 'deleted']),
      ];
      lines.sort((a, b) => comparePaths(a[0], b[0]));
      for (const [path, kind] of lines) await ctx.out.line(`${letters[kind]} ${path}`);
    }
    if (json) await ctx.out.line(JSON.stringify(results, null, 2));
  },
};
