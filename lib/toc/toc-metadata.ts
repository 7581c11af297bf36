import { normalizeEntryName } from '../table/entry-name.js';

/**
 * Members the TOC formats add for their own use, never part of the image: eStargz's TOC entry and the
 * prefetch landmarks that mark where prefetching ends (stargz-snapshotter writes the same landmarks
 * into its zstd:chunked layers; containers/storage's zstd:chunked keeps its TOC and tar-split in
 * skippable frames, outside the tar). Only at the layer's root, as the writers place them.
 */
const METADATA_NAMES: ReadonlySet<string> = new Set(['stargz.index.json', '.prefetch.landmark', '.no.prefetch.landmark']);

export function isTocMetadataName(name: string): boolean {
  return isTocMetadataPath(normalizeEntryName(name));
}

/** The same, for a name already normalised (R1). */
export function isTocMetadataPath(path: string): boolean {
  return METADATA_NAMES.has(path);
}
