import type { Readable } from 'node:stream';
import type { ImageStats } from './image-stats.js';
import { compilePathGlob } from './path-glob.js';

export interface ScanOptions {
  /** Only paths matching one of these globs (see path-glob.ts); default: everything. */
  include?: string[];
  /** Skip paths matching any of these globs. */
  exclude?: string[];
  /** Skip regular files larger than this many bytes. */
  maxFileSize?: number;
  /** Also hand out symlinks (with an empty stream); default false. */
  symlinks?: boolean;
  /**
   * Hash each file's content with this algorithm (any of `crypto.getHashes()`): `ScannedFile.digest`.
   * On a lazily opened image (`lazy: true`) each layer not indexed yet is indexed top-down by the scan,
   * and its files are hashed in the same pass: a compressed layer is decoded once, not once to index
   * it and again to read its files.
   */
  hash?: string;
  /** Stops the scan; the iterator then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface ScannedFile {
  /** Absolute path in the merged view. */
  path: string;
  stats: ImageStats;
  /** Layer whose bytes are fed (for a hard link, its target's layer). */
  layer: number;
  /** Hex digest of the content, with the `hash` option. */
  digest?: string;
  /**
   * The content. Read it before asking for the next file: a stream left unread is destroyed and its
   * bytes skipped when the iteration moves on.
   */
  stream: Readable;
}

/** A visible file as the scan plans it: where its bytes lie decides the order. */
export interface ScanCandidate {
  path: string;
  stats: ImageStats;
  layer: number;
  dataOffset: number;
}

export function scanFilter(options: ScanOptions): (candidate: ScanCandidate) => boolean {
  const wanted = contentFilter(options);
  return ({ path, stats }) => (stats.isSymbolicLink() ? options.symlinks === true : stats.isFile()) && wanted(path, stats.size);
}

/** The options' choice by path and size alone (what the pass that hashes a layer's members can know). */
export function contentFilter(options: ScanOptions): (path: string, size: number) => boolean {
  const include = (options.include ?? []).map(compilePathGlob);
  const exclude = (options.exclude ?? []).map(compilePathGlob);
  return (path, size) => {
    if (options.maxFileSize !== undefined && size > options.maxFileSize) return false;
    if (include.length > 0 && !include.some((matches) => matches(path))) return false;
    return !exclude.some((matches) => matches(path));
  };
}

/**
 * The files a scan will hand out, in archive order: layer by layer from the bottom, and by data offset
 * inside a layer, so each layer's (decompressed) stream is read once, front to back, whatever its
 * compression. Kept as columns (a path, a layer and an offset per file, ~70 B): a million-file layer
 * must not hold a million nodes and stats objects until the scan ends.
 */
export class ScanPlan {
  private readonly paths: string[] = [];
  private layers = new Uint32Array(1024);
  private offsets = new Float64Array(1024);

  add(path: string, layer: number, dataOffset: number): void {
    const slot = this.paths.length;
    if (slot === this.layers.length) {
      const layers = new Uint32Array(slot * 2);
      layers.set(this.layers);
      this.layers = layers;
      const offsets = new Float64Array(slot * 2);
      offsets.set(this.offsets);
      this.offsets = offsets;
    }
    this.paths.push(path);
    this.layers[slot] = layer;
    this.offsets[slot] = dataOffset;
  }

  /** The planned paths in archive order. */
  *inArchiveOrder(): Generator<string> {
    const { layers, offsets, paths } = this;
    const order = Uint32Array.from({ length: paths.length }, (_, slot) => slot);
    order.sort((a, b) => (layers[a] as number) - (layers[b] as number) || (offsets[a] as number) - (offsets[b] as number));
    for (const slot of order) yield paths[slot] as string;
  }
}
