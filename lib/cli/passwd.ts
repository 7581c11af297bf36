/**
 * Owner and group names as the image itself defines them: its own `/etc/passwd` and `/etc/group`,
 * read through the public API (so symlinks and layers apply as for any file). The host's user
 * database is never consulted: uid 101 is whoever the image says it is.
 */

import type { ImageFS } from '../index.js';
import { isPathError } from './errors.js';

export interface Names {
  user(uid: number): string | undefined;
  group(gid: number): string | undefined;
}

/** No names at all: `ls -n`, and images without the files. */
export const numericNames: Names = {
  user: () => undefined,
  group: () => undefined,
};

/** Larger files than this are not a user database worth reading for ls. */
const MAX_DB_BYTES = 16 * 1024 * 1024;

export async function loadNames(img: ImageFS): Promise<Names> {
  const [passwd, group] = await Promise.all([readDb(img, '/etc/passwd'), readDb(img, '/etc/group')]);
  const users = parseIdFile(passwd);
  const groups = parseIdFile(group);
  return {
    user: (uid) => users.get(uid),
    group: (gid) => groups.get(gid),
  };
}

async function readDb(img: ImageFS, path: string): Promise<string> {
  try {
    const stats = await img.stat(path);
    if (!stats.isFile() || stats.size > MAX_DB_BYTES) return '';
    return await img.readFile(path, 'utf8');
  } catch (error) {
    // A missing or odd database just means numeric ids; a broken image is still reported.
    if (isPathError(error)) return '';
    throw error;
  }
}

/**
 * `name:password:id:...` lines, as both passwd(5) and group(5) begin. The first line for an id wins
 * (as getpwuid scans the file); comments, blank and malformed lines are skipped.
 */
export function parseIdFile(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    const name = fields[0];
    const idText = fields[2];
    if (name === undefined || name === '' || idText === undefined || !/^\d+$/.test(idText)) continue;
    const id = Number(idText);
    if (!names.has(id)) names.set(id, name);
  }
  return names;
}
