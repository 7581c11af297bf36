#!/usr/bin/env node
// Remote rows of the benchmark: one-file lookups in a registry image (docker://), cold (empty index
// cache) and warm, for a top-layer and a bottom-layer file, side by side in one run with the peer: `skopeo
// copy` of the whole image to an OCI directory followed by the same lookup there. Time is the median
// of --reps runs (alternating imgfs and peer); bytes are counted at a proxy in front of the registry
// (the one the tests use), against the image's total size.
//
//   node --experimental-transform-types bench/remote-lookup.mts [--reps N]
//
// Needs docker-registry (distribution), skopeo, and the bench image (bench/make-images.js builds it).
// An .mts run by Node with its TypeScript transform: it reuses the registry and the counting proxy
// of the tests (test/registry/) rather than a copy of them.

import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultOutDir, makeImages } from './make-images.js';
import { FaultProxy } from '../test/registry/fault-proxy.ts';
import { pushImage, startRegistry } from '../test/registry/registry-server.ts';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const imgfsBin = join(root, 'bin', 'imgfs.js');
const repsAt = process.argv.indexOf('--reps');
const REPS = repsAt < 0 ? 3 : Math.max(1, Number(process.argv[repsAt + 1]));

interface Facts {
  ref: string;
  files: { bottom: string; top: string };
  layers: Array<{ gzipSize: number }>;
}

// The main benchmark's image, generated once for both (bench/out/images-v<generator version>).
const imagesDir = defaultOutDir();
const facts = (await makeImages(imagesDir)) as Facts;
const registry = await startRegistry();
const proxy = await FaultProxy.start(registry.port);
const scratch = mkdtempSync(join(tmpdir(), 'imgfs-bench-remote-'));

interface Sample {
  seconds: number;
  /** User + system CPU time of the command (GNU time), when measured. */
  cpu: number | undefined;
  bytes: number;
  requests: number;
}

const GNU_TIME = '/usr/bin/time';
const haveTime = ((): boolean => {
  try {
    accessSync(GNU_TIME, constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();

/**
 * Runs a command (asynchronously: the proxy answers in this process); returns seconds, CPU seconds
 * (GNU time, when installed) and the bytes the proxy sent (manifests, configs and blobs).
 */
async function run(command: string[]): Promise<Sample> {
  proxy.reset();
  const timeFile = join(scratch, 'time');
  const argv = haveTime ? [GNU_TIME, '-f', '%U %S', '-o', timeFile, ...command] : command;
  const started = process.hrtime.bigint();
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${command.join(' ')}: ${stderr}`);
  const bytes = proxy.log.reduce((sum, entry) => sum + entry.bytes, 0);
  let cpu: number | undefined;
  if (haveTime) {
    const [user, system] = (readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number);
    if (Number.isFinite(user) && Number.isFinite(system)) cpu = (user ?? 0) + (system ?? 0);
  }
  return { seconds, cpu, bytes, requests: proxy.log.length };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const cpuMedian = (samples: Sample[]): number | undefined => (samples.every((s) => s.cpu !== undefined) ? median(samples.map((s) => s.cpu as number)) : undefined);
const loadBefore = loadavg()[0] ?? 0;
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;

try {
  await pushImage(`oci:${join(imagesDir, 'oci-gzip')}:${facts.ref}`, registry.host, 'bench:latest');
  const name = `docker://${proxy.host}/bench:latest`;
  const imageBytes = facts.layers.reduce((sum, layer) => sum + layer.gzipSize, 0);
  const rows: string[] = [];
  for (const [which, path] of [['top-layer', facts.files.top], ['bottom-layer', facts.files.bottom]] as const) {
    const samples = { cold: [] as Sample[], warm: [] as Sample[], 'no-cache': [] as Sample[], peer: [] as Sample[] };
    for (let rep = 0; rep < REPS; rep++) {
      const cache = join(scratch, `cache-${which}-${rep}`);
      samples.cold.push(await run([process.execPath, imgfsBin, 'cat', '--cache-dir', cache, name, path]));
      samples.warm.push(await run([process.execPath, imgfsBin, 'cat', '--cache-dir', cache, name, path]));
      // As the peer's lookup: nothing cached, so no checkpoints recorded on the way.
      samples['no-cache'].push(await run([process.execPath, imgfsBin, 'cat', '--no-cache', name, path]));
      const copy = join(scratch, `copy-${which}-${rep}`);
      const started = process.hrtime.bigint();
      const copied = await run(['skopeo', 'copy', '-q', '--insecure-policy', '--src-tls-verify=false', name, `oci:${copy}:bench`]);
      const lookup = await run([process.execPath, imgfsBin, 'cat', '--no-cache', `oci:${copy}:bench`, path]);
      const cpu = copied.cpu === undefined || lookup.cpu === undefined ? undefined : copied.cpu + lookup.cpu;
      samples.peer.push({ seconds: Number(process.hrtime.bigint() - started) / 1e9, cpu, bytes: copied.bytes + lookup.bytes, requests: copied.requests });
      rmSync(copy, { recursive: true, force: true });
    }
    const peer = median(samples.peer.map((s) => s.seconds));
    const peerCpu = cpuMedian(samples.peer);
    for (const kind of ['cold', 'warm', 'no-cache'] as const) {
      const seconds = median(samples[kind].map((s) => s.seconds));
      const cpu = cpuMedian(samples[kind]);
      const bytes = median(samples[kind].map((s) => s.bytes));
      const requests = median(samples[kind].map((s) => s.requests));
      const cpus = cpu === undefined || peerCpu === undefined ? '— | —' : `${cpu.toFixed(2)} s / ${peerCpu.toFixed(2)} s | ${(peerCpu / cpu).toFixed(1)}×`;
      rows.push(
        `| ${which} file, ${kind === 'no-cache' ? '--no-cache' : `${kind} cache`} | ${seconds.toFixed(3)} s | ${peer.toFixed(3)} s | ${(peer / seconds).toFixed(1)}× faster | ${cpus} | ${mb(bytes)} in ${requests} requests | ${mb(median(samples.peer.map((s) => s.bytes)))} | ${((100 * bytes) / imageBytes).toFixed(1)}% of ${mb(imageBytes)} |`,
      );
    }
  }
  process.stdout.write(
    [
      `remote lookups (\`node --experimental-transform-types bench/remote-lookup.mts --reps ${REPS}\`), median of ${REPS}, registry on 127.0.0.1, load average ${loadBefore.toFixed(2)} before and ${(loadavg()[0] ?? 0).toFixed(2)} after; ratio = peer / imgfs:`,
      '',
      '| workload | imgfs cat docker:// | skopeo copy + cat | ratio | CPU imgfs / peer | CPU ratio | imgfs downloaded | peer downloaded | of the image |',
      '|---|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n'),
  );
} finally {
  await proxy.stop();
  await registry.stop();
  rmSync(scratch, { recursive: true, force: true });
}
