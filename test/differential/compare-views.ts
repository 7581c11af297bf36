/**
 * Turns each reader's output into a TreeView and compares two views field by field, with the few
 * differences every Linux extraction has stated once here (not per test).
 */
import { expect } from 'vitest';
import type { PathView, PythonMember, TreeView, ViewType } from './readers.js';

const PY_TYPES: Record<string, ViewType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  S: 'file',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** Decimal seconds (PAX form, maybe negative, maybe fractional) as exact nanoseconds. */
export function secondsToNs(text: string): string {
  const match = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (match === null) throw new Error(`not a PAX time: ${text}`);
  const ns = BigInt(match[2] as string) * 1_000_000_000n + BigInt((match[3] ?? '').slice(0, 9).padEnd(9, '0'));
  return (match[1] === '-' ? -ns : ns).toString();
}

/**
 * Python's member list as a tree: later members win (as extraction), hard links take their target's
 * file, directories' names lose their trailing slash.
 */
export function pythonTree(members: readonly PythonMember[]): TreeView {
  const tree: TreeView = new Map();
  const byName = new Map<string, PathView>();
  for (const member of members) {
    const path = `/${member.name.replace(/\/+$/, '')}`;
    let view: PathView | undefined;
    if (member.type === '1') {
      view = byName.get(`/${member.linkname.replace(/\/+$/, '')}`);
      if (view === undefined) continue;
    } else {
      const type = PY_TYPES[member.type];
      if (type === undefined) continue;
      view = {
        type,
        mode: member.mode & 0o7777,
        uid: member.uid,
        gid: member.gid,
        size: type === 'file' ? member.size : 0,
        mtimeNs: member.pax_mtime !== null ? secondsToNs(member.pax_mtime) : secondsToNs(String(Math.trunc(Number(member.mtime)))),
      };
      if (type === 'symlink') view.target = member.linkname;
      if (type === 'file') view.sha256 = member.sha256 ?? 'not read (big file)';
      if (type === 'char' || type === 'block') view.rdev = `${member.devmajor},${member.devminor}`;
      if (Object.keys(member.xattrs).length > 0) view.xattrs = member.xattrs;
    }
    byName.set(path, view);
    tree.set(path, view);
  }
  return tree;
}

export interface CompareOptions {
  /** Fields this reader cannot see (e.g. GNU tar's extraction has no xattrs on a tmpfs). */
  ignore?: ReadonlyArray<keyof PathView>;
  /** Linux shows every symlink as 0777 whatever its header says (DESIGN.md R9). */
  symlinkModes?: 'compare' | 'linux';
}

/**
 * Whether two nanosecond mtimes agree to within a microsecond. ImageStats.mtimeMs is a double, as
 * fs.Stats.mtimeMs is: at today's dates it holds a PAX mtime to about a quarter of a microsecond.
 */
export function sameTime(a: string, b: string): boolean {
  const diff = BigInt(a) - BigInt(b);
  return diff > -1000n && diff < 1000n;
}

/** Every path in both, with every field equal; the message names the path and the reader. */
export function expectSameTree(actual: TreeView, expected: TreeView, reader: string, options: CompareOptions = {}): void {
  const strip = (view: PathView, other: PathView | undefined): Partial<PathView> => {
    const copy: Partial<PathView> = { ...view };
    if (other !== undefined && sameTime(view.mtimeNs, other.mtimeNs)) copy.mtimeNs = other.mtimeNs;
    for (const field of options.ignore ?? []) delete copy[field];
    if (options.symlinkModes === 'linux' && view.type === 'symlink') delete copy.mode;
    return copy;
  };
  expect([...actual.keys()].sort(), `${reader}: paths`).toEqual([...expected.keys()].sort());
  for (const [path, view] of expected) {
    expect(strip(actual.get(path) as PathView, view), `${reader}: ${path}`).toEqual(strip(view, undefined));
  }
}
