/**
 * How names cross the binding. The fuse-napi package converts every path, directory entry and link
 * target as UTF-8, which turns each byte that is not UTF-8 into U+FFFD, in both directions: such a
 * name keeps only its shown form (utf8Names). The build of bin/build-fuse-binding.sh passes them
 * as Latin-1 strings instead, one char per byte; here they become imgfs's names (lone surrogates
 * U+DC80–U+DCFF for bytes that are not UTF-8, lib/tar/name-bytes.ts) and back. ASCII is the same in
 * every form and passes untouched.
 */
import { hasEscapedBytes, nameFromBytes, nameToBytes } from '../tar/name-bytes.js';
import type { ServedReadsNative } from './served-files.js';

export interface BindingNames {
  /** A path from the kernel, as an imgfs path. */
  fromKernel(path: string): string;
  /** An imgfs name or link target, as the binding hands it to the kernel. */
  toKernel(name: string): string;
  /** Told the names of each directory page before they are handed to the kernel. */
  listed?(directory: string, names: readonly string[]): void;
  /**
   * `fromKernel` for a lookup, which may come before any listing showed the name (a symlink's target,
   * a name typed by hand): lists the directories it must, with `list`, to learn their names.
   */
  lookUp?(path: string, list: (directory: string) => Promise<string[]>): Promise<string>;
}

const ASCII = /^[\x00-\x7f]*$/;

const REPLACEMENT = '\ufffd';
/** A byte escape (lib/tar/name-bytes.ts) that is no half of a valid pair: V8 writes it as U+FFFD. */
const LONE_ESCAPE = /(?<![\ud800-\udbff])[\udc80-\udcff]/g;

/**
 * The package's own build: names cross as UTF-8 strings, both ways, so each byte that is not UTF-8
 * reaches the kernel as U+FFFD (V8's conversion of a lone surrogate), and a lookup of the name so
 * listed comes back with U+FFFD, which names nothing in the image. Each listed name that loses bytes
 * is therefore remembered under its directory and its name as shown, so that what a listing shows can
 * be looked up (stat, open): a name listed but not found is an error to every tool that walks the
 * tree (`ls -l`, `find`, `tar`, scanners). Names that differ only in such bytes show the same: the
 * first listed is served. A lookup of a name not listed yet lists its directory first. One entry per
 * such name and per directory so listed, kept until unmount; one object per mount.
 */
export function utf8Names(): BindingNames {
  /** `directory NUL name as shown` -> the name. */
  const shownAs = new Map<string, string>();
  const keyOf = (directory: string, shown: string): string => `${directory}\0${shown}`;
  /** Directories `lookUp` listed: a name still unknown there names nothing (the view never changes). */
  const listedWhole = new Set<string>();

  /** The path with each shown name that a listing taught put back. */
  function resolve(path: string): string {
    let real = '';
    for (const part of path.split('/').slice(1)) {
      const directory = real === '' ? '/' : real;
      real += `/${part.includes(REPLACEMENT) ? (shownAs.get(keyOf(directory, part)) ?? part) : part}`;
    }
    return real === '' ? '/' : real;
  }

  /** `resolve`, after listing with `list` each directory on the way whose shown name is not known yet. */
  async function lookUp(path: string, list: (directory: string) => Promise<string[]>): Promise<string> {
    if (!path.includes(REPLACEMENT)) return path;
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const part = parts[i] as string;
      if (!part.includes(REPLACEMENT)) continue;
      const directory = resolve(parts.slice(0, i).join('/') || '/');
      if (shownAs.has(keyOf(directory, part)) || listedWhole.has(directory)) continue;
      listedWhole.add(directory);
      listed(directory, await list(directory).catch(() => []));
    }
    return resolve(path);
  }

  function listed(directory: string, names: readonly string[]): void {
    let page: Set<string> | undefined;
    for (const name of names) {
      // A name that holds U+FFFD itself is found as it is, and keeps its place.
      if (name.includes(REPLACEMENT)) shownAs.set(keyOf(directory, name), name);
      if (!hasEscapedBytes(name)) continue;
      const shown = name.replace(LONE_ESCAPE, REPLACEMENT);
      if (shown === name || (page ??= new Set(names)).has(shown)) continue;
      if (!shownAs.has(keyOf(directory, shown))) shownAs.set(keyOf(directory, shown), name);
    }
  }

  return {
    fromKernel: (path) => (shownAs.size === 0 || !path.includes(REPLACEMENT) ? path : resolve(path)),
    toKernel: (name) => name,
    listed,
    lookUp,
  };
}

/** bin/build-fuse-binding.sh's build: names are bytes, as Latin-1 strings. */
export const BYTE_NAMES: BindingNames = {
  fromKernel: (path) => (ASCII.test(path) ? path : nameFromBytes(Buffer.from(path, 'latin1'))),
  toKernel: (name) => (ASCII.test(name) ? name : nameToBytes(name).toString('latin1')),
};

/** What the installed binding can do beyond its package's own build (bin/build-fuse-binding.sh). */
export interface BindingBuild {
  names: BindingNames;
  /** Directory entries may carry full attributes (READDIRPLUS without a lookup per name). */
  readdirPlus: boolean;
  /** Files stored as they are may be read in C (lib/mount/served-files.ts); the functions, where built. */
  servedReads: ServedReadsNative | undefined;
}

/** The package's own build, for one mount. */
export function packageBuild(): BindingBuild {
  return { names: utf8Names(), readdirPlus: false, servedReads: undefined };
}
