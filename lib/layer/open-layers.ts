import { DEFAULT_CACHE_BYTES, SPAN_SIZE } from '../source/decompressed-source.js';
import type { LoadedImage } from '../image/loaded-image.js';
import { fileHolding } from './cache-identity.js';
import { Layer, type LayerContext } from './layer.js';
import { TableWorkers } from './table-workers.js';

/**
 * Every layer of a loaded image, bottom first, opened (compression recognised) but not indexed. If one
 * cannot be opened, the others are closed again and its error is thrown.
 */
export async function openLayers(image: LoadedImage, context: Omit<LayerContext, 'cacheBytes' | 'holder'>): Promise<Layer[]> {
  const cacheBytes = layerCacheBytes(image.layers.length);
  // One image's layers share one worker; only an image of several layers can use it.
  const workers = image.layers.length > 1 ? new TableWorkers() : undefined;
  const opened = await Promise.allSettled(image.layers.map((blob) => Layer.open(blob, { ...context, cacheBytes, holder: fileHolding(blob, image), workers })));
  const layers = opened.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = opened.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    await Promise.allSettled(layers.map((layer) => layer.close()));
    throw failed.reason;
  }
  return layers;
}

/**
 * The decoded-span cache of each compressed layer: one image shares DEFAULT_CACHE_BYTES among its
 * layers, so that memory does not grow with the layer count (a hundred tiny gzip layers of zeros would
 * otherwise pin 64 MiB of decoded spans each).
 */
function layerCacheBytes(layers: number): number {
  const share = Math.floor(DEFAULT_CACHE_BYTES / Math.max(1, layers));
  return share - (share % SPAN_SIZE);
}
