/** The JSON shape of one entry, shared by `stat --json`, `ls --json` and `find --json`. */

import type { ImageFS, ImageStats } from '../index.js';
import type { Names } from './passwd.js';

export interface EntryJson {
  path: string;
  type: ImageStats['type'];
  /** Permission bits with setuid/setgid/sticky, without the type bits (`type` says that). */
  mode: number;
  uid: number;
  gid: number;
  /** From the image's own /etc/passwd and /etc/group; null when they do not name the id. */
  uname: string | null;
  gname: string | null;
  size: number;
  /** Seconds since the epoch, with the fraction the archive recorded. */
  mtime: number;
  nlink: number;
  ino: number;
  target: string | null;
  devmajor?: number;
  devminor?: number;
  /** The providing layer, 0 = bottom, and its digest. */
  layer: number;
  digest: string | null;
}

export function entryJson(path: string, stats: ImageStats, img: ImageFS, names: Names): EntryJson {
  const json: EntryJson = {
    path,
    type: stats.type,
    mode: stats.mode & 0o7777,
    uid: stats.uid,
    gid: stats.gid,
    uname: names.user(stats.uid) ?? null,
    gname: names.group(stats.gid) ?? null,
    size: stats.size,
    mtime: stats.mtimeMs / 1000,
    nlink: stats.nlink,
    ino: stats.ino,
    target: stats.target ?? null,
    layer: stats.layer,
    digest: img.layers[stats.layer]?.digest ?? null,
  };
  if (stats.type === 'char' || stats.type === 'block') {
    json.devmajor = stats.devmajor;
    json.devminor = stats.devminor;
  }
  return json;
}
