#!/usr/bin/env node
// Workload: random access into one large gzip layer (issue "speed", part 3). Prints one JSON line.
//
//   node bench/workloads/gzip-random-read.js [--size MB] [--spacing MiB] [--reads N] [--level L] [LAYER.gz]
//
// Without LAYER.gz it writes a deterministic ~200 MB layer-like stream (text, random and half-zero
// binary stretches, gzip level 6 like `docker push`) to a temporary file. It measures, on the same file:
//   - gunzipMs: node:zlib Gunzip over the whole file, the floor for any first pass;
//   - firstPassNative* / firstPassRecording*: a first pass through DecompressedSource (one read per
//     64 KiB, like the tar walker) without and with checkpoint recording (pako, in a worker thread
//     when the build has one), wall and CPU time of all threads;
//   - endReadBeforeMs: a 4 KiB read at the end in a fresh source without checkpoints (today's cost for
//     a process whose layer index came from the cache), and endReadAfterMs the same read in a fresh
//     source that imported the checkpoints of the first pass, with the bytes it inflated;
//   - randomRead*: N random 4 KiB reads after the first pass, span cache off, from checkpoints.
// Uses the built library (dist/; `npm run build` first), or the directory in $IMGFS_DIST.

import { createCipheriv } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { createGunzip, gzipSync } from 'node:zlib';

const args = process.argv.slice(2);
/** @param {string} name @param {number} fallback */
function option(name, fallback) {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args.splice(at, 2)[1]);
  if (!Number.isFinite(value)) throw new Error(`${name} needs a number`);
  return value;
}
const sizeMB = option('--size', 200);
const spacingMiB = option('--spacing', 0);
const reads = option('--reads', 50);
const level = option('--level', 6);
const given = args[0];

const distDir = process.env.IMGFS_DIST ?? fileURLToPath(new URL('../../dist', import.meta.url));
const lib = (/** @type {string} */ path) => import(pathToFileURL(join(distDir, path)).href);
const { DecompressedSource } = await lib('source/decompressed-source.js');
const { FileSource } = await lib('source/file-source.js');
const { gzipInflater } = await lib('source/gzip-inflater.js');

const MiB = 1024 * 1024;

/** Deterministic layer-like bytes: 64 KiB stretches of text (60%), random (25%), half-zero binary. */
function layerBytes(size) {
  const out = Buffer.alloc(size);
  const key = Buffer.alloc(32, 7);
  const noise = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
  const words = ['usr', 'lib', 'share', 'python3', 'def ', 'return ', 'self.', '\n    ', 'import ', ' = ', '(', ')', 'value', 'x86_64', '#include <', '>\n', '0000644', 'root'];
  const STRETCH = 64 * 1024;
  for (let at = 0, n = 0; at < size; at += STRETCH, n += 1) {
    const end = Math.min(size, at + STRETCH);
    const kind = (noise[at] ?? 0) % 20;
    if (kind < 12) {
      let i = at;
      let k = at;
      while (i < end) {
        const word = words[(noise[k++ % size] ?? 0) % words.length] ?? ' ';
        i += out.write(word, i, end - i, 'latin1');
      }
    } else if (kind < 17) {
      noise.copy(out, at, at, end);
    } else {
      noise.copy(out, at, at, at + ((end - at) >> 1));
    }
  }
  return out;
}

function ms(start) {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function gunzipAll(path) {
  const start = process.hrtime.bigint();
  let total = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 }).pipe(createGunzip({ chunkSize: 64 * 1024 }))) total += chunk.length;
  return { ms: ms(start), total };
}

async function openSource(path, options) {
  const file = await FileSource.open(path, 'layer.gz');
  return { file, source: new DecompressedSource(file, gzipInflater, options) };
}

/** One read per 64 KiB to the end, like the tar walker reading headers: wall and CPU time (all threads). */
async function firstPass(source) {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  let offset = 0;
  for (;;) {
    const got = await source.read(offset, 512);
    if (got.length < 512) break;
    offset += 64 * 1024;
  }
  const used = process.cpuUsage(cpu);
  return { ms: ms(start), cpuMs: (used.user + used.system) / 1000 };
}

const dir = await mkdtemp(join(tmpdir(), 'imgfs-gzip-random-'));
try {
  let path = given;
  if (path === undefined) {
    path = join(dir, 'layer.gz');
    await writeFile(path, gzipSync(layerBytes(Math.round(sizeMB * 1e6)), { level }));
  }
  const handle = await open(path);
  const compressedSize = (await handle.stat()).size;
  await handle.close();
  const spacing = spacingMiB > 0 ? { checkpointSpacing: Math.round(spacingMiB * MiB) } : {};

  const reference = await gunzipAll(path);
  const size = reference.total;

  const native = await openSource(path, { checkpoints: 'off' });
  const firstPassNative = await firstPass(native.source);
  await native.source.close();
  await native.file.close();

  const recording = await openSource(path, { ...spacing, checkpoints: 'eager', cacheBytes: 0 });
  const firstPassRecording = await firstPass(recording.source);
  const exported = recording.source.exportCheckpoints();
  const { checkpoints, checkpointBytes } = recording.source.stats;

  // Random 4 KiB reads after the first pass, span cache off: each decodes from its checkpoint.
  const samples = [];
  let inflated = 0;
  let x = 12345;
  for (let i = 0; i < reads; i += 1) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const offset = Math.floor((x / 2147483648) * (size - 4096));
    const before = recording.source.stats.inflatedBytes;
    const start = process.hrtime.bigint();
    await recording.source.read(offset, 4096);
    samples.push(ms(start));
    inflated += recording.source.stats.inflatedBytes - before;
  }
  await recording.source.close();
  await recording.file.close();
  samples.sort((a, b) => a - b);

  const cold = await openSource(path, { checkpoints: 'off' });
  let start = process.hrtime.bigint();
  await cold.source.read(size - 4096, 4096);
  const endReadBeforeMs = ms(start);
  await cold.source.close();
  await cold.file.close();

  const warm = await openSource(path, {});
  start = process.hrtime.bigint();
  warm.source.importCheckpoints(exported);
  const importMs = ms(start);
  start = process.hrtime.bigint();
  await warm.source.read(size - 4096, 4096);
  const endReadAfterMs = ms(start);
  const endReadAfterInflated = warm.source.stats.inflatedBytes;
  await warm.source.close();
  await warm.file.close();

  process.stdout.write(
    `${JSON.stringify({
      compressedBytes: compressedSize,
      decompressedBytes: size,
      spacing: spacing.checkpointSpacing ?? 'default',
      gunzipMs: Math.round(reference.ms),
      firstPassNativeMs: Math.round(firstPassNative.ms),
      firstPassNativeCpuMs: Math.round(firstPassNative.cpuMs),
      firstPassRecordingMs: Math.round(firstPassRecording.ms),
      firstPassRecordingCpuMs: Math.round(firstPassRecording.cpuMs),
      checkpoints,
      checkpointBytes,
      exportBytes: exported.length,
      importMs: Math.round(importMs * 10) / 10,
      endReadBeforeMs: Math.round(endReadBeforeMs),
      endReadAfterMs: Math.round(endReadAfterMs * 10) / 10,
      endReadAfterInflated,
      randomReadMedianMs: Math.round((samples[samples.length >> 1] ?? 0) * 10) / 10,
      randomReadP90Ms: Math.round((samples[Math.floor(samples.length * 0.9)] ?? 0) * 10) / 10,
      randomReadMeanInflated: Math.round(inflated / Math.max(1, reads)),
    })}\n`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
