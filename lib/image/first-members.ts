/**
 * Tells an image archive (docker save, OCI archive) from a layer tar by its first member, so that a
 * layer tar given as IMAGE is not walked to its end on every open just to learn that it holds no
 * `manifest.json`. An image archive's members all sit under a handful of top-level names; a root
 * filesystem's first path (`bin/`, `etc/`, `usr/` …) is none of them.
 */
import { ImgfsError } from '../errors.js';
import type { ByteSource } from '../source/byte-source.js';
import { NOT_A_HEADER } from '../tar/tar-errors.js';
import { walkTar } from '../tar/walk-tar.js';
import { normaliseMemberName } from './outer-tar.js';

/** What the first member says: an image archive, a layer tar, or not a tar at all. */
export type FirstMemberVerdict = { kind: 'archive' } | { kind: 'layer' } | { kind: 'not-tar'; error: ImgfsError };

/** Top-level directories of image archives: OCI's `blobs/`, and docker's `<64-hex id>/`. */
const ARCHIVE_DIR = /^(blobs|[a-f0-9]{64})$/;

/**
 * Reads headers until the first member with a name other than the root (`./`). An image archive
 * starts with a top-level file (`manifest.json`, `oci-layout`, `index.json`, `repositories`, a config
 * `<hex>.json`, a layer `<hex>.tar`, or whatever names a hand-made docker save uses) or one of its
 * directories; a root filesystem starts with a directory, a symlink (`bin -> usr/bin`) or a deeper
 * path. Only a first member that no image archive starts with makes it a layer: a layer misjudged as
 * an archive is merely read in full and then found to be a layer, as before. Reads only the first
 * header window, never the members' data.
 */
export async function classifyByFirstMember(source: ByteSource): Promise<FirstMemberVerdict> {
  try {
    for await (const entry of walkTar(source)) {
      const name = normaliseMemberName(entry.name) ?? '';
      if (name === '') continue;
      const [top = '', ...below] = name.split('/');
      const topLevelFile = below.length === 0 && entry.type !== 'directory' && entry.type !== 'symlink';
      return { kind: topLevelFile || ARCHIVE_DIR.test(top) ? 'archive' : 'layer' };
    }
  } catch (error) {
    if (error instanceof ImgfsError && error.code === 'ETARCORRUPT' && (error.offset ?? 0) === 0) {
      // Only a first block that is no header at all means "not a tar"; a header with bad values at
      // offset 0 is a damaged tar, and its own reason says how.
      if (error.reason === NOT_A_HEADER) return { kind: 'not-tar', error };
      throw error;
    }
    // A tar that goes bad after a good start: a layer, which its indexer reports with its own offsets.
    return { kind: 'layer' };
  }
  // An empty tar (end blocks only) holds no image metadata: an empty layer.
  return { kind: 'layer' };
}
