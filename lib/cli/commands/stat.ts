/**
 * `imgfs stat`: coreutils stat(1)'s default layout (lstat semantics; -L follows symlinks), with the
 * times an image has (mtime only) and one more line naming the layer that provides the entry.
 */

import type { ImageFS, ImageStats } from '../../index.js';
import type { CommandSpec } from '../context.js';
import { namesFor } from '../context.js';
import { statDate, statsModeString, typeDescription } from '../format.js';
import { entryJson } from '../json.js';
import type { Names } from '../passwd.js';

export const stat: CommandSpec = {
  name: 'stat',
  summary: 'show an entry\'s metadata and the layer that provides it',
  usage: '[-L] [--json] IMAGE PATH...',
  options: [
    { long: 'dereference', short: 'L', help: 'follow symbolic links' },
    { long: 'json', help: 'one JSON object per PATH' },
  ],
  paths: { min: 1, max: Infinity },
  lazy: true,
  fewPaths: true,
  async run(ctx) {
    const follow = ctx.args.flags.has('dereference');
    const json = ctx.args.flags.has('json');
    const names = await namesFor(ctx, false);
    for (const path of ctx.paths) {
      try {
        const stats = follow ? await ctx.img.stat(path) : await ctx.img.lstat(path);
        if (json) await ctx.out.line(JSON.stringify(entryJson(path, stats, ctx.img, names)));
        else for (const line of statLines(path, stats, ctx.img, names)) await ctx.out.line(line);
      } catch (error) {
        ctx.pathFailed(path, error);
      }
    }
  },
};

export function statLines(path: string, stats: ImageStats, img: ImageFS, names: Names): string[] {
  const file = stats.type === 'symlink' && stats.target !== undefined ? `${path} -> ${stats.target}` : path;
  const octal = (stats.mode & 0o7777).toString(8).padStart(4, '0');
  const uid = `(${String(stats.uid).padStart(5)}/${(names.user(stats.uid) ?? 'UNKNOWN').padStart(8)})`;
  const gid = `(${String(stats.gid).padStart(5)}/${(names.group(stats.gid) ?? 'UNKNOWN').padStart(8)})`;
  const device = stats.type === 'char' || stats.type === 'block';
  const layer = img.layers[stats.layer];
  return [
    `  File: ${file}`,
    `  Size: ${String(stats.size).padEnd(15)} Blocks: ${String(stats.blocks).padEnd(10)} IO Block: ${String(stats.blksize).padEnd(6)} ${typeDescription(stats)}`,
    `Device: 0,0\tInode: ${String(stats.ino).padEnd(11)} Links: ${stats.nlink}${device ? `     Device type: ${stats.devmajor},${stats.devminor}` : ''}`,
    `Access: (${octal}/${statsModeString(stats)})  Uid: ${uid}   Gid: ${gid}`,
    `Modify: ${statDate(stats.mtimeMs)}`,
    ` Layer: ${stats.layer}${layer?.digest !== undefined ? ` (${layer.digest})` : ''}`,
  ];
}
