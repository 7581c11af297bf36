/**
 * Text formats shared by the commands: ls(1) mode strings and dates, coreutils stat(1) dates, byte
 * sizes. Dates use the process time zone, as ls does (tests run with `TZ=UTC`).
 */

import type { FileType, ImageStats } from '../index.js';

const typeLetters: Record<FileType, string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  fifo: 'p',
  char: 'c',
  block: 'b',
  socket: 's',
};

/** `drwxr-sr-x`, `-rwsr-xr-x`, `drwxrwxrwt`, `crw-rw-rw-`: the first column of `ls -l`. */
export function modeString(type: FileType, mode: number): string {
  const bit = (mask: number, letter: string): string => ((mode & mask) !== 0 ? letter : '-');
  // The execute slot shows the special bit: lower case when x is also set, upper case when not.
  const special = (exec: number, flag: number, set: string): string => {
    const x = (mode & exec) !== 0;
    if ((mode & flag) === 0) return x ? 'x' : '-';
    return x ? set : set.toUpperCase();
  };
  return (
    typeLetters[type] +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    special(0o100, 0o4000, 's') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    special(0o010, 0o2000, 's') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    special(0o001, 0o1000, 't')
  );
}

export function statsModeString(stats: ImageStats): string {
  return modeString(stats.type, stats.mode);
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** ls's "recent": within the last six months (of a Gregorian year) and not in the future. */
const SIX_MONTHS_MS = ((365.2425 * 24 * 60 * 60) / 2) * 1000;

/** `Jan  5 14:03` for recent times, `Jan  5  2019` otherwise, as `ls -l` in the C locale. */
export function lsDate(mtimeMs: number, nowMs: number): string {
  const date = new Date(mtimeMs);
  if (Number.isNaN(date.getTime())) return '?'.padStart(12);
  const month = months[date.getMonth()] ?? '???';
  const day = String(date.getDate()).padStart(2, ' ');
  const recent = mtimeMs <= nowMs && nowMs - mtimeMs < SIX_MONTHS_MS;
  if (recent) return `${month} ${day} ${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
  return `${month} ${day} ${String(date.getFullYear()).padStart(5, ' ')}`;
}

/** `2024-01-05 14:03:07.250000000 +0000`, as coreutils `stat` prints it. */
export function statDate(mtimeMs: number): string {
  const date = new Date(Math.floor(mtimeMs));
  if (Number.isNaN(date.getTime())) return '-';
  const ymd = `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}`;
  const hms = `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
  // Milliseconds are a float: keep the sub-millisecond part the index recorded, as nanoseconds.
  const nanos = Math.round((((mtimeMs % 1000) + 1000) % 1000) * 1e6);
  const fraction = String(Math.min(nanos, 999_999_999)).padStart(9, '0');
  const offsetMin = -date.getTimezoneOffset();
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${ymd} ${hms}.${fraction} ${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** `1.5 MiB`: for progress and summaries, never for data meant to be parsed. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `sha256:0123456789ab`: a digest cut to 12 hex digits, as `docker history` does. */
export function shortDigest(digest: string | undefined): string {
  if (digest === undefined) return '-';
  const colon = digest.indexOf(':');
  return colon < 0 ? digest.slice(0, 12) : digest.slice(0, colon + 13);
}

/** Rows of cells as columns separated by two spaces; `right` marks right-aligned columns. */
export function table(rows: readonly (readonly string[])[], right: ReadonlySet<number> = new Set()): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => {
        const last = i === row.length - 1;
        if (right.has(i)) return cell.padStart(widths[i] ?? 0);
        return last ? cell : cell.padEnd(widths[i] ?? 0);
      })
      .join('  '),
  );
}

/** coreutils `stat`'s description of a file type. */
export function typeDescription(stats: ImageStats): string {
  switch (stats.type) {
    case 'file':
      return stats.size === 0 ? 'regular empty file' : 'regular file';
    case 'dir':
      return 'directory';
    case 'symlink':
      return 'symbolic link';
    case 'fifo':
      return 'fifo';
    case 'char':
      return 'character special file';
    case 'block':
      return 'block special file';
    case 'socket':
      return 'socket';
  }
}
