import type { Readable } from 'node:stream';
import type { ImageConfig, ImageFormat } from '../image/loaded-image.js';
import type { FileType, ImageStats } from './image-stats.js';
import type { LayerAction, LayerChanges } from '../merge/layer-changes.js';
import type { ScannedFile, ScanOptions } from './scan.js';
import type { NodeFsAdapter } from './node-fs-adapter.js';

export type { Compression } from '../source/codec.js';
export type { TocFormat } from '../toc/toc-model.js';
import type { Compression } from '../source/codec.js';
import type { TocFormat } from '../toc/toc-model.js';

export interface OpenOptions {
  /** A `RepoTags` entry (docker save) or `org.opencontainers.image.ref.name` (OCI). */
  ref?: string;
  /** `os/arch[/variant]`; default: linux and the host's architecture, else the only one. */
  platform?: string;
  /** Index cache: `true` (default location), `false`, or a directory. */
  cache?: boolean | string;
  /** Check blob and diff-id digests while indexing; a mismatch rejects with ImgfsError EDIGEST. */
  verify?: boolean;
  /** Called while layers are indexed. */
  onProgress?: (progress: IndexProgress) => void;
  /**
   * Index layers only when a question reaches them, from the top down: a path that upper layers
   * decide never costs the lower layers' indexing. The async methods load what they need; the Sync
   * forms throw ImgfsError ENOTINDEXED when they would need a layer not indexed yet (call
   * `indexAll()` first). Default false: every layer is indexed by `openImage`.
   */
  lazy?: boolean;
  /** Called for recoverable problems (e.g. a hard link whose target is missing). Default: ignored. */
  onWarning?: (message: string) => void;
  /** Safety limits against hostile images; each one exceeded rejects with ImgfsError ELIMIT naming it. */
  limits?: OpenLimits;
}

/** Raise a limit for an unusual but honest image; `Infinity` turns one off. */
export interface OpenLimits {
  /** Tar members in one layer, whiteouts included (default 5 000 000); members of an outer archive too. */
  maxEntries?: number;
  /** Layers in one image (default 256, twice Docker's limit). */
  maxLayers?: number;
  /** Bytes of one PAX extended header (default 1 MiB). */
  maxPaxSize?: number;
  /** UTF-8 bytes of one member or link name (default 16 KiB). */
  maxNameLength?: number;
  /**
   * Decompressed size of a gzip or zstd layer as a multiple of its compressed size (default 1100, plus
   * 64 MiB of slack): a gzip or zstd bomb stops here.
   */
  maxRatio?: number;
  /** Stored or decompressed bytes of a zstd:chunked or eStargz table of contents (default 150 MiB). */
  maxTocSize?: number;
}

export interface IndexProgress {
  /** Layer being indexed (0 = bottom). */
  layer: number;
  /** Stored (compressed) bytes of all layers that are done. */
  bytesDone: number;
  /** Stored (compressed) bytes of all layers. */
  bytesTotal: number;
}

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

export interface ImageDirent {
  name: string;
  /** The directory that holds the entry (as Node ≥ 20.12's `Dirent.parentPath`). */
  parentPath: string;
  /** Same as parentPath (deprecated name kept by Node). */
  path: string;
  type: FileType;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}

export interface WalkEntry {
  /** Absolute path inside the image, e.g. `/etc/passwd`. */
  path: string;
  stats: ImageStats;
}

export type { LayerAction, LayerChanges } from '../merge/layer-changes.js';
export type { ScannedFile, ScanOptions } from './scan.js';

export interface PathHistory {
  path: string;
  /** Whether the path exists in the merged view. */
  visible: boolean;
  /** One element per layer, bottom first. */
  layers: Array<{ index: number; digest: string | undefined; action: LayerAction; type: FileType | undefined }>;
}

export interface ReadStreamOptions {
  /** First byte to read (inclusive). */
  start?: number;
  /** Last byte to read (inclusive), as `fs.createReadStream`. */
  end?: number;
}

export interface ImageFS {
  readonly format: ImageFormat;
  readonly layers: readonly LayerInfo[];
  readonly config: ImageConfig | undefined;

  stat(path: string): Promise<ImageStats>;
  lstat(path: string): Promise<ImageStats>;
  statSync(path: string): ImageStats;
  lstatSync(path: string): ImageStats;

  readdir(path: string): Promise<string[]>;
  readdir(path: string, options: { withFileTypes: true }): Promise<ImageDirent[]>;
  readdir(path: string, options?: { withFileTypes?: false }): Promise<string[]>;
  readdirSync(path: string): string[];
  readdirSync(path: string, options: { withFileTypes: true }): ImageDirent[];
  readdirSync(path: string, options?: { withFileTypes?: false }): string[];

  readlink(path: string): Promise<string>;
  readlinkSync(path: string): string;
  realpath(path: string): Promise<string>;
  realpathSync(path: string): string;
  exists(path: string): Promise<boolean>;
  existsSync(path: string): boolean;

  readFile(path: string): Promise<Buffer>;
  readFile(path: string, options: { encoding: BufferEncoding } | BufferEncoding): Promise<string>;
  createReadStream(path: string, options?: ReadStreamOptions): Readable;

  /** Pre-order, children sorted by name bytes, lstat semantics, `path` itself not yielded. */
  walk(path?: string): AsyncIterable<WalkEntry>;
  /**
   * Every visible regular file once (symlinks too with `symlinks: true`), in archive order so that each
   * layer is read and decompressed at most once; files hidden by upper layers never appear.
   */
  scan(options?: ScanOptions): AsyncIterable<ScannedFile>;
  history(path: string): PathHistory;
  /** The parts of `node:fs` that glob and walker libraries use, answering from this image. */
  asNodeFs(): NodeFsAdapter;
  /** What layer `index` added, modified and deleted relative to the layers below it (`docker diff`). */
  changes(index: number): LayerChanges;
  /** Indexes every layer not indexed yet (only useful with `lazy`). */
  indexAll(): Promise<void>;
  close(): Promise<void>;
}
