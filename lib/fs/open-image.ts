import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteSource } from '../source/byte-source.js';
import { openDecompressed, type Compression } from '../source/codec.js';
import { DEFAULT_CACHE_BYTES, DecompressedSource, SPAN_SIZE } from '../source/decompressed-source.js';
import { walkTar } from '../tar/walk-tar.js';
import type { TarEntry } from '../tar/tar-entry.js';
import { assertDigest, digestOf, hashFor } from '../image/digest.js';
import { loadImage } from '../image/load-image.js';
import type { LayerBlob, LoadedImage } from '../image/loaded-image.js';
import { LayerTable } from '../table/layer-table.js';
import { defaultCacheDir, TableCache } from '../table/table-cache.js';
import { MergedView } from '../merge/merged-view.js';
import { ImgfsError, isImgfsError } from '../errors.js';
import { ImageFileSystem, type LayerSlot } from './image-file-system.js';
import { TocLayer } from '../toc/toc-layer.js';
import { withoutTocMetadata } from '../toc/toc-metadata.js';
import { verifyTocAgainstTar } from '../toc/verify-toc.js';
import { UNCOMPRESSED_SIZE_ANNOTATION } from '../toc/estargz-footer.js';
import type { ImageFS, LayerInfo, OpenLimits, OpenOptions, TocFormat } from './types.js';

/**
 * Opens an image where it lies — a `docker save` tarball, an OCI layout (directory or tar), or a list
 * of layer tars (bottom first) — and indexes its layers' tar headers: all of them now, or with
 * `lazy`, each one the first time a question reaches it, from the top down. No byte is extracted:
 * file contents are read later, on demand, from the original archive.
 */
export async function openImage(source: string | string[], options: OpenOptions = {}): Promise<ImageFS> {
  checkLimits(options.limits);
  const image = await loadImage(source, { ref: options.ref, platform: options.platform, verify: options.verify, limits: options.limits });
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
    const slots = await Promise.all(image.layers.map((blob) => openLayer(blob, options, cacheBytes, openedSources, warn)));
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

/**
 * Sniffs a layer's compression and prepares its decompressed view; nothing is indexed yet. A layer
 * whose footer announces a table of contents (zstd:chunked, eStargz) is read through it: one read of
 * the footer, one of the TOC. A TOC that cannot be used leaves the layer to a plain pass, with a warning.
 */
async function openLayer(
  blob: LayerBlob,
  options: OpenOptions,
  cacheBytes: number,
  openedSources: ByteSource[],
  warn: (message: string) => void,
): Promise<LayerSlot> {
  try {
    const maxRatio = options.limits?.maxRatio;
    const { source: content, compression } = await openDecompressed(blob.blob, maxRatio === undefined ? { cacheBytes } : { maxRatio, cacheBytes });
    if (content !== blob.blob) openedSources.push(content);
    const opening = await TocLayer.open(blob.blob, blob.size, blob.annotations ?? {}, { maxTocSize: options.limits?.maxTocSize });
    const { layer: toc, format: tocFormat, problem } = opening;
    if (problem !== undefined) warn(`${locateLayerError(problem, blob).message}; reading the layer as a plain ${compression} stream`);
    if (toc === undefined) return { blob, content, info: describeLayer(blob, compression), tocFormat };
    openedSources.push(toc.content);
    const info = describeLayer(blob, toc.format);
    return { blob, content: toc.content, info, toc, tarStream: content, tocFormat: toc.format };
  } catch (error) {
    throw locateLayerError(error, blob);
  }
}

function describeLayer(blob: LayerBlob, compression: Compression | TocFormat): LayerInfo {
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
  const { blob, content, info, toc } = slot;
  if (toc !== undefined) return indexTocLayer(slot, toc, image, options, cache);
  try {
    // Digests the image states are cache keys only once `verify` proves them (see layerIdentity).
    const trusted = options.verify === true;
    const identity = cache === undefined ? undefined : await layerIdentity(blob, image, trusted);
    let index = identity === undefined ? undefined : await cache?.load(identity);
    const checkpoints = cache === undefined ? undefined : await useCachedCheckpoints(content, blob, image, cache, trusted);
    if (index === undefined) {
      // Checkpoints recorded during this first pass are kept with the index: later reads start near
      // their offset instead of decoding the compressed layer from its start.
      if (checkpoints !== undefined) checkpoints.source.checkpointPolicy = 'eager';
      const { maxEntries, maxPaxSize, maxNameLength } = options.limits ?? {};
      // A layer that announces a TOC format keeps that format's metadata members out of sight.
      const walked = walkTar(content, { maxPaxSize, maxNameLength });
      const members = slot.tocFormat === undefined ? walked : withoutTocMetadata(walked);
      index = await LayerTable.build(options.onProgress === undefined ? members : reportWalked(members, slot, onWalked), {
        maxEntries,
        onWarning: options.onWarning,
        label: `layer ${blob.index}`,
      });
      // Verified before anything is cached: a layer that fails its digests leaves nothing behind.
      if (trusted) await verifyLayer(blob, content);
      if (identity !== undefined) await cache?.store(identity, index);
      if (checkpoints !== undefined && checkpoints.source.stats.checkpointsRecorded > 0) {
        await cache?.storeExtra(checkpoints.identity, CHECKPOINT_SUFFIX, checkpoints.source.exportCheckpoints());
      }
    } else if (trusted) {
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

/**
 * A TOC layer's table, from the index cache or from the TOC. Its offsets address the TOC's data space
 * (lib/toc/toc-layout.ts), not the tar stream, so it is cached under its own key and never mixed with
 * a plain pass's table. `verify` also walks the tar stream and holds every TOC entry against it.
 */
async function indexTocLayer(slot: LayerSlot, toc: TocLayer, image: LoadedImage, options: OpenOptions, cache: TableCache | undefined): Promise<LayerTable> {
  const { blob, info } = slot;
  try {
    const trusted = options.verify === true;
    const base = cache === undefined ? undefined : await layerIdentity(blob, image, trusted);
    const identity = base === undefined ? undefined : `${base} toc ${toc.format} ${toc.toc.checkedDigest ?? ''}`;
    let index = identity === undefined ? undefined : await cache?.load(identity);
    if (index === undefined) {
      index = await toc.table({ maxEntries: options.limits?.maxEntries, onWarning: options.onWarning, label: `layer ${blob.index}` });
      if (trusted) await verifyTocLayer(slot, toc, options);
      if (identity !== undefined) await cache?.store(identity, index);
    } else if (trusted) {
      await verifyTocLayer(slot, toc, options);
    }
    const stated = Number(blob.annotations?.[UNCOMPRESSED_SIZE_ANNOTATION]);
    info.uncompressedSize = toc.tarSize ?? (Number.isSafeInteger(stated) && stated > 0 ? stated : undefined);
    info.entries = index.memberCount;
    info.whiteouts = index.whiteoutCount;
    return index;
  } catch (error) {
    throw locateLayerError(error, blob);
  }
}

/** `verify` for a TOC layer: the blob and diff_id digests, then the TOC against the tar stream. */
async function verifyTocLayer(slot: LayerSlot, toc: TocLayer, options: OpenOptions): Promise<void> {
  const tarStream = slot.tarStream ?? slot.content;
  await verifyLayer(slot.blob, tarStream);
  const { maxPaxSize, maxNameLength } = options.limits ?? {};
  await verifyTocAgainstTar(toc, walkTar(tarStream, { maxPaxSize, maxNameLength }), tarStream);
}

/** Every problem met while opening or indexing a layer names the archive, the member and the layer. */
function locateLayerError(error: unknown, blob: LayerBlob): ImgfsError {
  const where = { archive: blob.blob.name, member: blob.location, layer: { index: blob.index, digest: blob.digest } };
  if (isImgfsError(error)) return error.locate(where);
  return new ImgfsError('EIMGFORMAT', `cannot index layer: ${(error as Error).message}`, { ...where, cause: error });
}

const CHECKPOINT_SUFFIX = 'ckpt';

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
    { expected: blob.digest, bytes: blob.blob, what: 'blob digest' },
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
