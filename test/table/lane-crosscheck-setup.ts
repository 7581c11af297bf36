/**
 * Opt-in cross-check (test/table/lane-crosscheck.config.ts): every table any test builds with
 * `LayerTable.buildFromTar` (the plain-member lane) is built again by the general path
 * (`walkTarBatches` into `buildFromBatches`) from the same source, and the two must give the same
 * index file bytes, warnings and error, or the build throws. Run over the suites that open real and
 * hostile images (GNU tar, umoci, skopeo and Go-written layers; cut, damaged and mutated ones):
 *
 *   npx vitest run --config test/table/lane-crosscheck.config.ts test/hostile test/conformance ...
 *
 * Each comparison is counted in LANE_CROSSCHECK_LOG (when set), so a run shows how many tables it held.
 * The lane runs with its WebAssembly kernel when it is built (dist/, `npm run build`), as the CLI does.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { afterAll } from 'vitest';
import { isImgfsError } from '../../lib/errors.js';
import { LayerTable, type TarTableOptions } from '../../lib/table/layer-table.js';
import { usePlainKernel } from '../../lib/table/plain-member-kernel.js';
import { encodeSnapshot } from '../../lib/table/snapshot-codec.js';
import { walkTarBatches, type TarBytes } from '../../lib/tar/walk-tar.js';
import type { ImgfsWarning } from '../../lib/warnings.js';

interface Built {
  table?: LayerTable;
  error?: unknown;
  warnings: ImgfsWarning[];
}

const KERNEL_FILE = 'dist/table/plain-member-kernel.wasm';
if (existsSync(KERNEL_FILE)) usePlainKernel(readFileSync(KERNEL_FILE));

const laneBuild = LayerTable.buildFromTar.bind(LayerTable);

/** Tables found the same in this test file; told to the log after it (a test may spy on writes while it runs). */
let checked = 0;
afterAll(() => {
  const log = process.env.LANE_CROSSCHECK_LOG;
  if (log !== undefined && checked > 0) appendFileSync(log, `${checked}\n`);
  checked = 0;
});

async function built(build: (onWarning: (warning: ImgfsWarning) => void) => Promise<LayerTable>): Promise<Built> {
  const warnings: ImgfsWarning[] = [];
  try {
    return { table: await build((warning) => warnings.push(warning)), warnings };
  } catch (error) {
    return { error, warnings };
  }
}

/** What must agree: the index bytes, or the error's fields; and the warnings. */
function outcome({ table, error, warnings }: Built): string {
  const failure = isImgfsError(error) ? { code: error.code, reason: error.reason, archive: error.archive, member: error.member, layer: error.layer, offset: error.offset } : error === undefined ? undefined : String(error);
  return JSON.stringify({ snapshot: table === undefined ? undefined : encodeSnapshot(table.snapshot()).toString('base64'), failure, warnings });
}

LayerTable.buildFromTar = async (source: TarBytes, options: TarTableOptions = {}): Promise<LayerTable> => {
  const { maxPaxSize, maxNameLength, stats: _stats, onDataOffset: _progress, onWarning, ...index } = options;
  const walk = { ...(maxPaxSize === undefined ? {} : { maxPaxSize }), ...(maxNameLength === undefined ? {} : { maxNameLength }) };
  const general = await built((warn) => LayerTable.buildFromBatches(walkTarBatches(source, walk), { ...index, onWarning: warn }));
  const lane = await built((warn) => laneBuild(source, { ...options, onWarning: warn }));
  const same = outcome(general) === outcome(lane);
  if (same) checked++;
  if (!same) throw new Error(`plain-member lane and general path differ on ${source.name}:\n${outcome(lane)}\n${outcome(general)}`);
  for (const warning of lane.warnings) onWarning?.(warning);
  if (lane.table === undefined) throw lane.error;
  return lane.table;
};
