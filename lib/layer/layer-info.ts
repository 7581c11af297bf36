import type { Compression } from '../source/codec.js';
import type { TocFormat } from '../toc/toc-model.js';

export type { Compression, TocFormat };

/** A layer as `ImageFS.layers` shows it: the descriptor's facts, and counts once it is indexed. */
export interface LayerInfo {
  /** 0 = bottom. */
  index: number;
  digest: string | undefined;
  diffId: string | undefined;
  mediaType: string | undefined;
  /** How the layer is stored; `zstd:chunked` and `estargz` when it is read through its table of contents. */
  compression: Compression | TocFormat;
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
