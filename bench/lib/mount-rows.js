// The rows of the mount-read workload (bench/workloads/mount-read.js) for the benchmark table: first
// full reads through `imgfs mount` against bindfs over umoci's unpacked rootfs, second reads against
// the unpacked rootfs read directly, `imgfs scan`, time to mount ready, and bytes written.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { measure } from './measure.js';

/**
 * @typedef {{ title: string, imgfs: string, peer: string, ratio: number | undefined, target: string, met: boolean | undefined, note?: string }} Row
 */

/** What the workload needs that this machine lacks. */
function missing() {
  const needs = [];
  if (process.getuid?.() !== 0) needs.push('root');
  if (!existsSync('/dev/fuse')) needs.push('/dev/fuse');
  for (const tool of ['umoci', 'bindfs', 'fusermount3']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) needs.push(tool);
  }
  return needs;
}

/**
 * @param {{ node: string, bench: string, image: string, ociDir: string, ref: string, scratch: string, reps: number, format: string }} options
 * @returns {Promise<Row[]>}
 */
export async function mountRows({ node, bench, image, ociDir, ref, scratch, reps, format }) {
  const needs = missing();
  const title = (/** @type {string} */ what) => `\`imgfs mount\`: ${what} · ${format}`;
  if (needs.length > 0) {
    return [{ title: title('full reads'), imgfs: '—', peer: '—', ratio: undefined, target: '—', met: undefined, note: `skipped: needs ${needs.join(', ')}` }];
  }
  const sample = await measure({ argv: [node, join(bench, 'workloads', 'mount-read.js'), image, ociDir, ref, join(scratch, 'mount-read'), String(reps)], stdout: 'text' }, { rss: false });
  if (sample.code !== 0) {
    const why = sample.stderr.split('\n').find((line) => line.trim() !== '') ?? `exit ${sample.code}`;
    return [{ title: title('full reads'), imgfs: '—', peer: '—', ratio: undefined, target: '—', met: undefined, note: `skipped: mount-read.js failed: ${why}` }];
  }
  const { medians: m, bytesWritten, sameSums, sameTarSize, unpackMs } = JSON.parse(sample.text ?? '{}');
  const time = (/** @type {number} */ ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
  /** @type {Row[]} */
  const rows = [];
  // `\\|`: a pipe inside a Markdown table cell.
  const commands = { tar: '`tar -cf - -C MNT . \\| wc -c`', sha256: '`find MNT -type f -print0 \\| xargs -0 sha256sum`' };
  for (const tool of /** @type {const} */ (['tar', 'sha256'])) {
    const first = m[`imgfs-${tool}-first`] / m[`bindfs-${tool}-first`];
    const main = (/** @type {string} */ pass) => (m[`cpu-main-imgfs-${tool}-${pass}`] === undefined ? '' : `, main thread ${time(m[`cpu-main-imgfs-${tool}-${pass}`])}`);
    const cpu = (/** @type {string} */ pass) => (m[`cpu-imgfs-${tool}-${pass}`] === undefined ? '' : ` (mount process CPU ${time(m[`cpu-imgfs-${tool}-${pass}`])}${main(pass)})`);
    // The readers' own CPU (user + system, GNU time): the second pass's varies with the kernel and the VM.
    const readers = (/** @type {string} */ key) => (Number.isFinite(m[key]) ? ` [readers' CPU ${time(m[key])}]` : '');
    rows.push({ title: title(`first full read, ${commands[tool]}`), imgfs: `${time(m[`imgfs-${tool}-first`])}${cpu('first')}`, peer: `bindfs over the unpacked rootfs: ${time(m[`bindfs-${tool}-first`])}`, ratio: first, target: '≤ 1', met: first <= 1 });
    const second = m[`imgfs-${tool}-second`] / m[`direct-${tool}`];
    rows.push({ title: title(`second full read, ${commands[tool]}`), imgfs: `${time(m[`imgfs-${tool}-second`])}${cpu('second')}${readers(`readers-imgfs-${tool}-second`)}`, peer: `the unpacked rootfs read directly: ${time(m[`direct-${tool}`])}${readers(`readers-direct-${tool}`)} (bindfs 2nd: ${time(m[`bindfs-${tool}-second`])})`, ratio: second, target: '≤ 1.5', met: second <= 1.5 });
  }
  rows.push({ title: title('first full read with sha256sum, against `imgfs scan --hash sha256`'), imgfs: time(m['imgfs-sha256-first']), peer: `imgfs scan: ${time(m.scan)}`, ratio: m['imgfs-sha256-first'] / m.scan, target: '—', met: undefined });
  rows.push({ title: title('time to mount ready (lazy: nothing indexed yet)'), imgfs: time(m.ready), peer: `\`umoci unpack\` of the image: ${time(unpackMs)}`, ratio: m.ready / unpackMs, target: '—', met: undefined });
  rows.push({ title: title('bytes the mount process wrote to disk during all reads'), imgfs: `${bytesWritten} B`, peer: 'umoci unpack: the whole rootfs', ratio: undefined, target: '0 B', met: bytesWritten === 0 });
  if (!sameSums) rows[2].note = 'the sha256 of some file differs between the mount and the unpacked rootfs';
  if (!sameTarSize) {
    rows[0].note = 'the tar of the mount is larger than the tar of the unpacked rootfs: hard links show their own inode numbers through the mount (libfuse high-level API), so tar stores each name in full';
  }
  return rows;
}
