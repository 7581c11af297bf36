import type { Compression } from '../source/codec.js';

export type { Compression };

/** A layer as `ImageFS.layers` shows it: the descriptor's facts, and counts once it is indexed. */
export interface LayerInfo {
  /** 0 = bottom. */
  index: number;
  digest: string | undefined;
  diffId: string | undefined;
  mediaType: string | undefined;
  compression: Compression;
  /** Stored (possibly compressed) size in bytes. */
  size: number;
  /** Uncompressed tar size in bytes; undefined until the layer is indexed (see `lazy`). */
  uncompressedSize: number | undefined;
  /** Tar entries in the layer, whiteouts included; undefined until the layer is indexed. */
  entries: number | undefined;
  /** Whiteout and opaque-marker entries in the layer; undefined until the layer is indexed. */
  whiteouts: number | undefined;
  createdBy: string | undefined;
}
