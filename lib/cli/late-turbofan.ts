import { setV8FlagForThisRun } from './v8-flags.js';

/**
 * V8 hands a hot function to TurboFan, its slowest and best compiler, after about 10 000 calls on
 * Node 24 (Maglev, the quick optimiser, takes it at 400). A cold lookup walks some 10 000–20 000 tar
 * members in 0.1–0.3 s: the per-member functions get there early, and TurboFan then spends tens of
 * milliseconds of CPU on V8's worker threads, on two cores the walk and the decoders need, for code the
 * run hardly uses before it ends (bench/README.md, "zstd-cold2"). Three times later, a walk over a
 * million members still gets its hot functions TurboFan-compiled within its first few percent.
 */
let set = false;

/**
 * The threshold as a start has it: V8 13 (Node 24) raises its declared default, 3 000, to 10 000 when
 * Maglev runs (a weak implication of `--maglev`), and puts that value in the flag hash it stamps code
 * caches with; restored to anything else, the code cache written after the run would be refused.
 */
const STARTING_THRESHOLD = '10000';

/** Node flags after which the starting threshold is not known: left alone then. */
const TIERING_FLAG = /^--(no-)?(maglev|turbofan|invocation-count)/;

/**
 * Raises TurboFan's call count threshold to 30 000 for the rest of this run (idempotent). Only on
 * Node 24: Node 22's V8 runs without Maglev (TurboFan is its only optimiser), and a later V8 may start
 * from another threshold, which restoring STARTING_THRESHOLD would then change. Not when the user gave
 * V8 tiering flags.
 */
export function tierUpToTurbofanLater(): void {
  if (set) return;
  set = true;
  if (Number(process.versions.node.split('.')[0]) !== 24) return;
  if (process.execArgv.some((arg) => TIERING_FLAG.test(arg.replaceAll('_', '-')))) return;
  // Put back (to STARTING_THRESHOLD) before the code cache is written.
  setV8FlagForThisRun('invocation-count-for-turbofan', '30000', STARTING_THRESHOLD);
}
