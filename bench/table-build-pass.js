#!/usr/bin/env node
// What indexing the bench image's layers costs, cold and then warm, in one process: each pass walks
// the six layer tars of the docker-archive (top layer first, as a cold lookup of a bottom-layer file
// does) and builds their tables (`build`), or only walks their headers (`walk`). The first pass runs
// mostly in V8's interpreter and baseline code; later passes show the same work once the JIT has caught
// up. The main thread's own CPU (Node 23.9+) leaves out the compiler threads and GC helpers. `tar`: the table built as a cold lookup builds it (LayerTable.buildFromTar: plain members straight
// from their header bytes). CPU is the whole process's (V8's compiler threads and GC helpers included), in milliseconds.
//
//   npm run build && node bench/table-build-pass.js [build|walk|tar] [PASSES] [DIST]
//
// DIST: another build's dist/ directory (a copy of main's), to compare two builds pass for pass.

import { openSync, readSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [mode = 'build', passes = '3', dist = fileURLToPath(new URL('../dist', import.meta.url))] = process.argv.slice(2);
const image = fileURLToPath(new URL('out/images-v2/image-docker.tar', import.meta.url));
const { FileSource } = await import(`${dist}/source/file-source.js`);
const { SliceSource } = await import(`${dist}/source/slice-source.js`);
const { walkTarBatches } = await import(`${dist}/tar/walk-tar.js`);
const { LayerTable } = await import(`${dist}/table/layer-table.js`);

// The outer tar's first six members are the layer tars, bottom first.
const fd = openSync(image, 'r');
const block = Buffer.alloc(512);
const layers = [];
for (let at = 0; layers.length < 6; ) {
  readSync(fd, block, 0, 512, at);
  const size = parseInt(block.toString('latin1', 124, 136).trim(), 8);
  layers.push({ offset: at + 512, size });
  at += 512 + Math.ceil(size / 512) * 512;
}
layers.reverse();

const file = await FileSource.open(image);
const results = [];
for (let pass = 0; pass < Number(passes); pass++) {
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  const threadStart = process.threadCpuUsage?.();
  let members = 0;
  for (const { offset, size } of layers) {
    const source = new SliceSource(file, offset, size, 'layer');
    if (mode === 'walk') for await (const batch of walkTarBatches(source)) members += batch.length;
    else if (mode === 'tar') members += (await LayerTable.buildFromTar(source)).memberCount;
    else members += (await LayerTable.buildFromBatches(walkTarBatches(source))).memberCount;
  }
  const cpu = process.cpuUsage(cpuStart);
  const thread = threadStart === undefined ? undefined : process.threadCpuUsage(threadStart);
  const main = thread === undefined ? '' : ` (main thread ${((thread.user + thread.system) / 1000).toFixed(0)} ms)`;
  results.push(`${(performance.now() - wallStart).toFixed(1)} ms wall / ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU${main}`);
  if (pass === 0) console.log(`${mode}: ${members} members`);
}
await file.close();
console.log(results.map((result, pass) => `pass ${pass + 1}: ${result}`).join('\n'));
