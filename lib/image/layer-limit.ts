import { ImgfsError } from '../errors.js';

/**
 * Layers accepted in one image by default: twice Docker's own limit (127, the deepest overlay stack it
 * builds or runs). Each layer costs a file handle (OCI directories, bare layers) and a decoder with its
 * buffers (compressed layers), so an image listing thousands of tiny layers is refused before any of
 * them is opened.
 */
export const DEFAULT_MAX_LAYERS = 256;

/** ELIMIT naming the option when an image lists more than `maxLayers` layers. */
export function checkLayerCount(count: number, maxLayers: number | undefined, where: { archive?: string | undefined; member?: string | undefined }): void {
  const limit = maxLayers ?? DEFAULT_MAX_LAYERS;
  if (count <= limit) return;
  throw new ImgfsError('ELIMIT', `the image has ${count} layers, more than maxLayers (${limit}); raise the limit with option maxLayers`, where);
}
