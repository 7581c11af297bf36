import { statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { ImageFormat, LayerBlob } from '../image/loaded-image.js';
import { parseTransportName } from '../image/transport-name.js';

/**
 * What names a layer in the index cache: its tar stream (for the table) and its stored bytes (for
 * what depends on the compressed bytes, such as checkpoints). Undefined: nothing names it reliably,
 * and caching it could serve a stale table.
 */
export interface LayerIdentity {
  table: string | undefined;
  storedBytes: string | undefined;
}

/**
 * The cache-key policy, in one place. A digest the image states is a key only once `verified` (the
 * layer is checked against it while it is indexed): then a base layer shared by many images is indexed
 * once. An unverified digest is only a claim: as a key, it would let a hostile image plant its table
 * under the digest of a popular base layer for every later image that has the real one. Without a
 * verified digest the key is the identity of the file holding the layer (device, inode, size, mtime,
 * and where in it the layer lies), so that a replaced file is a miss.
 */
export async function layerIdentity(blob: LayerBlob, holder: string | undefined, verified: boolean): Promise<LayerIdentity> {
  const file = holder === undefined ? undefined : await fileIdentity(blob, holder);
  const diffId = verified ? blob.diffId : undefined;
  // A self-verifying blob (a registry layer) proves its digest before its table is cached; not its
  // diff_id, which only `verify` checks.
  const digest = verified || blob.selfVerifying !== undefined ? blob.digest : undefined;
  return {
    table: diffId !== undefined ? diffIdKey(diffId) : digest !== undefined ? blobKey(digest) : file,
    storedBytes: digest !== undefined ? blobKey(digest) : file,
  };
}

/** The key of a table built from a tar stream verified against its diff_id: one per layer, whatever holds it. */
export function diffIdKey(diffId: string): string {
  return `diff-id ${diffId}`;
}

/** The key of what depends on a verified blob's bytes (checkpoints, span digests). */
export function blobKey(digest: string): string {
  return `blob ${digest}`;
}

/**
 * Companion file, under a blob's key, holding the diff_id its decoding was verified to have (by a pass
 * that checked both digests), and on a second line the identity its checkpoints are kept under. With it, an image whose layer is that blob (checked: a registry blob
 * checks itself, a local one is hashed) uses the table cached under the diff_id; without it, a diff_id
 * an image states is only a claim about its blob.
 */
export const DIFF_ID_OF_BLOB = 'diffid';

/**
 * The file on disk that holds a layer's blob: bare layers and an OCI directory's blobs are files of
 * their own; any other layer lives inside the archive file. Undefined when it is not on disk.
 */
export function fileHolding(blob: LayerBlob, image: { format: ImageFormat; archive: string }): string | undefined {
  if (image.format === 'layers') return blob.location;
  // The archive as named: with skopeo's prefix (`oci:DIR:REF`), the path is the operand.
  const named = parseTransportName(image.archive);
  const path = named === undefined ? image.archive : named.transport === 'docker' ? undefined : named.path;
  if (path === undefined) return undefined;
  if (image.format === 'oci-dir') return join(path, blob.location);
  return path;
}

async function fileIdentity(blob: LayerBlob, file: string): Promise<string | undefined> {
  // Synchronous: one stat per layer at open, microseconds each, where a thread-pool round trip per layer was not.
  let info: Stats;
  try {
    info = statSync(file);
  } catch {
    return undefined;
  }
  if (!info.isFile()) return undefined;
  return `file ${file} ${info.dev}:${info.ino} ${info.size} ${info.mtimeMs} ${blob.location} ${blob.size}`;
}
