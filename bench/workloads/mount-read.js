#!/usr/bin/env node
// Workload: reading a whole image through `imgfs mount`, against the same reads of umoci's unpacked
// rootfs, directly and through bindfs (a C passthrough FUSE filesystem: the floor for any FUSE
// filesystem), and against `imgfs scan --hash sha256`. Also the time from starting `imgfs mount` to
// the kernel listing the mount, and the bytes the mount process wrote to disk. Prints one JSON line.
//
//   node bench/workloads/mount-read.js IMAGE OCI_DIR REF SCRATCH [REPS]
//
// IMAGE is what imgfs mounts (any format); OCI_DIR:REF is the same image as an OCI layout, which
// umoci unpacks for the peers (and which imgfs opens with --ref when IMAGE is OCI_DIR itself).
// Needs root, /dev/fuse, the fuse-napi binding, umoci and bindfs. Each rep mounts afresh, so the
// first read of each tool finds the kernel's caches for the mount empty (the archive and the
// unpacked files are in the page cache on every side); the second read right after is served by the
// kernel's caches.

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { haveGnuTime, measure, median } from '../lib/measure.js';

const [image, ociDir, ref, scratch, repsText] = process.argv.slice(2);
if (image === undefined || ociDir === undefined || ref === undefined || scratch === undefined) {
  process.stderr.write('usage: mount-read.js IMAGE OCI_DIR REF SCRATCH [REPS]\n');
  process.exit(2);
}
const REPS = Math.max(1, Number(repsText ?? 3));
/** The readers' CPU time comes from GNU time, where it is there. */
const timed = { rss: haveGnuTime() };
const imgfsBin = fileURLToPath(new URL('../../bin/imgfs.js', import.meta.url));
const refArgs = image === ociDir ? ['--ref', ref] : [];

const TOOLS = {
  tar: (/** @type {string} */ dir) => `tar -cf - -C '${dir}' . | wc -c`,
  sha256: (/** @type {string} */ dir) => `cd '${dir}' && find . -type f -print0 | xargs -0 sha256sum | sort | sha256sum`,
};

/** @param {string} script */
const shell = (script) => ({ argv: ['bash', '-c', `set -o pipefail\n${script}`], stdout: /** @type {const} */ ('text') });

/** @param {string} dir */
function isMounted(dir) {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === dir);
}

/** @param {string} dir */
async function waitMounted(dir) {
  const deadline = Date.now() + 60_000;
  while (!isMounted(dir)) {
    if (Date.now() > deadline) throw new Error(`${dir} was not mounted within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Starts `imgfs mount`; resolves with the process and the ms until the kernel listed the mount. @param {string} dir */
async function mountImgfs(dir) {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [imgfsBin, 'mount', '--quiet', '--no-cache', ...refArgs, image, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitMounted(dir);
  const readyMs = Number(process.hrtime.bigint() - started) / 1e6;
  return { child, readyMs };
}

/** @param {import('node:child_process').ChildProcess} child @param {string} dir */
async function stopImgfs(child, dir) {
  const io = readFileSync(`/proc/${child.pid}/io`, 'utf8');
  const written = Number(/write_bytes: (\d+)/.exec(io)?.[1] ?? NaN);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  if (isMounted(dir)) execFileSync('fusermount3', ['-u', '-z', dir]);
  return written;
}

/**
 * CPU time (user + system) process `pid` has used so far, in ms (clock ticks of 10 ms); with `mainOnly`,
 * its main thread's alone (the JavaScript thread; the rest is libuv's pool, workers and FUSE threads).
 * @param {number | undefined} pid @param {boolean} [mainOnly]
 */
function cpuMs(pid, mainOnly = false) {
  if (pid === undefined) return 0;
  const fields = readFileSync(mainOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * Times TOOL twice over DIR: the first read, then the second, with the CPU time `pid` (the mount
 * process, if any) used during each, in all and on its main thread. The readers' own CPU time (GNU
 * time) comes with each sample: a slow pass whose readers' system time grew was slowed in the kernel
 * or the VM, not by the mount. @param {keyof typeof TOOLS} tool @param {string} dir @param {number} [pid]
 */
async function twice(tool, dir, pid) {
  const before = cpuMs(pid);
  const mainBefore = cpuMs(pid, true);
  const first = await measure(shell(TOOLS[tool](dir)), timed);
  const between = cpuMs(pid);
  const mainBetween = cpuMs(pid, true);
  const second = await measure(shell(TOOLS[tool](dir)), timed);
  const cpu = { first: between - before, second: cpuMs(pid) - between, mainFirst: mainBetween - mainBefore };
  for (const sample of [first, second]) if (sample.code !== 0) throw new Error(`${TOOLS[tool](dir)} failed: ${sample.stderr}`);
  return { first, second, cpu };
}

rmSync(scratch, { recursive: true, force: true });
const bundle = join(scratch, 'bundle');
const rootfs = join(bundle, 'rootfs');
const mnt = join(scratch, 'mnt');
const bindMnt = join(scratch, 'bindfs');
mkdirSync(mnt, { recursive: true });
mkdirSync(bindMnt, { recursive: true });

const unpack = await measure({ argv: ['umoci', 'unpack', '--image', `${ociDir}:${ref}`, bundle] }, { rss: false });
if (unpack.code !== 0) throw new Error(`umoci unpack failed: ${unpack.stderr}`);

/** @type {Record<string, number[]>} */
const ms = {};
const add = (/** @type {string} */ key, /** @type {number} */ value) => (ms[key] ??= []).push(value);
/** @type {Record<string, string>} */
const outputs = {};
let bytesWritten = 0;

try {
  for (const tool of /** @type {const} */ (['tar', 'sha256'])) {
    await measure(shell(TOOLS[tool](rootfs)), { rss: false }); // pages the unpacked files in
    for (let rep = 0; rep < REPS; rep++) {
      const direct = await measure(shell(TOOLS[tool](rootfs)), timed);
      add(`direct-${tool}`, direct.ms);
      add(`readers-direct-${tool}`, direct.cpuMs ?? NaN);
      outputs[`direct-${tool}`] = (direct.text ?? '').trim();

      execFileSync('bindfs', ['-o', 'ro', rootfs, bindMnt]);
      try {
        const bind = await twice(tool, bindMnt);
        add(`bindfs-${tool}-first`, bind.first.ms);
        add(`bindfs-${tool}-second`, bind.second.ms);
      } finally {
        execFileSync('fusermount3', ['-u', bindMnt]);
      }

      const { child, readyMs } = await mountImgfs(mnt);
      add('ready', readyMs);
      try {
        const read = await twice(tool, mnt, child.pid);
        add(`imgfs-${tool}-first`, read.first.ms);
        add(`imgfs-${tool}-second`, read.second.ms);
        add(`cpu-imgfs-${tool}-first`, read.cpu.first);
        add(`cpu-imgfs-${tool}-second`, read.cpu.second);
        add(`cpu-main-imgfs-${tool}-first`, read.cpu.mainFirst);
        add(`readers-imgfs-${tool}-second`, read.second.cpuMs ?? NaN);
        outputs[`imgfs-${tool}`] = (read.second.text ?? '').trim();
      } finally {
        bytesWritten += await stopImgfs(child, mnt);
      }
    }
  }
  for (let rep = 0; rep < REPS; rep++) {
    const scan = await measure({ argv: [process.execPath, imgfsBin, 'scan', '--quiet', '--no-cache', '--hash', 'sha256', ...refArgs, image] }, { rss: false });
    if (scan.code !== 0) throw new Error(`imgfs scan failed: ${scan.stderr}`);
    add('scan', scan.ms);
  }
} finally {
  for (const dir of [mnt, bindMnt]) if (isMounted(dir)) execFileSync('umount', ['-l', dir]);
  rmSync(scratch, { recursive: true, force: true });
}

const medians = Object.fromEntries(Object.entries(ms).map(([key, values]) => [key, median(values)]));
const sameSums = outputs['imgfs-sha256'] === outputs['direct-sha256'];
const sameTarSize = outputs['imgfs-tar'] === outputs['direct-tar'];
process.stdout.write(`${JSON.stringify({ reps: REPS, unpackMs: unpack.ms, medians, bytesWritten, sameSums, sameTarSize, outputs })}\n`);
