/** `imgfs history PATH`: for each layer, bottom first, what it did to PATH. */

import type { LayerAction, PathHistory } from '../../index.js';
import type { CommandSpec } from '../context.js';
import { CliPathError } from '../errors.js';
import { shortDigest, table } from '../format.js';

const actionText: Record<LayerAction, string> = {
  added: 'added',
  modified: 'modified',
  metadata: 'metadata changed',
  deleted: 'deleted by whiteout',
  hidden: 'hidden by opaque directory',
  untouched: 'untouched',
};

export const history: CommandSpec = {
  name: 'history',
  summary: 'show what each layer did to a path',
  usage: '[--json] IMAGE PATH...',
  details: 'Actions: added, modified, metadata changed, deleted by whiteout, hidden by opaque directory, untouched.',
  options: [{ long: 'json', help: 'one JSON object per PATH: path, visible, layers[{index, digest, action, type}]' }],
  paths: { min: 1, max: Infinity },
  async run(ctx) {
    const json = ctx.args.flags.has('json');
    let first = true;
    for (const path of ctx.paths) {
      try {
        const result = ctx.img.history(path);
        // A path that no layer ever had is an error, like for the other commands.
        if (!result.visible && result.layers.every((layer) => layer.action === 'untouched')) {
          throw new CliPathError('ENOENT');
        }
        if (json) {
          await ctx.out.line(JSON.stringify(historyJson(result)));
          continue;
        }
        if (!first) await ctx.out.line('');
        first = false;
        for (const line of historyLines(result)) await ctx.out.line(line);
      } catch (error) {
        ctx.pathFailed(path, error);
      }
    }
  },
};

export function historyJson(result: PathHistory): object {
  return {
    path: result.path,
    visible: result.visible,
    layers: result.layers.map((layer) => ({
      index: layer.index,
      digest: layer.digest ?? null,
      action: layer.action,
      type: layer.type ?? null,
    })),
  };
}

export function historyLines(result: PathHistory): string[] {
  const rows = [
    ['LAYER', 'DIGEST', 'ACTION', 'TYPE'],
    ...result.layers.map((layer) => [
      String(layer.index),
      shortDigest(layer.digest),
      actionText[layer.action],
      layer.type ?? '',
    ]),
  ];
  return [`${result.path}: ${result.visible ? 'visible' : 'not visible'}`, ...table(rows, new Set([0])).map((l) => l.trimEnd())];
}
