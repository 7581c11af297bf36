/**
 * `imgfs readlink` and `imgfs realpath`, as their coreutils namesakes: one line per operand. With
 * --json, one object per operand that also names the layer providing the link (readlink) or the
 * resolved entry (realpath).
 */

import type { CommandSpec } from '../context.js';

export const readlink: CommandSpec = {
  name: 'readlink',
  summary: 'print the target of a symbolic link',
  usage: '[--json] IMAGE PATH...',
  options: [{ long: 'json', help: 'one JSON object per PATH: path, target, layer, digest' }],
  paths: { min: 1, max: Infinity },
  lazy: true,
  async run(ctx) {
    const json = ctx.args.flags.has('json');
    for (const path of ctx.paths) {
      try {
        const target = await ctx.img.readlink(path);
        if (!json) {
          await ctx.out.line(target);
          continue;
        }
        const stats = await ctx.img.lstat(path);
        const digest = ctx.img.layers[stats.layer]?.digest ?? null;
        await ctx.out.line(JSON.stringify({ path, target, layer: stats.layer, digest }));
      } catch (error) {
        ctx.pathFailed(path, error);
      }
    }
  },
};

export const realpath: CommandSpec = {
  name: 'realpath',
  summary: 'print the resolved path, symlinks followed inside the image root',
  usage: '[--json] IMAGE PATH...',
  options: [{ long: 'json', help: 'one JSON object per PATH: path, realpath, type, layer, digest' }],
  paths: { min: 1, max: Infinity },
  lazy: true,
  async run(ctx) {
    const json = ctx.args.flags.has('json');
    for (const path of ctx.paths) {
      try {
        const real = await ctx.img.realpath(path);
        if (!json) {
          await ctx.out.line(real);
          continue;
        }
        const stats = await ctx.img.lstat(real);
        const digest = ctx.img.layers[stats.layer]?.digest ?? null;
        await ctx.out.line(JSON.stringify({ path, realpath: real, type: stats.type, layer: stats.layer, digest }));
      } catch (error) {
        ctx.pathFailed(path, error);
      }
    }
  },
};
