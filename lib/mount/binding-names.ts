/**
 * How names cross the binding. The fuse-napi package converts every path, directory entry and link
 * target as UTF-8, which turns each byte that is not UTF-8 into U+FFFD, in both directions: such a
 * name cannot be listed and looked up again. The build of bin/build-fuse-binding.sh passes them
 * as Latin-1 strings instead, one char per byte; here they become imgfs's names (lone surrogates
 * U+DC80–U+DCFF for bytes that are not UTF-8, lib/tar/name-bytes.ts) and back. ASCII is the same in
 * every form and passes untouched.
 */
import { nameFromBytes, nameToBytes } from '../tar/name-bytes.js';
import type { ServedReadsNative } from './served-files.js';

export interface BindingNames {
  /** A path from the kernel, as an imgfs path. */
  fromKernel(path: string): string;
  /** An imgfs name or link target, as the binding hands it to the kernel. */
  toKernel(name: string): string;
}

const ASCII = /^[\x00-\x7f]*$/;

/** The package's own build: names are UTF-8 strings both ways (bytes that are not UTF-8 are lost). */
export const UTF8_NAMES: BindingNames = {
  fromKernel: (path) => path,
  toKernel: (name) => name,
};

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

export const PACKAGE_BUILD: BindingBuild = { names: UTF8_NAMES, readdirPlus: false, servedReads: undefined };
