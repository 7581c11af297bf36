import { createHash } from '../lazy-crypto.js';
import type { Readable } from 'node:stream';
import { stream } from '../lazy-stream.js';
import type { ImageConfig, ImageFormat } from '../image/loaded-image.js';
import type { Layer } from '../layer/layer.js';
import { MemberDigests } from '../layer/member-digests.js';
import type { LayerTable } from '../table/layer-table.js';
import { ImgfsError } from '../errors.js';
import { joinPath, normalizeEntryName, pathFromInput, ROOT } from '../table/entry-name.js';
import { LayerNeeded, type MergedNode, type MergedView } from '../merge/merged-view.js';
import { resolvePath, type Resolution } from '../merge/resolve-path.js';
import { layerChanges, pathHistory, type LayerChanges } from '../merge/layer-changes.js';
import { Dirent } from './dirent.js';
import { createNodeFsAdapter, type NodeFsAdapter } from './node-fs-adapter.js';
import { contentFilter, scanFilter, ScanPlan, type ScannedFile, type ScanOptions } from './scan.js';
import { FsError } from './fs-errors.js';
import { ImageStats, type FileType } from './image-stats.js';
import type { DecodedExtent, FileExtent, FileRegions } from './file-regions.js';
import type { ImageDirent, ImageFS, ImagePath, LayerInfo, PathHistory, ReadStreamOptions, WalkEntry } from './types.js';

/** Inode numbers for directories no layer has a member for; far above `layer × 2³² + ordinal`. */
const IMPLICIT_INO_BASE = 2 ** 50;
const NONE_UNREADABLE: ReadonlyMap<number, unknown> = new Map();
/** Path resolutions remembered per image before the memo starts over. */
const MAX_REMEMBERED_RESOLUTIONS = 200_000;

/**
 * The public `ImageFS`: turns API paths into merged-view nodes (through one resolver, like Yarn's
 * ZipFS), nodes into `ImageStats`, and content reads into reads of the layer that holds the bytes.
 * Everything about layers and overlay rules lives in lib/merge; this class only adapts it to fs shapes.
 */
export class ImageFileSystem implements ImageFS, FileRegions {
  readonly layers: readonly LayerInfo[];
  private readonly implicitInodes = new Map<string, number>();
  /**
   * Resolutions by path, following the last symlink or not. Keyed by the path string itself, not a
   * prefixed copy: a 5 000-deep walk asks about paths of up to 10 kB, and a copy per key would hold
   * the sum of their lengths (tens of MB) a second time.
   */
  private readonly resolutions = { follow: new Map<string, Resolution>(), noFollow: new Map<string, Resolution>() };
  private readonly loading = new Map<number, Promise<void>>();
  private closed = false;
  /** Layers that failed to load during the question being asked (see `ready`). */
  private unreadable: ReadonlyMap<number, unknown> = NONE_UNREADABLE;

  constructor(
    readonly format: ImageFormat,
    readonly config: ImageConfig | undefined,
    /** Bottom first; each one indexes itself and reads its entries' bytes. */
    private readonly stack: readonly Layer[],
    private readonly view: MergedView,
    /** Indexes a layer; `digests` gets its files hashed if the table is built by a pass over the layer. */
    private readonly loadLayer: (layer: Layer, digests?: MemberDigests) => Promise<LayerTable>,
    private readonly release: () => Promise<void>,
  ) {
    this.layers = stack.map((layer) => layer.info);
  }

  // --- layer loading ---------------------------------------------------------------------------

  async indexAll(): Promise<void> {
    await Promise.all(this.stack.map((_, layer) => this.ensureLayer(layer)));
  }

  private ensureLayer(layer: number, digests?: MemberDigests): Promise<void> {
    if (this.view.isLoaded(layer)) return Promise.resolve();
    let pending = this.loading.get(layer);
    if (pending === undefined) {
      pending = this.loadLayer(this.stack[layer] as Layer, digests).then((table) => this.view.provide(layer, table));
      // A failed load may be retried by a later question (the error is not cached).
      pending.catch(() => this.loading.delete(layer));
      this.loading.set(layer, pending);
    }
    return pending;
  }

  /**
   * Runs a question over the view, loading the layers it turns out to need, top-down (with at most one
   * layer indexed ahead: indexAhead).
   * A layer that fails to load is tried once per question; the question is then asked again with the
   * layer known to be unreadable, so that what can do without it (a directory's link count) answers.
   */
  private async ready<T>(question: () => T): Promise<T> {
    const unreadable = new Map<number, unknown>();
    for (;;) {
      this.assertOpen();
      try {
        this.unreadable = unreadable;
        return question();
      } catch (error) {
        if (!(error instanceof LayerNeeded)) throw error;
        if (unreadable.has(error.layer)) throw unreadable.get(error.layer);
        this.indexAhead(error.layer);
        await this.ensureLayer(error.layer).catch((failure: unknown) => unreadable.set(error.layer, failure));
      } finally {
        this.unreadable = NONE_UNREADABLE;
      }
    }
  }

  /**
   * A question that has gone below the top layer often goes further: the next layer down is indexed
   * beside `needed` when that costs decoding (which runs on the thread pool, beside the walk of
   * `needed`). At most one layer ahead, and never for a question the top layer answers: a path the top
   * layer decides still touches nothing below it. A failure here is forgotten; a question that needs
   * the layer indexes it again and meets the error then.
   */
  private indexAhead(needed: number): void {
    const below = needed - 1;
    if (needed === this.stack.length - 1 || below < 0 || this.view.isLoaded(below) || this.loading.has(below)) return;
    if (!(this.stack[below] as Layer).worthIndexingAhead) return;
    this.ensureLayer(below).catch(() => undefined);
  }

  /**
   * A content question about `path` is starting: the layers not indexed yet keep the file's data if
   * their pass goes by it, so that reading it then does not decode a layer a second time.
   */
  private keepDataOf(path: string): void {
    const name = normalizeEntryName(path);
    this.stack.forEach((layer, index) => {
      if (!this.view.isLoaded(index)) layer.keepData(name);
    });
  }

  /** Runs a question for a Sync method: a layer that is not indexed yet is an error, not a wait. */
  private now<T>(question: () => T): T {
    try {
      return question();
    } catch (error) {
      if (!(error instanceof LayerNeeded)) throw error;
      throw new ImgfsError('ENOTINDEXED', `${error.message}: use the async method, or await indexAll() first`, {
        layer: { index: error.layer, digest: this.layers[error.layer]?.digest },
      });
    }
  }

  // --- metadata --------------------------------------------------------------------------------

  statSync(path: ImagePath): ImageStats {
    return this.now(() => this.toStats(this.resolve(path, true, 'stat').node));
  }
  lstatSync(path: ImagePath): ImageStats {
    return this.now(() => this.toStats(this.resolve(path, false, 'lstat').node));
  }
  stat(path: ImagePath): Promise<ImageStats> {
    return this.ready(() => this.toStats(this.resolve(path, true, 'stat').node));
  }
  lstat(path: ImagePath): Promise<ImageStats> {
    return this.ready(() => this.toStats(this.resolve(path, false, 'lstat').node));
  }

  readdirSync(path: ImagePath): string[];
  readdirSync(path: ImagePath, options: { withFileTypes: true }): ImageDirent[];
  readdirSync(path: ImagePath, options?: { withFileTypes?: false }): string[];
  readdirSync(path: ImagePath, options?: { withFileTypes?: boolean }): string[] | ImageDirent[] {
    return this.now(() => this.list(path, options?.withFileTypes === true));
  }
  readdir(path: ImagePath): Promise<string[]>;
  readdir(path: ImagePath, options: { withFileTypes: true }): Promise<ImageDirent[]>;
  readdir(path: ImagePath, options?: { withFileTypes?: false }): Promise<string[]>;
  readdir(path: ImagePath, options?: { withFileTypes?: boolean }): Promise<string[] | ImageDirent[]> {
    return this.ready(() => this.list(path, options?.withFileTypes === true));
  }

  private list(input: ImagePath, withFileTypes: boolean): string[] | ImageDirent[] {
    const path = pathFromInput(input);
    const { node, path: resolved } = this.resolve(path, true, 'scandir');
    if (node.kind !== 'dir') throw new FsError('ENOTDIR', 'scandir', path);
    const names = this.view.children(resolved);
    if (!withFileTypes) return [...names];
    const parentPath = display(resolved);
    return names.map((name) => {
      const child = this.view.lookup(joinPath(resolved, name)) as MergedNode;
      return new Dirent(name, parentPath, fileType(child), this.inodeOf(child));
    });
  }

  readlinkSync(path: ImagePath): string {
    return this.now(() => this.linkTarget(path));
  }
  readlink(path: ImagePath): Promise<string> {
    return this.ready(() => this.linkTarget(path));
  }
  private linkTarget(input: ImagePath): string {
    const path = pathFromInput(input);
    const { node } = this.resolve(path, false, 'readlink');
    if (node.kind !== 'symlink') throw new FsError('EINVAL', 'readlink', path);
    return node.entry?.linkname ?? '';
  }

  realpathSync(path: ImagePath): string {
    return this.now(() => display(this.resolve(path, true, 'realpath').path));
  }
  realpath(path: ImagePath): Promise<string> {
    return this.ready(() => display(this.resolve(path, true, 'realpath').path));
  }

  existsSync(path: ImagePath): boolean {
    return this.now(() => this.found(path));
  }
  exists(path: ImagePath): Promise<boolean> {
    return this.ready(() => this.found(path));
  }
  private found(path: ImagePath): boolean {
    this.assertOpen();
    return resolvePath(this.view, pathFromInput(path), true).ok;
  }

  // --- content ---------------------------------------------------------------------------------

  readFile(path: ImagePath): Promise<Buffer>;
  readFile(path: ImagePath, options: { encoding: BufferEncoding } | BufferEncoding): Promise<string>;
  async readFile(input: ImagePath, options?: { encoding: BufferEncoding } | BufferEncoding): Promise<Buffer | string> {
    const path = pathFromInput(input);
    this.keepDataOf(path);
    const { node } = await this.ready(() => this.resolve(path, true, 'open'));
    if (node.kind === 'dir') throw new FsError('EISDIR', 'read', path);
    const bytes = await this.readContent(node, 0, contentSize(node));
    const encoding = typeof options === 'string' ? options : options?.encoding;
    return encoding === undefined ? bytes : bytes.toString(encoding);
  }

  createReadStream(input: ImagePath, options: ReadStreamOptions = {}): Readable {
    const path = pathFromInput(input);
    let node: MergedNode;
    try {
      node = this.resolve(path, true, 'open').node;
      if (node.kind === 'dir') throw new FsError('EISDIR', 'read', path);
    } catch (error) {
      if (error instanceof LayerNeeded) {
        // Lazily opened: index what the path needs first, then stream, all behind the stream returned now.
        this.keepDataOf(path);
        const later = this.ready(() => this.resolve(path, true, 'open')).then(() => this.createReadStream(path, options));
        return stream().Readable.from(forward(later), { objectMode: false });
      }
      // As fs.createReadStream: the stream is returned, and the problem arrives as its 'error'.
      return new (stream().Readable)({
        read() {
          this.destroy(error as Error);
        },
      });
    }
    const size = contentSize(node);
    const start = Math.max(0, options.start ?? 0);
    const end = Math.min(size, options.end === undefined ? size : options.end + 1);
    return this.streamContent(node, start, end);
  }

  async readRange(input: string, start: number, end: number): Promise<Buffer> {
    const path = pathFromInput(input);
    this.keepDataOf(path);
    const { node } = await this.ready(() => this.resolve(path, true, 'open'));
    if (node.kind === 'dir') throw new FsError('EISDIR', 'read', path);
    return this.readContent(node, Math.max(0, start), Math.min(contentSize(node), end));
  }

  recordCheckpointsEvery(spacingOf: (layer: LayerInfo) => number): void {
    for (const layer of this.stack) layer.recordCheckpointsEvery(spacingOf(layer.info));
  }

  fileExtent(path: string): FileExtent | undefined {
    const node = this.resolvedFile(path);
    if (node?.entry === undefined) return undefined;
    const region = this.layerOf(node).fileRegion(node.entry);
    return region === undefined ? undefined : { fd: region.fd, offset: region.offset, size: contentSize(node) };
  }

  decodedExtent(path: string): DecodedExtent | undefined {
    const node = this.resolvedFile(path);
    if (node?.entry === undefined) return undefined;
    const offset = this.layerOf(node).decodedOffset(node.entry);
    return offset === undefined ? undefined : { layer: node.layer, offset, size: contentSize(node) };
  }

  onReadSpan(listener: (layer: number, start: number, span: Buffer) => void): void {
    for (const [index, layer] of this.stack.entries()) layer.onReadSpan((start, span) => listener(index, start, span));
  }

  /** The regular file at `path` (no symlink followed), if the layers that decide it are indexed. */
  private resolvedFile(path: string): MergedNode | undefined {
    let node: MergedNode;
    try {
      node = this.resolve(path, false, 'open').node;
    } catch {
      return undefined; // not indexed yet, or no such file: reads ask JavaScript
    }
    return node.kind === 'file' ? node : undefined;
  }

  /** Bytes [start, end) of a node's content, streamed from the layer that holds them. */
  private streamContent(node: MergedNode, start: number, end: number): Readable {
    if (node.entry === undefined || end <= start) return stream().Readable.from([]);
    return this.layerOf(node).stream(node.entry, start, end);
  }

  private async readContent(node: MergedNode, start: number, end: number): Promise<Buffer> {
    if (node.entry === undefined || end <= start) return Buffer.alloc(0);
    return this.layerOf(node).read(node.entry, start, end);
  }

  // --- traversal -------------------------------------------------------------------------------

  async *walk(path: ImagePath = '/'): AsyncIterable<WalkEntry> {
    await this.indexAll();
    for (const { path: current, stats } of this.traverse(path)) yield { path: display(current), stats };
  }

  async *scan(options: ScanOptions = {}): AsyncIterable<ScannedFile> {
    const digests = options.hash === undefined ? undefined : await this.indexHashing(options.hash, contentFilter(options), options.signal);
    await this.indexAll();
    const wanted = scanFilter(options);
    const plan = new ScanPlan();
    for (const { path, node, stats } of this.traverse('/')) {
      const dataOffset = node.entry?.dataOffset ?? 0;
      if (wanted({ path: display(path), stats, layer: node.layer, dataOffset })) plan.add(path, node.layer, dataOffset);
    }
    let current: Readable | undefined;
    try {
      for (const planned of plan.inArchiveOrder()) {
        options.signal?.throwIfAborted();
        // Looked up again rather than kept from the walk (see ScanPlan), without memoising it.
        const node = this.view.lookupUpTo(planned, this.view.top) as MergedNode;
        const stats = this.toStats(node);
        const { layer } = node;
        const path = display(planned);
        // The consumer moved on: whatever it left unread of the previous file is skipped.
        if (current !== undefined && !current.readableEnded) current.destroy();
        let digest: string | undefined;
        if (options.hash !== undefined) {
          const offset = node.entry?.dataOffset;
          digest = offset === undefined || node.kind !== 'file' ? undefined : digests?.[layer]?.get(offset);
          // Not hashed in an index pass (indexed before the scan, from the cache, a sparse file, a
          // symlink): read it now.
          digest ??= await digestOf(node.kind === 'file' ? this.streamContent(node, 0, stats.size) : stream().Readable.from([]), options.hash);
        }
        current = undefined;
        // Made when the consumer asks for it: a consumer that takes only digests opens no stream (a
        // million streams made and destroyed without an event-loop turn would all wait in memory for
        // their 'close').
        let opened: Readable | undefined;
        const open = (): Readable => {
          if (opened === undefined) {
            opened = node.kind === 'file' ? this.streamContent(node, 0, stats.size) : stream().Readable.from([]);
            current = opened;
          }
          return opened;
        };
        yield {
          path,
          stats,
          layer,
          ...(digest === undefined ? {} : { digest }),
          get stream(): Readable {
            return open();
          },
        };
      }
    } finally {
      if (current !== undefined && !current.readableEnded) current.destroy();
    }
  }

  /**
   * Indexes the layers not indexed yet, top-down and one at a time, hashing their files in the same
   * pass (see MemberDigests); per layer, the digests recorded (none for a layer indexed earlier).
   */
  private async indexHashing(algorithm: string, wants: (path: string, size: number) => boolean, signal: AbortSignal | undefined): Promise<Array<MemberDigests | undefined>> {
    const digests: Array<MemberDigests | undefined> = this.stack.map(() => undefined);
    for (let layer = this.stack.length - 1; layer >= 0; layer--) {
      signal?.throwIfAborted();
      if (this.view.isLoaded(layer) || this.loading.has(layer)) continue;
      const recorder = new MemberDigests(algorithm, wants);
      digests[layer] = recorder;
      await this.ensureLayer(layer, recorder);
      // Its files are hashed: the layer's decoded spans would only add to the next layer's.
      (this.stack[layer] as Layer).dropDecoded();
    }
    return digests;
  }

  /**
   * Pre-order, children sorted by name bytes, the start itself excluded; no symlink followed below it.
   * Streams: it keeps only the siblings still to visit on the way down (memory grows with the tree's
   * width and depth, not with the number of entries) and memoises nothing in the view. A directory's
   * children are listed once, when it is reached, which also gives its link count.
   */
  private *traverse(path: ImagePath): Generator<{ path: string; node: MergedNode; stats: ImageStats }> {
    const { node, path: start } = this.resolve(path, true, 'scandir');
    if (node.kind !== 'dir') throw new FsError('ENOTDIR', 'scandir', pathFromInput(path));
    // An explicit stack, not recursion: a 5 000-deep tree must not exhaust the call stack.
    const stack: MergedNode[] = this.view.childNodes(start).reverse();
    while (stack.length > 0) {
      this.assertOpen();
      const current = stack.pop() as MergedNode;
      if (current.kind !== 'dir') {
        yield { path: current.path, node: current, stats: this.toStats(current) };
        continue;
      }
      const children = this.view.childNodes(current.path);
      const subdirectories = children.reduce((count, child) => count + (child.kind === 'dir' ? 1 : 0), 0);
      yield { path: current.path, node: current, stats: this.toStats(current, subdirectories) };
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as MergedNode);
    }
  }

  history(path: ImagePath): PathHistory {
    this.assertOpen();
    const { path: shown, visible, steps } = this.now(() => pathHistory(this.view, pathFromInput(path)));
    return {
      path: shown,
      visible,
      layers: steps.map((step) => ({
        index: step.index,
        digest: this.layers[step.index]?.digest,
        action: step.action,
        type: step.kind,
      })),
    };
  }

  asNodeFs(): NodeFsAdapter {
    return createNodeFsAdapter(this);
  }

  changes(index: number): LayerChanges {
    this.assertOpen();
    if (!Number.isInteger(index) || index < 0 || index >= this.layers.length) {
      throw new RangeError(`layer ${index} does not exist (the image has ${this.layers.length})`);
    }
    return this.now(() => layerChanges(this.view, index));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.release();
  }

  // --- helpers ---------------------------------------------------------------------------------

  private resolve(input: ImagePath, followLast: boolean, syscall: string): { node: MergedNode; path: string } {
    this.assertOpen();
    if (typeof input !== 'string' && !Buffer.isBuffer(input)) throw new TypeError(`path must be a string or a Buffer, got ${typeof input}`);
    const path = pathFromInput(input);
    const memo = followLast ? this.resolutions.follow : this.resolutions.noFollow;
    let result = memo.get(path);
    if (result === undefined) {
      // The view never changes once opened, so a resolution stays true; the bound keeps a process
      // that asks about millions of distinct paths from growing without limit.
      if (memo.size >= MAX_REMEMBERED_RESOLUTIONS) memo.clear();
      result = this.resolveFresh(path, followLast);
      memo.set(path, result);
    }
    if (!result.ok) throw new FsError(result.code, syscall, path);
    return result;
  }

  /**
   * Resolves from the nearest directory already resolved: a walk (ls -R, a FUSE lookup, a recursive
   * copy through the fs adapter) asks for `dir/name` right after `dir`, so only `name` is left to look
   * up. Without this, each child of a d-deep chain would be resolved from the root: O(d^2) lookups for
   * a listing that should cost O(d).
   */
  private resolveFresh(path: string, followLast: boolean): Resolution {
    const slash = path.lastIndexOf('/');
    const name = path.slice(slash + 1);
    if (slash >= 0 && name !== '' && name !== '.' && name !== '..') {
      const parent = this.resolutions.follow.get(slash === 0 ? '/' : path.slice(0, slash));
      if (parent?.ok === true && parent.node.kind === 'dir') return resolvePath(this.view, name, followLast, parent);
    }
    return resolvePath(this.view, path, followLast);
  }

  private layerOf(node: MergedNode): Layer {
    return this.stack[node.layer] as Layer;
  }

  /** `subdirectories`: a directory's count when the caller has just listed it (a walk). */
  private toStats(node: MergedNode, subdirectories?: number): ImageStats {
    const entry = node.entry;
    const type = fileType(node);
    return new ImageStats({
      type,
      perm: entry?.mode ?? 0o755,
      uid: entry?.uid ?? 0,
      gid: entry?.gid ?? 0,
      uname: entry?.uname ?? '',
      gname: entry?.gname ?? '',
      size: contentSize(node),
      mtimeMs: entry?.mtimeMs ?? 0,
      nlink: type === 'dir' ? this.directoryLinks(node.path, subdirectories) : this.view.linkCount(node),
      ino: this.inodeOf(node),
      devmajor: entry?.devmajor ?? 0,
      devminor: entry?.devminor ?? 0,
      xattrs: entry?.xattrs ?? {},
      layer: node.layer,
      target: type === 'symlink' ? entry?.linkname : undefined,
      dataRegions: type === 'file' ? entry?.sparse?.regions : undefined,
    });
  }

  /**
   * 2 + subdirectories, which needs every layer that could add to the directory. When one of them
   * cannot be read, the count is unknown and shows as 1, as btrfs and others always show it for
   * directories (find and fts read 1 as "not counted"): the directory's own attributes stay known.
   */
  private directoryLinks(dir: string, subdirectories: number | undefined): number {
    if (subdirectories !== undefined) return 2 + subdirectories;
    try {
      return 2 + this.view.subdirectoryCount(dir);
    } catch (error) {
      if (error instanceof LayerNeeded && this.unreadable.has(error.layer)) return 1;
      throw error;
    }
  }

  private inodeOf(node: MergedNode): number {
    if (node.entry !== undefined) return node.layer * 2 ** 32 + node.entry.ordinal + 1;
    let ino = this.implicitInodes.get(node.path);
    if (ino === undefined) {
      ino = node.path === ROOT ? IMPLICIT_INO_BASE : IMPLICIT_INO_BASE + this.implicitInodes.size + 1;
      this.implicitInodes.set(node.path, ino);
    }
    return ino;
  }

  private assertOpen(): void {
    if (this.closed) throw new ImgfsError('ECLOSED', 'the image has been closed');
  }
}

/**
 * Reads bytes of an entry's content by offset within the file: straight from the layer, or, for a
 * sparse file, through its map (holes read as zeros).
 */
/** The bytes of a stream that is only known later. */
async function* forward(stream: Promise<Readable>): AsyncGenerator<Buffer> {
  for await (const chunk of await stream) yield chunk as Buffer;
}

function display(path: string): string {
  return `/${path}`;
}

/** Every merged kind is already a file type; hard links were resolved by the merge. */
function fileType(node: MergedNode): FileType {
  return node.kind;
}

/** File bytes for regular files; for a symlink, the length of its target, as lstat(2) reports. */
function contentSize(node: MergedNode): number {
  if (node.kind === 'file') return node.entry?.size ?? 0;
  if (node.kind === 'symlink') return Buffer.byteLength(node.entry?.linkname ?? '');
  return 0;
}

/** Hex digest of a stream's bytes. */
async function digestOf(stream: Readable, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
