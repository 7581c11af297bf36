import type { TarEntry } from '../tar/tar-entry.js';

/**
 * What a table of contents (zstd:chunked or eStargz) says about a layer, once parsed and checked:
 * the members in tar order, and for each regular file the compressed frames or gzip members that
 * hold its bytes. Both formats share this model; only their footers and framing differ.
 */

/** The two layer formats that carry a table of contents. */
export type TocFormat = 'zstd:chunked' | 'estargz';

export type TocEntryType = 'reg' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** One run of a regular file's bytes, stored at the start (or `innerOffset` into) one frame or member. */
export interface TocChunk {
  /** Where the run starts within the file. */
  readonly fileOffset: number;
  readonly size: number;
  /** Blob offset of the zstd frame or gzip member that holds the run. */
  readonly compressedOffset: number;
  /** Blob offset where that frame or member (and whatever follows it up to the next chunk) ends. */
  readonly compressedEnd: number;
  /** Decompressed bytes of the frame or member that come before the run (eStargz `innerOffset`). */
  readonly innerOffset: number;
  /** `sha256:…` the run must hash to, when the TOC states it (`chunkDigest`, or the file's `digest` for a one-run file). */
  readonly digest: string | undefined;
}

/** One tar member as the TOC describes it: the tar entry's facts (as stated), its digest and its runs. */
export interface TocEntry
  extends Readonly<Pick<TarEntry, 'name' | 'mode' | 'uid' | 'gid' | 'uname' | 'gname' | 'size' | 'mtimeMs' | 'linkname' | 'devmajor' | 'devminor' | 'xattrs'>> {
  readonly type: TocEntryType;
  /** `sha256:…` of the whole content, when stated. */
  readonly digest: string | undefined;
  /** In file order, tiling `[0, size)`; empty for everything but non-empty regular files. */
  readonly chunks: readonly TocChunk[];
}

/** Where the table of contents and (zstd:chunked) the tar-split stream lie in the blob. */
export interface TocLocation {
  readonly format: TocFormat;
  /** Blob offset of the TOC's stored bytes (zstd frame, or the gzip member holding the TOC tar). */
  readonly tocOffset: number;
  /** Stored length of the TOC. */
  readonly tocLength: number;
  /** Decompressed length, when the footer or the annotations state it. */
  readonly tocUncompressedLength: number | undefined;
  /** Where the layer's content ends: nothing a chunk points at may lie at or past it. */
  readonly contentEnd: number;
  /** Which footer layout was found ('zstd:chunked 40', 'zstd:chunked 64', 'estargz 51', 'estargz 47'), for messages. */
  readonly footer: string;
}
