/**
 * `imgfs readlink` and `imgfs realpath`, as their coreutils namesakes: one line per operand. With
 * --json, one object per operand that also names the layer providing the link (readlink) or the
 * resolved entry (realpath).
 */

import type { ImageFS, ImageStats } from '../../index.js';
import type { CommandSpec } from '../context.js';

/** The two commands differ only in the question asked and the JSON they print. */
function pathCommand(spec: {
  name: string;
  summary: string;
  jsonHelp: string;
  answer(img: ImageFS, path: string): Promise<string>;
  /** For --json: the path whose lstat names the layer, and the fields between `path` and `layer`. */
  subject(path: string, answer: string): string;
  fields(answer: string, stats: ImageStats): Record<string, string>;
}): CommandSpec {
  return {
    name: spec.name,
    summary: spec.summary,
    usage: '[--json] IMAGE PATH...',
    options: [{ long: 'json', help: spec.jsonHelp }],
    paths: { min: 1, max: Infinity },
    lazy: true,
    fewPaths: true,
    async run(ctx) {
      const json = ctx.args.flags.has('json');
      for (const path of ctx.paths) {
        try {
          const answer = await spec.answer(ctx.img, path);
          if (!json) {
            await ctx.out.line(answer);
            continue;
          }
          const stats = await ctx.img.lstat(spec.subject(path, answer));
          const digest = ctx.img.layers[stats.layer]?.digest ?? null;
          await ctx.out.line(JSON.stringify({ path, ...spec.fields(answer, stats), layer: stats.layer, digest }));
        } catch (error) {
          ctx.pathFailed(path, error);
        }
      }
    },
  };
}

export const readlink = pathCommand({
  name: 'readlink',
  summary: 'print the target of a symbolic link',
  jsonHelp: 'one JSON object per PATH: path, target, layer, digest',
  answer: (img, path) => img.readlink(path),
  subject: (path) => path,
  fields: (target) => ({ target }),
});

export const realpath = pathCommand({
  name: 'realpath',
  summary: 'print the resolved path, symlinks followed inside the image root',
  jsonHelp: 'one JSON object per PATH: path, realpath, type, layer, digest',
  answer: (img, path) => img.realpath(path),
  subject: (_path, real) => real,
  fields: (real, stats) => ({ realpath: real, type: stats.type }),
});
