import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { ByteSource } from '../source/byte-source.js';
import { openDecompressed, type Compression } from '../source/codec.js';
import { walkTar } from '../tar/walk-tar.js';
import { loadImage } from '../image/load-image.js';
import type { LayerBlob, LoadedImage } from '../image/loaded-image.js';
import { LayerIndex } from '../index/layer-index.js';
import { defaultCacheDir, IndexCache } from '../index/index-cache.js';
import { MergedView } from '../merge/merged-view.js';
import { ImgfsError, isImgfsError } from '../errors.js';
import { ImageFileSystem, type LayerSlot } from './image-file-system.js';
import type { ImageFS, LayerInfo, OpenOptions } from './types.js';

/**
 * Opens an image where it lies — a `docker save` tarball, an OCI layout (directory or tar), or a list
 * of layer tars (bottom first) — and indexes its layers' tar headers: all of them now, or with
 * `lazy`, each one the first time a question reaches it, from the top down. No byte is extracted:
 * file contents are read later, on demand, from the original archive.
 */
export async function openImage(source: string | string[], options: OpenOptions = {}): Promise<ImageFS> {
  const image = await loadImage(source, { ref: options.ref, platform: options.platform });
  const warn = options.onWarning ?? (() => {});
  const cache =
    options.cache === false ? undefined : new IndexCache(typeof options.cache === 'string' ? options.cache : defaultCacheDir(), warn);
  const openedSources: ByteSource[] = [];
  const release = async (): Promise<void> => {
    await Promise.allSettled(openedSources.map((opened) => opened.close()));
    await image.close();
  };
  try {
    const slots = await Promise.all(image.layers.map((blob) => openLayer(blob, options, openedSources)));
    const bytesTotal = image.layers.reduce((sum, layer) => sum + layer.size, 0);
    let bytesDone = 0;
    const load = async (slot: LayerSlot): Promise<LayerIndex> => {
      const index = await indexLayer(slot, image, options, cache);
      bytesDone += slot.blob.size;
      options.onProgress?.({ layer: slot.blob.index, bytesDone, bytesTotal });
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

/** Sniffs a layer's compression and prepares its decompressed view; nothing is indexed yet. */
async function openLayer(blob: LayerBlob, options: OpenOptions, openedSources: ByteSource[]): Promise<LayerSlot> {
  try {
    const maxRatio = options.limits?.maxRatio;
    const { source: content, compression } = await openDecompressed(blob.blob, maxRatio === undefined ? {} : { maxRatio });
    if (content !== blob.blob) openedSources.push(content);
    return { blob, content, info: describeLayer(blob, compression) };
  } catch (error) {
    throw locateLayerError(error, blob);
  }
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
async function indexLayer(slot: LayerSlot, image: LoadedImage, options: OpenOptions, cache: IndexCache | undefined): Promise<LayerIndex> {
  const { blob, content, info } = slot;
  try {
    const identity = cache === undefined ? undefined : await layerIdentity(blob, image);
    let index = identity === undefined ? undefined : await cache?.load(identity);
    if (index === undefined) {
      const { maxEntries, maxPaxSize, maxNameLength } = options.limits ?? {};
      index = await LayerIndex.build(walkTar(content, { maxPaxSize, maxNameLength }), {
        maxEntries,
        onWarning: options.onWarning,
        label: `layer ${blob.index}`,
      });
      if (identity !== undefined) await cache?.store(identity, index);
    }
    if (options.verify === true) await verifyLayer(blob, content);
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

/**
 * What names a layer's tar stream for the index cache: its uncompressed digest (or the blob's) when the
 * image states one, else the identity of the file holding it, so that a replaced file is a miss.
 */
async function layerIdentity(blob: LayerBlob, image: LoadedImage): Promise<string | undefined> {
  if (blob.diffId !== undefined) return `diff-id ${blob.diffId}`;
  if (blob.digest !== undefined) return `blob ${blob.digest}`;
  // Bare layers are files of their own; any other layer lives inside the archive file.
  for (const candidate of image.format === 'layers' ? [blob.location] : [image.archive]) {
    const info = await stat(candidate).catch(() => undefined);
    if (info?.isFile() === true) {
      return `file ${candidate} ${info.dev}:${info.ino} ${info.size} ${info.mtimeMs} ${blob.location} ${blob.size}`;
    }
  }
  // Nothing names this stream reliably; caching it could serve a stale index.
  return undefined;
}

/** `verify`: the stored blob must hash to its digest, and its tar stream to the config's diff_id. */
async function verifyLayer(blob: LayerBlob, content: ByteSource): Promise<void> {
  const checks: Array<[string | undefined, ByteSource, string]> = [
    [blob.digest, blob.blob, 'blob digest'],
    [blob.diffId, content, 'diff_id'],
  ];
  for (const [expected, bytes, what] of checks) {
    if (expected === undefined || !expected.startsWith('sha256:')) continue;
    const actual = `sha256:${await sha256Of(bytes)}`;
    if (actual !== expected) {
      throw new ImgfsError('EDIGEST', `${what} mismatch: expected ${expected}, content hashes to ${actual}`);
    }
  }
}

async function sha256Of(source: ByteSource): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of source.createReadStream()) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
