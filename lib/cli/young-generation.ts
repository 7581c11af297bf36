import { setV8FlagForThisRun } from './v8-flags.js';

/**
 * V8 doubles its young generation each time objects survive a scavenge, up to 2 × 16 MiB plus the
 * headroom that follows; a walk over a million entries keeps it at the top. Kept at its starting size
 * instead, a cold `find` of 1 M entries peaks ~30 % lower at about the same CPU (bench/README.md,
 * "Scale"). Set from inside the process (no re-exec, which would cost a second Node start-up), and
 * only once there is a walk to tune: loading node:v8 costs ~2 ms, a tenth of a warm lookup's budget.
 */
let kept = false;

/** Keeps the young generation at its starting size from now on (idempotent). */
export function keepYoungGenerationSmall(): void {
  if (kept) return;
  kept = true;
  // V8's default growth factor is 2 (Node 22.15 and 24); it is put back before the code cache is written.
  setV8FlagForThisRun('semi-space-growth-factor', '1', '2');
}
