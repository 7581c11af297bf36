import type { Readable } from 'node:stream';
import type { ImageConfig, ImageFormat } from '../image/loaded-image.js';
import type { FileType, ImageStats } from './image-stats.js';
import type { LayerAction, LayerChanges } from '../merge/layer-changes.js';
import type { ScannedFile, ScanOptions } from './scan.js';
import type { NodeFsAdapter } from './node-fs-adapter.js';
import type { LayerInfo } from '../layer/layer-info.js';
import type { OpenLimits } from '../limits.js';
import type { ImgfsWarning } from '../warnings.js';
import type { NetworkOptions } from '../registry/http-transport.js';

export type { Compression, LayerInfo, TocFormat } from '../layer/layer-info.js';
export type { OpenLimits } from '../limits.js';
export type { ImgfsWarning, ImgfsWarningCode } from '../warnings.js';

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
  /**
   * Called for recoverable problems (e.g. a hard link whose target is missing: the link is dropped),
   * as data: `{ code, message, layer, path }`. Default: ignored.
   */
  onWarning?: (warning: ImgfsWarning) => void;
  /**
   * Turn every warning about the image (not about the cache) into a rejection with an ImgfsError of the
   * warning's code: nothing is served from an image that holds something imgfs would leave out. A
   * problem met while indexing rejects the open (or, with `lazy`, the question that indexed the layer);
   * a hard link is resolved when a question reaches it, and that question rejects.
   */
  strict?: boolean;
  /** Safety limits against hostile images (lib/limits.ts); each one exceeded rejects with ImgfsError ELIMIT naming it. */
  limits?: OpenLimits;
  /**
   * `docker://` images: credentials as `USER:PASS` (skopeo's `--creds`) or an object; by default they
   * are looked up in $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json.
   */
  auth?: string | { username: string; password: string };
  /** `docker://` images: check TLS certificates (default true); false also allows plain HTTP. */
  tlsVerify?: boolean;
  /** `docker://` images: aborts every request in flight and every retry wait. */
  signal?: AbortSignal;
  /** `docker://` images: timeouts and retries (see NetworkOptions). */
  network?: Omit<NetworkOptions, 'tlsVerify' | 'signal'>;
}

export interface IndexProgress {
  /** Layer being indexed (0 = bottom). */
  layer: number;
  /** Stored (compressed) bytes read so far, summed over all layers (a layer that is done counts whole). */
  bytesDone: number;
  /** Stored (compressed) bytes of all layers. */
  bytesTotal: number;
  /** Stored bytes of `layer` read so far (for a registry image: downloaded); 0 as its walk starts. */
  layerBytesDone?: number;
  /** Stored size of `layer`. */
  layerBytesTotal?: number;
}

export interface ImageDirent {
  name: string;
  /** The directory that holds the entry (as Node ≥ 20.12's `Dirent.parentPath`). */
  parentPath: string;
  /** Same as parentPath (deprecated name kept by Node). */
  path: string;
  type: FileType;
  /** The entry's inode number, as `lstat` gives it (a directory listing's `d_ino`). */
  ino: number;
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

/**
 * A path inside the image: a string, or (as Node's fs takes) a Buffer of the name's bytes. Names that
 * are not valid UTF-8 are strings too: each such byte is the lone surrogate U+DC00 + byte
 * (`nameFromBytes`/`nameToBytes` convert); a Buffer is decoded the same way.
 */
export type ImagePath = string | Buffer;

export interface ImageFS {
  readonly format: ImageFormat;
  readonly layers: readonly LayerInfo[];
  readonly config: ImageConfig | undefined;

  stat(path: ImagePath): Promise<ImageStats>;
  lstat(path: ImagePath): Promise<ImageStats>;
  statSync(path: ImagePath): ImageStats;
  lstatSync(path: ImagePath): ImageStats;

  readdir(path: ImagePath): Promise<string[]>;
  readdir(path: ImagePath, options: { withFileTypes: true }): Promise<ImageDirent[]>;
  readdir(path: ImagePath, options?: { withFileTypes?: false }): Promise<string[]>;
  readdirSync(path: ImagePath): string[];
  readdirSync(path: ImagePath, options: { withFileTypes: true }): ImageDirent[];
  readdirSync(path: ImagePath, options?: { withFileTypes?: false }): string[];

  readlink(path: ImagePath): Promise<string>;
  readlinkSync(path: ImagePath): string;
  realpath(path: ImagePath): Promise<string>;
  realpathSync(path: ImagePath): string;
  exists(path: ImagePath): Promise<boolean>;
  existsSync(path: ImagePath): boolean;

  readFile(path: ImagePath): Promise<Buffer>;
  readFile(path: ImagePath, options: { encoding: BufferEncoding } | BufferEncoding): Promise<string>;
  createReadStream(path: ImagePath, options?: ReadStreamOptions): Readable;

  /** Pre-order, children sorted by name bytes, lstat semantics, `path` itself not yielded. */
  walk(path?: ImagePath): AsyncIterable<WalkEntry>;
  /**
   * Every visible regular file once (symlinks too with `symlinks: true`), in archive order so that each
   * layer is read and decompressed at most once; files hidden by upper layers never appear.
   */
  scan(options?: ScanOptions): AsyncIterable<ScannedFile>;
  history(path: ImagePath): PathHistory;
  /** The parts of `node:fs` that glob and walker libraries use, answering from this image. */
  asNodeFs(): NodeFsAdapter;
  /** What layer `index` added, modified and deleted relative to the layers below it (`docker diff`). */
  changes(index: number): LayerChanges;
  /** Indexes every layer not indexed yet (only useful with `lazy`). */
  indexAll(): Promise<void>;
  close(): Promise<void>;
}
