/**
 * `imgfs find`: for each start path in the order given (as GNU find), the start itself, then every
 * entry under it in `walk` order (pre-order, children sorted by name bytes, symlinks not followed).
 * A start that cannot be read is reported and the others are still walked. --json streams NDJSON.
 */

import { posix } from 'node:path';
import type { FileType, ImageStats } from '../../index.js';
import { lastValue, UsageError } from '../args.js';
import type { CommandSpec } from '../context.js';
import { compileGlob } from '../glob.js';
import { entryJson } from '../json.js';
import { numericNames } from '../passwd.js';
import { baseName } from '../paths.js';

const typeByLetter: Record<string, FileType> = {
  f: 'file',
  d: 'dir',
  l: 'symlink',
  p: 'fifo',
  c: 'char',
  b: 'block',
  s: 'socket',
};

export const find: CommandSpec = {
  name: 'find',
  summary: 'list entries recursively, filtered by type and name',
  usage: '[--type f,d,l,p,c,b,s] [--name GLOB] [--json] IMAGE [PATH...]',
  details: 'PATH defaults to /; several are walked one after the other. GLOB matches the last component: * ? [...], as find -name.',
  options: [
    { long: 'type', value: true, valueName: 'LIST', help: 'only these types: f file, d dir, l symlink, p fifo, c char, b block, s socket' },
    { long: 'name', value: true, valueName: 'GLOB', help: 'only entries whose name matches GLOB' },
    { long: 'json', help: 'one JSON object per entry (NDJSON)' },
  ],
  paths: { min: 0, max: Infinity },
  async run(ctx) {
    const types = parseTypes(ctx.args.values.get('type') ?? []);
    const glob = lastValue(ctx.args, 'name');
    const matches = glob === undefined ? undefined : compileGlob(glob);
    const json = ctx.args.flags.has('json');
    const names = json ? await ctx.names() : numericNames;

    const emit = async (path: string, stats: ImageStats): Promise<void> => {
      if (types !== undefined && !types.has(stats.type)) return;
      if (matches !== undefined && !matches(baseName(path))) return;
      await ctx.out.line(json ? JSON.stringify(entryJson(path, stats, ctx.img, names)) : path);
    };

    for (const operand of ctx.paths.length === 0 ? ['/'] : ctx.paths) {
      // Image paths are absolute; `etc` and `/etc/` both mean /etc.
      const start = posix.join('/', operand).replace(/(.)\/+$/, '$1');
      try {
        const stats = await ctx.img.lstat(operand);
        await emit(start, stats);
        if (stats.isDirectory()) {
          for await (const entry of ctx.img.walk(start)) await emit(entry.path, entry.stats);
        }
      } catch (error) {
        ctx.pathFailed(operand, error);
      }
    }
  },
};

/** `f,d` and repeated --type options: the union; undefined when none was given. */
export function parseTypes(lists: readonly string[]): Set<FileType> | undefined {
  if (lists.length === 0) return undefined;
  const types = new Set<FileType>();
  for (const list of lists) {
    for (const letter of list.split(',')) {
      const type = typeByLetter[letter.trim()];
      if (type === undefined) throw new UsageError(`--type: unknown type '${letter}' (use f, d, l, p, c, b, s)`);
      types.add(type);
    }
  }
  return types;
}
