/**
 * How far apart a mounted image's compressed layers record checkpoints. A mount reads a layer in
 * directory order, not archive order, and the kernel may drop any page it cached and ask for it again
 * later (this machine's DAMON does, within seconds): each such read decodes from the checkpoint before
 * it (DecompressedSource's `readBehind`). With the default 2 MiB spacing that is often a span or more
 * of gzip per page asked for; at 512 KiB it is about 300 KiB. Each checkpoint keeps its 32 KiB window
 * packed (about 16 KiB), so they cost about 3% of the decoded size; a layer that stores more than
 * 128 MiB gets a wider spacing, so that its checkpoints stay near 1024 (about 16 MiB) for ratios up to 4.
 */
import type { LayerInfo } from '../fs/types.js';

export const CLOSE_CHECKPOINT_SPACING = 512 * 1024;
/** Checkpoints one layer may get, counting decoded bytes as four times the stored ones. */
const MAX_CHECKPOINTS_PER_LAYER = 1024;
const ASSUMED_RATIO = 4;

export function closeCheckpointSpacing(layer: LayerInfo): number {
  return Math.max(CLOSE_CHECKPOINT_SPACING, Math.ceil((layer.size * ASSUMED_RATIO) / MAX_CHECKPOINTS_PER_LAYER));
}
