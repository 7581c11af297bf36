import { ImgfsError } from '../errors.js';
import { LIMITS } from '../limits.js';

/** Layers accepted in one image by default (the table of limits, lib/limits.ts, says why). */
export const DEFAULT_MAX_LAYERS = LIMITS.maxLayers.default;

/** ELIMIT naming the option when an image lists more than `maxLayers` layers. */
export function checkLayerCount(count: number, maxLayers: number | undefined, where: { archive?: string | undefined; member?: string | undefined }): void {
  const limit = maxLayers ?? DEFAULT_MAX_LAYERS;
  if (count <= limit) return;
  throw new ImgfsError('ELIMIT', `the image has ${count} layers, more than maxLayers (${limit}); raise the limit with option maxLayers`, where);
}
