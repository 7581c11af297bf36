import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type { ByteSource } from '../source/byte-source.js';
import { openDecompressed } from '../source/codec.js';
import { walkTar } from '../tar/walk-tar.js';
import { loadImage } from '../image/load-image.js';
import type { LayerBlob, LoadedImage } from '../image/loaded-image.js';
import { LayerIndex } from '../index/layer-index.js';
import { defaultCacheDir, IndexCache } from '../index/index-cache.js';
import { stat } from 'node:fs/promises';
import { MergedView } from '../merge/merged-view.js';
import { ImgfsError, isImgfsError } from '../errors.js';
import { ImageFileSystem, type OpenedLayer } from './image-file-system.js';
import type { ImageFS, OpenOptions } from './types.js';

/**
 * Opens an image where it lies — a `docker save` tarball, an OCI layout (directory or tar), or a list
 * of layer tars (bottom first) — and indexes its layers' tar headers. No byte is extracted: file
 * contents are read later, on demand, from the original archive.
 */
export async function openImage(source: string | string[], options: OpenOptions = {}): Promise<ImageFS> {
  const image = await loadImage(source, { ref: options.ref, platform: options.platform });
  const warn = options.onWarning ?? (() => {});
  const cache =
    options.cache === false ? undefined : new IndexCache(typeof options.cache === 'string' ? options.cache : defaultCacheDir(), warn);
  const openedSources: ByteSource[] = [];
  try {
    const bytesTotal = image.layers.reduce((sum, layer) => sum + layer.size, 0);
    let bytesDone = 0;
    const indexed = await Promise.all(
      image.layers.map(async (blob) => {
        const layer = await indexLayer(blob, image, options, cache, openedSources);
        bytesDone += blob.size;
        options.onProgress?.({ layer: blob.index, bytesDone, bytesTotal });
        return layer;
      }),
    );
    const view = new MergedView(
      indexed.map((layer) => layer.index),
      options.onWarning,
    );
    const release = async (): Promise<void> => {
      await Promise.allSettled(openedSources.map((opened) => opened.close()));
      await image.close();
    };
    return new ImageFileSystem(image.format, image.config, indexed, view, release);
  } catch (error) {
    await Promise.allSettled(openedSources.map((opened) => opened.close()));
    await image.close();
    throw error;
  }
}

async function indexLayer(
  blob: LayerBlob,
  image: LoadedImage,
  options: OpenOptions,
  cache: IndexCache | undefined,
  openedSources: ByteSource[],
): Promise<OpenedLayer & { index: LayerIndex }> {
  const where = { archive: blob.blob.name, member: blob.location, layer: { index: blob.index, digest: blob.digest } };
  try {
    const { source: content, compression } = await openDecompressed(blob.blob);
    if (content !== blob.blob) openedSources.push(content);
    const identity = cache === undefined ? undefined : await layerIdentity(blob, image);
    let index = identity === undefined ? undefined : await cache?.load(identity);
    if (index === undefined) {
      index = await LayerIndex.build(walkTar(content), { onWarning: options.onWarning, label: `layer ${blob.index}` });
      if (identity !== undefined) await cache?.store(identity, index);
    }
    if (options.verify === true) await verifyLayer(blob, content);
    return {
      index,
      content,
      info: {
        index: blob.index,
        // An uncompressed blob is its own tar stream: its digest is the diff_id.
        digest: blob.digest ?? (compression === 'none' ? blob.diffId : undefined),
        diffId: blob.diffId,
        mediaType: blob.mediaType,
        compression,
        size: blob.size,
        uncompressedSize: content.size ?? index.tarEnd,
        entries: index.memberCount,
        whiteouts: index.whiteoutCount,
        createdBy: blob.createdBy,
      },
    };
  } catch (error) {
    if (isImgfsError(error)) throw error.locate(where);
    throw new ImgfsError('EIMGFORMAT', `cannot index layer: ${(error as Error).message}`, { ...where, cause: error });
  }
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
  await pipeline(
    source.createReadStream(),
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done();
      },
    }),
  );
  return hash.digest('hex');
}
