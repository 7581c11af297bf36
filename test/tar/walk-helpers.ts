import type { ImgfsError } from '../../lib/errors.js';
import type { ByteSource } from '../../lib/source/byte-source.js';
import type { TarEntry } from '../../lib/tar/tar-entry.js';
import { walkTar, type TarWalkOptions } from '../../lib/tar/walk-tar.js';
import { checkImgfsError } from '../helpers/expect-imgfs-error.js';

export async function collect(source: ByteSource, options?: TarWalkOptions): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  for await (const entry of walkTar(source, options)) entries.push(entry);
  return entries;
}

/** Walks until the walk fails; returns what was yielded before and the ImgfsError. */
export async function walkFailure(
  source: ByteSource,
  options?: TarWalkOptions,
): Promise<{ entries: TarEntry[]; error: ImgfsError }> {
  const entries: TarEntry[] = [];
  try {
    for await (const entry of walkTar(source, options)) entries.push(entry);
  } catch (error) {
    return { entries, error: checkImgfsError(error, {}) };
  }
  throw new Error(`walk succeeded with ${entries.length} entries; expected an ImgfsError`);
}
