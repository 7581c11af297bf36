import { loadImage } from '../image/load-image.js';
import { registryOptions } from './registry-options.js';
import { openLayers } from '../layer/open-layers.js';
import { MergedView } from '../merge/merged-view.js';
import { defaultCacheDir, TableCache } from '../table/table-cache.js';
import { resolveLimits } from '../limits.js';
import { warningSink } from '../warnings.js';
import { ImageFileSystem } from './image-file-system.js';
import { indexProgress } from './index-progress.js';
import type { ImageFS, OpenOptions } from './types.js';

/**
 * Opens an image where it lies — a `docker save` tarball, an OCI layout (directory or tar), or a list
 * of layer tars (bottom first) — and indexes its layers: all of them now, or with `lazy`, each one the
 * first time a question reaches it, from the top down. No byte is extracted: file contents are read
 * later, on demand, from the original archive. This is only the wiring: the image format gives the
 * layers (lib/image), each Layer gives its table and bytes (lib/layer), the merge (lib/merge) gives
 * the view that ImageFileSystem serves.
 */
export async function openImage(source: string | string[], options: OpenOptions = {}): Promise<ImageFS> {
  const limits = resolveLimits(options.limits);
  const warn = warningSink(options.onWarning, options.strict === true);
  const cacheDir = options.cache === false ? undefined : typeof options.cache === 'string' ? options.cache : defaultCacheDir();
  const cache = cacheDir === undefined ? undefined : new TableCache(cacheDir, warn);
  const image = await loadImage(source, { ref: options.ref, platform: options.platform, verify: options.verify, limits, members: cache, ...registryOptions(options) });
  const layers = await openLayers(image, { cache, verify: options.verify === true, limits, warn }).catch(async (error: unknown) => {
    await image.close();
    throw error;
  });
  const release = async (): Promise<void> => {
    await Promise.allSettled(layers.map((layer) => layer.close()));
    await image.close();
  };
  const progress = indexProgress(
    layers.map((layer) => layer.info.size),
    options.onProgress,
  );
  const view = new MergedView(
    layers.map(() => undefined),
    warn,
  );
  const fs = new ImageFileSystem(image.format, image.config, layers, view, (layer, digests) => layer.index(progress?.(layer.info.index), digests), release);
  if (options.lazy !== true) {
    try {
      await fs.indexAll();
    } catch (error) {
      await fs.close();
      throw error;
    }
  }
  return fs;
}
