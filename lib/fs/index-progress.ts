import type { IndexProgress } from './types.js';

/**
 * `onProgress` for a whole image: layers are indexed in parallel (or lazily), so progress is the sum of
 * the stored bytes walked in each, reported while a layer is walked and not only once it is done.
 * Returns the per-layer callback, or undefined when nobody listens (walking then skips the counting).
 */
export function indexProgress(
  sizes: readonly number[],
  onProgress: ((progress: IndexProgress) => void) | undefined,
): ((layer: number) => (storedBytes: number) => void) | undefined {
  if (onProgress === undefined) return undefined;
  const bytesTotal = sizes.reduce((sum, size) => sum + size, 0);
  const walked = new Map<number, number>();
  return (layer) => (storedBytes) => {
    walked.set(layer, storedBytes);
    let bytesDone = 0;
    for (const done of walked.values()) bytesDone += done;
    onProgress({ layer, bytesDone, bytesTotal, layerBytesDone: storedBytes, layerBytesTotal: sizes[layer] ?? 0 });
  };
}
