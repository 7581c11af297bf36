import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteSource } from '../source/byte-source.js';
import { openDecompressed, type Compression } from '../source/codec.js';
import { DEFAULT_CACHE_BYTES, DecompressedSource, SPAN_SIZE } from '../source/decompressed-source.js';
import { walkTar } from '../tar/walk-tar.js';
import type { TarEntry } from '../tar/tar-entry.js';
import { assertDigest, digestOf, hashFor } from '../image/digest.js';
import { loadImage } from '../image/load-image.js';
import type { LayerBlob, LoadedImage, LoadOptions } from '../image/loaded-image.js';
import { parseCreds } from '../registry/credentials.js';
import { LayerTable } from '../table/layer-table.js';
import { defaultCacheDir, TableCache } from '../table/table-cache.js';
import { MergedView } from '../merge/merged-view.js';
import { ImgfsError, isImgfsError } from '../errors.js';
import { ImageFileSystem, type LayerSlot } from './image-file-system.js';
import type { ImageFS, LayerInfo, OpenLimits, OpenOptions } from './types.js';

/**
 * Opens an image where it lies — a `docker save` tarball, an OCI layout (directory or tar), or a list
 * of layer tars (bottom first) — and indexes its layers' tar headers: all of them now, or with
 * `lazy`, each one the first time a question reaches it, from the top down. No byte is extracted:
 * file contents are read later, on demand, from the original archive.
 */
export async function openImage(source: string | string[], options: OpenOptions = {}): Promise<ImageFS> {
  checkLimits(options.limits);
  const image = await loadImage(source, { ref: options.ref, platform: options.platform, verify: options.verify, limits: options.limits, ...remoteOptions(options) });
  const warn = options.onWarning ?? (() => {});
  const cache =
    options.cache === false ? undefined : new TableCache(typeof options.cache === 'string' ? options.cache : defaultCacheDir(), warn);
  const openedSources: ByteSource[] = [];
  const release = async (): Promise<void> => {
    await Promise.allSettled(openedSources.map((opened) => opened.close()));
    await image.close();
  };
  try {
    const cacheBytes = layerCacheBytes(image.layers.length);
    const slots = await Promise.all(image.layers.map((blob) => openLayer(blob, options, cacheBytes, openedSources)));
    const bytesTotal = image.layers.reduce((sum, layer) => sum + layer.size, 0);
    // Stored bytes walked so far per layer: layers are indexed in parallel (or lazily), so progress is
    // their sum, reported while a layer is walked and not only once it is done.
    const walked = new Map<number, number>();
    const progress = (layer: number, bytes: number): void => {
      walked.set(layer, bytes);
      let bytesDone = 0;
      for (const done of walked.values()) bytesDone += done;
      options.onProgress?.({ layer, bytesDone, bytesTotal });
    };
    const load = async (slot: LayerSlot): Promise<LayerTable> => {
      if (unopened.has(slot)) {
        unopened.delete(slot);
        await openRemoteLayer(slot, options, cache, cacheBytes, openedSources);
      }
      const index = await indexLayer(slot, image, options, cache, (bytes) => progress(slot.blob.index, bytes));
      progress(slot.blob.index, slot.blob.size);
      return index;
    };
    const view = new MergedView(
      slots.map(() => undefined),
      warn,
    );
    const fs = new ImageFileSystem(image.format, image.config, slots, view, load, release);
    if (options.lazy !== true) await fs.indexAll();
    return fs;
  } catch (error) {
    await release();
    throw error;
  }
}

/** OpenOptions for `docker://` images, as the loader takes them. */
function remoteOptions(options: OpenOptions): Pick<LoadOptions, 'auth' | 'network'> {
  const auth = typeof options.auth === 'string' ? parseCreds(options.auth) : options.auth;
  return { auth, network: { ...options.network, tlsVerify: options.tlsVerify, signal: options.signal } };
}

/** How many members pass between two progress reports while a layer is walked. */
const PROGRESS_EVERY = 512;

/**
 * Passes the members through, telling `onWalked` now and then how many of the layer's stored bytes
 * have been walked: the compressed bytes read so far, or the offset reached in an uncompressed tar.
 */
async function* reportWalked(members: AsyncIterable<TarEntry>, slot: LayerSlot, onWalked: (storedBytes: number) => void): AsyncGenerator<TarEntry> {
  let count = 0;
  for await (const member of members) {
    if (++count % PROGRESS_EVERY === 0) {
      const read = slot.content instanceof DecompressedSource ? slot.content.stats.rawBytesRead : member.dataOffset;
      onWalked(Math.min(read, slot.blob.size));
    }
    yield member;
  }
}

/** Limits are numbers above 0 (`Infinity` turns one off); anything else is the caller's mistake. */
function checkLimits(limits: OpenLimits | undefined): void {
  for (const [name, value] of Object.entries(limits ?? {})) {
    if (value !== undefined && !(typeof value === 'number' && value > 0)) {
      throw new RangeError(`limits.${name} must be a number above 0 (Infinity turns it off), got ${String(value)}`);
    }
  }
}

/**
 * The decompressed-span cache of each compressed layer: one image shares DEFAULT_CACHE_BYTES among its
 * layers, so that memory does not grow with the layer count (a hundred tiny gzip layers of zeros would
 * otherwise pin 64 MiB of decoded spans each).
 */
function layerCacheBytes(layers: number): number {
  const share = Math.floor(DEFAULT_CACHE_BYTES / Math.max(1, layers));
  return share - (share % SPAN_SIZE);
}

/** Registry layers whose compression is not sniffed yet: that reads bytes, so it waits for a question. */
const unopened = new WeakSet<LayerSlot>();

/**
 * Sniffs a layer's compression and prepares its decompressed view; nothing is indexed yet. A registry
 * layer is only described (its media type says what compression to expect): sniffing would fetch
 * from every layer at open, and a question answered by the top layer must fetch nothing from the others.
 */
async function openLayer(blob: LayerBlob, options: OpenOptions, cacheBytes: number, openedSources: ByteSource[]): Promise<LayerSlot> {
  if (blob.selfVerifying !== undefined) {
    const expected = /zstd/.test(blob.mediaType ?? '') ? 'zstd' : /gzip/.test(blob.mediaType ?? '') ? 'gzip' : 'none';
    const slot = { blob, content: blob.blob, info: describeLayer(blob, expected) };
    unopened.add(slot);
    return slot;
  }
  try {
    const maxRatio = options.limits?.maxRatio;
    const { source: content, compression } = await openDecompressed(blob.blob, maxRatio === undefined ? { cacheBytes } : { maxRatio, cacheBytes });
    if (content !== blob.blob) openedSources.push(content);
    return { blob, content, info: describeLayer(blob, compression) };
  } catch (error) {
    throw locateLayerError(error, blob);
  }
}

/** The first question that reaches a registry layer: span digests from the cache, then the sniff. */
async function openRemoteLayer(
  slot: LayerSlot,
  options: OpenOptions,
  cache: TableCache | undefined,
  cacheBytes: number,
  openedSources: ByteSource[],
): Promise<void> {
  const { blob } = slot;
  if (cache !== undefined && blob.digest !== undefined) {
    const identity = `blob ${blob.digest}`;
    blob.selfVerifying?.deferSpanImport(() => cache.loadExtra(identity, SPAN_SUFFIX));
  }
  const opened = await openLayer({ ...blob, selfVerifying: undefined }, options, cacheBytes, openedSources);
  slot.content = opened.content;
  slot.info.compression = opened.info.compression;
}

function describeLayer(blob: LayerBlob, compression: Compression): LayerInfo {
  return {
    index: blob.index,
    // An uncompressed blob is its own tar stream: its digest is the diff_id.
    digest: blob.digest ?? (compression === 'none' ? blob.diffId : undefined),
    diffId: blob.diffId,
    mediaType: blob.mediaType,
    compression,
    size: blob.size,
    uncompressedSize: undefined,
    entries: undefined,
    whiteouts: undefined,
    createdBy: blob.createdBy,
  };
}

/** The layer's table, from the index cache when it has it, else by walking the layer's tar headers. */
async function indexLayer(
  slot: LayerSlot,
  image: LoadedImage,
  options: OpenOptions,
  cache: TableCache | undefined,
  onWalked: (storedBytes: number) => void,
): Promise<LayerTable> {
  const { blob, content, info } = slot;
  try {
    // Digests the image states are cache keys only once `verify` proves them (see layerIdentity); a
    // self-verifying blob (a registry layer) proves its own before anything is cached.
    const trusted = options.verify === true || blob.selfVerifying !== undefined;
    const identity = cache === undefined ? undefined : await layerIdentity(blob, image, trusted);
    let index = identity === undefined ? undefined : await cache?.load(identity);
    const checkpoints = cache === undefined ? undefined : await useCachedCheckpoints(content, blob, image, cache, trusted);
    if (index === undefined) {
      // Checkpoints recorded during this first pass are kept with the index: later reads start near
      // their offset instead of decoding the compressed layer from its start.
      if (checkpoints !== undefined) checkpoints.source.checkpointPolicy = 'eager';
      const { maxEntries, maxPaxSize, maxNameLength } = options.limits ?? {};
      const members = walkTar(content, { maxPaxSize, maxNameLength });
      index = await LayerTable.build(options.onProgress === undefined ? members : reportWalked(members, slot, onWalked), {
        maxEntries,
        onWarning: options.onWarning,
        label: `layer ${blob.index}`,
      });
      // Verified before anything is cached: a layer that fails its digests leaves nothing behind.
      await blob.selfVerifying?.finishVerification();
      if (options.verify === true) await verifyLayer(blob, content);
      if (identity !== undefined) await cache?.store(identity, index);
      const spans = blob.selfVerifying?.exportSpans();
      if (spans !== undefined && blob.digest !== undefined) await cache?.storeExtra(`blob ${blob.digest}`, SPAN_SUFFIX, spans);
      if (checkpoints !== undefined && checkpoints.source.stats.checkpointsRecorded > 0) {
        await cache?.storeExtra(checkpoints.identity, CHECKPOINT_SUFFIX, checkpoints.source.exportCheckpoints());
      }
    } else if (options.verify === true) {
      await verifyLayer(blob, content);
    }
    info.uncompressedSize = content.size ?? index.tarEnd;
    info.entries = index.memberCount;
    info.whiteouts = index.whiteoutCount;
    return index;
  } catch (error) {
    throw locateLayerError(error, blob);
  }
}

/** Every problem met while opening or indexing a layer names the archive, the member and the layer. */
function locateLayerError(error: unknown, blob: LayerBlob): ImgfsError {
  const where = { archive: blob.blob.name, member: blob.location, layer: { index: blob.index, digest: blob.digest } };
  if (isImgfsError(error)) return error.locate(where);
  return new ImgfsError('EIMGFORMAT', `cannot index layer: ${(error as Error).message}`, { ...where, cause: error });
}

const CHECKPOINT_SUFFIX = 'ckpt';
const SPAN_SUFFIX = 'spans';

/**
 * For a compressed layer, the checkpoints kept in the cache beside the indexes, imported into its
 * decompressed view when it is first read (an open that reads nothing pays nothing). They depend on
 * the compressed bytes, so they are keyed by the blob's digest (or the identity of the file holding
 * it), not by the diff_id. An unusable file is removed with a warning.
 */
async function useCachedCheckpoints(
  content: ByteSource,
  blob: LayerBlob,
  image: LoadedImage,
  cache: TableCache,
  trusted: boolean,
): Promise<{ source: DecompressedSource; identity: string } | undefined> {
  if (!(content instanceof DecompressedSource)) return undefined;
  const identity =
    trusted && blob.digest !== undefined ? `blob ${blob.digest}` : await layerIdentity({ ...blob, diffId: undefined }, image, trusted);
  if (identity === undefined) return undefined;
  content.deferCheckpointImport(
    () => cache.loadExtra(identity, CHECKPOINT_SUFFIX),
    (error) => cache.dropExtra(identity, CHECKPOINT_SUFFIX, error.reason),
  );
  return { source: content, identity };
}

/**
 * What names a layer's tar stream for the index cache. Its uncompressed digest (or the blob's) when the
 * image states one and `trusted` (the layer is verified against it, so a base layer shared by many
 * images is indexed once); else the identity of the file holding it, so that a replaced file is a
 * miss. An unverified digest is only a claim: as a key, it would let a hostile image plant its index
 * under the digest of a popular base layer for every later image that has the real one.
 */
async function layerIdentity(blob: LayerBlob, image: LoadedImage, trusted: boolean): Promise<string | undefined> {
  // A registry layer proves its blob digest, not its diff_id: a hostile config could name a popular
  // base layer's diff_id for other bytes.
  if (blob.selfVerifying !== undefined) return blob.digest === undefined ? undefined : `blob ${blob.digest}`;
  if (trusted && blob.diffId !== undefined) return `diff-id ${blob.diffId}`;
  if (trusted && blob.digest !== undefined) return `blob ${blob.digest}`;
  // Bare layers and an OCI directory's blobs are files of their own; any other layer lives inside the
  // archive file.
  const candidate = image.format === 'layers' ? blob.location : image.format === 'oci-dir' ? join(image.archive, blob.location) : image.archive;
  const info = await stat(candidate).catch(() => undefined);
  if (info?.isFile() === true) {
    return `file ${candidate} ${info.dev}:${info.ino} ${info.size} ${info.mtimeMs} ${blob.location} ${blob.size}`;
  }
  // Nothing names this stream reliably; caching it could serve a stale index.
  return undefined;
}

/**
 * `verify`: the stored blob must hash to its digest, and its tar stream to the config's diff_id. An
 * uncompressed blob is its own tar stream, so it is read once for both. A digest imgfs cannot compute
 * is EDIGEST: asked to verify, it never passes what it did not check.
 */
async function verifyLayer(blob: LayerBlob, content: ByteSource): Promise<void> {
  const checks: Array<{ expected: string | undefined; bytes: ByteSource; what: string }> = [
    // A self-verifying blob has checked its digest as it was first streamed.
    { expected: blob.selfVerifying === undefined ? blob.digest : undefined, bytes: blob.blob, what: 'blob digest' },
    { expected: blob.diffId, bytes: content, what: 'diff_id' },
  ];
  // By source and algorithm: an uncompressed blob is `content` too, and is read once.
  const known = new Map<ByteSource, Map<string, string>>();
  for (const { expected, bytes, what } of checks) {
    if (expected === undefined) continue;
    const hash = hashFor(expected, what);
    const algorithm = expected.slice(0, expected.indexOf(':'));
    const digests = known.get(bytes) ?? new Map<string, string>();
    known.set(bytes, digests);
    let actual = digests.get(algorithm);
    if (actual === undefined) {
      for await (const chunk of bytes.createReadStream()) hash.update(chunk as Buffer);
      actual = digestOf(hash, expected);
      digests.set(algorithm, actual);
    }
    assertDigest(actual, expected, what);
  }
}
