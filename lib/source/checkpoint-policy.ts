import type { CheckpointIndex } from './checkpoint-index.js';
import type { Checkpoint } from './inflater.js';

/**
 * When to record checkpoints, so that reads start near their offset instead of at the start of the
 * stream. Recording gzip costs about twice the time of native decoding (it runs pako); zstd records
 * for free and always does, unless 'off'.
 * - 'eager': from the first pass on (for a stream that is indexed once and read often, with the
 *   checkpoints persisted);
 * - 'lazy' (default): from the second time a read behind the cursor has to decode again what was
 *   decoded before. Read once front to back, or with one read behind the cursor (a one-shot
 *   `imgfs cat` without the cache), a stream costs what it did without checkpoints; after that,
 *   recording pays for itself (ski rental: at most about 3× the best choice made in hindsight);
 * - 'off': never; only the stream start and imported checkpoints.
 */
export type CheckpointPolicy = 'eager' | 'lazy' | 'off';

/**
 * Decompressed distance between two checkpoints recorded by the first pass. A read from a checkpoint
 * decodes at most this much before the span it wants, plus that span.
 */
export const DEFAULT_CHECKPOINT_SPACING = 2 * 1024 * 1024;

export function checkPolicy(policy: CheckpointPolicy): CheckpointPolicy {
  if (!['eager', 'lazy', 'off'].includes(policy)) throw new RangeError(`checkpoints must be eager, lazy or off, got ${String(policy)}`);
  return policy;
}

/**
 * Whether a decoder about to start at `from` records checkpoints: only the one that starts at the last
 * checkpoint known gets past it, and only as the policy says. `decoders` counts the decoders started
 * for the stream, this one included.
 */
export function shouldRecord(policy: CheckpointPolicy, known: CheckpointIndex, from: Checkpoint, recordsFreely: boolean, decoders: number): boolean {
  if (policy === 'off' || known.complete || !known.isLast(from)) return false;
  if (policy === 'eager' || recordsFreely) return true;
  return decoders > 2; // lazy: the first pass and the first restart do not record
}
