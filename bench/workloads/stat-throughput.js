#!/usr/bin/env node
// Workload: `statSync` lookups per second on an opened image, for paths of five components
// (`/usr/lib/python3.11/json/decoder.py`), against the floor of the same lookups in a plain `Map`
// keyed by the same strings. Prints one JSON line.
//
//   node bench/workloads/stat-throughput.js IMAGE [CACHE_DIR]
//
// The image is opened once (from CACHE_DIR when given, so the index is warm), the paths are collected
// with walk(), and each side is timed over whole rounds of all paths until at least 1 s has passed.

import { fileURLToPath } from 'node:url';

const [image, cacheDir] = process.argv.slice(2);
if (image === undefined) {
  process.stderr.write('usage: stat-throughput.js IMAGE [CACHE_DIR]\n');
  process.exit(2);
}
const dist = new URL('../../dist/index.js', import.meta.url);
const { openImage } = await import(fileURLToPath(dist));

const openStarted = process.hrtime.bigint();
const fs = await openImage(image, { cache: cacheDir ?? false });
const openMs = Number(process.hrtime.bigint() - openStarted) / 1e6;

/** @type {string[]} */
const paths = [];
for await (const { path } of fs.walk('/')) {
  if (path.split('/').length === 6) paths.push(path);
}
if (paths.length === 0) throw new Error('no path with five components in the image');

const MIN_NS = 1_000_000_000n;

/** @param {(path: string) => { size: number } | undefined} lookup */
function rate(lookup) {
  let check = 0;
  for (const path of paths) check += lookup(path)?.size ?? 0; // warm-up round (JIT, caches)
  let sink = 0;
  let lookups = 0;
  const started = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < MIN_NS) {
    for (let i = 0; i < paths.length; i++) sink += lookup(/** @type {string} */ (paths[i]))?.size ?? 0;
    lookups += paths.length;
    elapsed = process.hrtime.bigint() - started;
  }
  return { perSecond: (lookups * 1e9) / Number(elapsed), check, sink };
}

const imgfs = rate((path) => fs.statSync(path));
const table = new Map(paths.map((path) => [path, fs.statSync(path)]));
const map = rate((path) => table.get(path));
await fs.close();
process.stdout.write(`${JSON.stringify({ paths: paths.length, openMs, imgfsPerSecond: imgfs.perSecond, mapPerSecond: map.perSecond, check: imgfs.check === map.check })}\n`);
