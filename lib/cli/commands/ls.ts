/**
 * `imgfs ls`: ls(1) over the merged view. Operands that are not directories (or all of them with
 * -d) are listed first, then each directory under a `DIR:` header when there is more than one or
 * with -R. Names sort by bytes (ls in the C locale). Command-line symlinks are followed unless -l or
 * -d is given, as GNU ls does; entries inside directories never are.
 */

import { posix } from 'node:path';
import { compareNameBytes, type ImageStats } from '../../index.js';
import type { CommandSpec, Context } from '../context.js';
import { namesFor } from '../context.js';
import { codeOf } from '../errors.js';
import { lsDate, statsModeString } from '../format.js';
import { entryJson } from '../json.js';
import { numericNames, type Names } from '../passwd.js';
import { joinPath } from '../paths.js';

interface Listed {
  /** What to print as the name. */
  name: string;
  /** Path to use with the API. */
  path: string;
  /** Absent when plain `ls` did not need to fetch them. */
  stats: ImageStats | undefined;
}

type WithStats = Listed & { stats: ImageStats };

interface LsFlags {
  long: boolean;
  all: boolean;
  recursive: boolean;
  directory: boolean;
  numeric: boolean;
  json: boolean;
}

export const ls: CommandSpec = {
  name: 'ls',
  summary: 'list directory contents',
  usage: '[-l] [-a] [-R] [-d] [-n] [--json] IMAGE [PATH...]',
  details: 'PATH defaults to /. Owner names come from the image\'s own /etc/passwd and /etc/group.',
  options: [
    { long: 'long', short: 'l', help: 'long listing: mode, links, owner, group, size, mtime, name' },
    { long: 'all', short: 'a', help: 'include names starting with ., and the . and .. entries' },
    { long: 'recursive', short: 'R', help: 'list subdirectories recursively' },
    { long: 'directory', short: 'd', help: 'list directories themselves, not their contents' },
    { long: 'numeric-uid-gid', short: 'n', help: 'like -l, with numeric user and group ids' },
    { long: 'json', help: 'one JSON object per entry (NDJSON)' },
  ],
  paths: { min: 0, max: Infinity },
  lazy: true,
  async run(ctx) {
    const flag = (name: string): boolean => ctx.args.flags.has(name);
    const flags: LsFlags = {
      long: flag('long') || flag('numeric-uid-gid'),
      all: flag('all'),
      recursive: flag('recursive'),
      directory: flag('directory'),
      numeric: flag('numeric-uid-gid'),
      json: flag('json'),
    };
    const names = flags.long || flags.json ? await namesFor(ctx, flags.numeric) : undefined;
    const operands = ctx.paths.length > 0 ? [...ctx.paths] : ['/'];
    operands.sort(compareNameBytes);

    const files: Listed[] = [];
    const dirs: Listed[] = [];
    for (const operand of operands) {
      try {
        const stats = await operandStats(ctx, operand, flags);
        const listed = { name: operand, path: operand, stats };
        if (stats.isDirectory() && !flags.directory) dirs.push(listed);
        else files.push(listed);
      } catch (error) {
        ctx.pathFailed(operand, error);
      }
    }

    let first = true;
    if (files.length > 0) {
      await printGroup(ctx, files, flags, names, false);
      first = false;
    }
    const headers = operands.length > 1 || flags.recursive;
    for (const dir of dirs) {
      await listDirectory(ctx, dir.path, flags, names, headers, first);
      first = false;
    }
  },
};

async function operandStats(ctx: Context, operand: string, flags: LsFlags): Promise<ImageStats> {
  if (flags.long || flags.directory) return ctx.img.lstat(operand);
  try {
    return await ctx.img.stat(operand);
  } catch (error) {
    // A dangling symlink is still listed, as itself.
    const code = codeOf(error);
    if (code === 'ENOENT' || code === 'ELOOP') return ctx.img.lstat(operand);
    throw error;
  }
}

async function listDirectory(
  ctx: Context,
  dir: string,
  flags: LsFlags,
  names: Names | undefined,
  header: boolean,
  first: boolean,
): Promise<void> {
  let entries: Listed[];
  try {
    const children = await ctx.img.readdir(dir);
    entries = [];
    if (flags.all) {
      const real = await ctx.img.realpath(dir);
      entries.push({ name: '.', path: real, stats: await ctx.img.stat(real) });
      const parent = posix.dirname(real);
      entries.push({ name: '..', path: parent, stats: await ctx.img.stat(parent) });
    }
    for (const name of children) {
      if (!flags.all && name.startsWith('.')) continue;
      const path = joinPath(dir, name);
      // Plain `ls` needs names only; lstat when the listing or the recursion needs more.
      const stats = flags.long || flags.json || flags.recursive ? await ctx.img.lstat(path) : undefined;
      entries.push({ name, path, stats });
    }
  } catch (error) {
    ctx.pathFailed(dir, error);
    return;
  }

  if (header && !flags.json) {
    if (!first) await ctx.out.line('');
    await ctx.out.line(`${dir}:`);
  }
  await printGroup(ctx, entries, flags, names, true);

  if (flags.recursive) {
    for (const entry of entries) {
      if (entry.name === '.' || entry.name === '..') continue;
      if (entry.stats?.isDirectory() === true) await listDirectory(ctx, entry.path, flags, names, true, false);
    }
  }
}

async function printGroup(
  ctx: Context,
  entries: Listed[],
  flags: LsFlags,
  names: Names | undefined,
  isDirectory: boolean,
): Promise<void> {
  const detailed = entries.filter((entry): entry is WithStats => entry.stats !== undefined);
  if (flags.json) {
    for (const entry of detailed) {
      const json = entryJson(entry.path, entry.stats, ctx.img, names ?? numericNames);
      await ctx.out.line(JSON.stringify({ name: entry.name, ...json }));
    }
    return;
  }
  if (flags.long) {
    if (isDirectory) {
      // ls counts 1 KiB blocks; the image's "blocks" are 512-byte units of the size.
      const total = detailed.reduce((sum, entry) => sum + Math.ceil(entry.stats.blocks / 2), 0);
      await ctx.out.line(`total ${total}`);
    }
    for (const line of longLines(detailed, names ?? numericNames, ctx.io.now())) await ctx.out.line(line);
    return;
  }
  if (ctx.io.stdoutIsTTY) {
    for (const line of columns(entries.map((entry) => entry.name), ctx.io.columns ?? 80)) await ctx.out.line(line);
    return;
  }
  for (const entry of entries) await ctx.out.line(entry.name);
}

/** The lines of `ls -l`, columns aligned across the group. */
export function longLines(entries: ReadonlyArray<{ name: string; stats: ImageStats }>, names: Names, nowMs: number): string[] {
  const rows = entries.map(({ name, stats }) => {
    const device = stats.type === 'char' || stats.type === 'block';
    return {
      mode: statsModeString(stats),
      links: String(stats.nlink),
      owner: names.user(stats.uid) ?? String(stats.uid),
      group: names.group(stats.gid) ?? String(stats.gid),
      major: device ? `${stats.devmajor},` : '',
      minor: device ? String(stats.devminor) : String(stats.size),
      date: lsDate(stats.mtimeMs, nowMs),
      name: stats.type === 'symlink' && stats.target !== undefined ? `${name} -> ${stats.target}` : name,
    };
  });
  const width = (pick: (row: (typeof rows)[number]) => string): number =>
    Math.max(0, ...rows.map((row) => pick(row).length));
  const links = width((r) => r.links);
  const owner = width((r) => r.owner);
  const group = width((r) => r.group);
  const major = width((r) => r.major);
  const minor = width((r) => r.minor);
  // Sizes and "major, minor" pairs share one right-aligned column, as in GNU ls.
  const sizeWidth = major > 0 ? Math.max(minor, 3) : minor;
  return rows.map((r) => {
    const size = major > 0 ? `${r.major.padStart(major)} ${r.minor.padStart(sizeWidth)}` : r.minor.padStart(sizeWidth);
    return `${r.mode} ${r.links.padStart(links)} ${r.owner.padEnd(owner)} ${r.group.padEnd(group)} ${size} ${r.date} ${r.name}`;
  });
}

/** Names in columns, filled top to bottom, as ls does on a terminal. */
export function columns(names: readonly string[], width: number): string[] {
  if (names.length === 0) return [];
  const gap = 2;
  for (let cols = Math.min(names.length, Math.max(1, Math.floor(width / 3))); cols > 1; cols--) {
    const rows = Math.ceil(names.length / cols);
    const widths: number[] = [];
    for (let c = 0; c < cols; c++) {
      const column = names.slice(c * rows, (c + 1) * rows);
      widths.push(Math.max(0, ...column.map((n) => n.length)));
    }
    const total = widths.reduce((sum, w) => sum + w, 0) + gap * (cols - 1);
    if (total > width) continue;
    const lines: string[] = [];
    for (let r = 0; r < rows; r++) {
      const cells: string[] = [];
      for (let c = 0; c < cols; c++) {
        const name = names[c * rows + r];
        if (name === undefined) continue;
        const last = c === cols - 1 || names[(c + 1) * rows + r] === undefined;
        cells.push(last ? name : name.padEnd((widths[c] ?? 0) + gap));
      }
      lines.push(cells.join(''));
    }
    return lines;
  }
  return [...names];
}
