// Runs one command in its own process and measures it: wall time with process.hrtime around the
// child's whole life; from GNU time, CPU time (`%U` + `%S`, summed over every process of a pipeline)
// and peak RSS (`%M`: the largest single process of a pipeline, not the sum).

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';

/** Whether GNU time is there to measure peak RSS. */
export function haveGnuTime() {
  try {
    accessSync(GNU_TIME, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * @typedef {object} Command
 * @property {string[]} argv
 * @property {Record<string, string>} [env]   added to process.env
 * @property {string} [cwd]
 * @property {'null' | 'hash' | 'text'} [stdout]   default 'null'
 */

/**
 * @typedef {object} Sample
 * @property {number} ms          wall time
 * @property {number | undefined} rssKB
 * @property {number | undefined} cpuMs    user + system CPU time
 * @property {number | null} code
 * @property {string} stderr      the first 2 000 characters
 * @property {string} [sha256]    of stdout, with stdout 'hash'
 * @property {number} [bytes]     of stdout, with stdout 'hash' or 'text'
 * @property {string} [text]      stdout, with stdout 'text'
 */

/** @param {Command} command @param {{ rss: boolean }} options @returns {Promise<Sample>} */
export function measure(command, options) {
  const stdoutMode = command.stdout ?? 'null';
  const timeDir = options.rss ? mkdtempSync(join(tmpdir(), 'imgfs-bench-time-')) : undefined;
  const timeFile = timeDir === undefined ? undefined : join(timeDir, 'rss');
  const [cmd, ...args] = timeFile === undefined ? command.argv : [GNU_TIME, '-f', '%U %S %M', '-o', timeFile, ...command.argv];
  return new Promise((resolvePromise, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(/** @type {string} */ (cmd), args, {
      cwd: command.cwd,
      env: { ...process.env, ...command.env },
      stdio: ['ignore', stdoutMode === 'null' ? 'ignore' : 'pipe', 'pipe'],
    });
    const hash = createHash('sha256');
    let bytes = 0;
    /** @type {Buffer[]} */
    const text = [];
    child.stdout?.on('data', (/** @type {Buffer} */ chunk) => {
      bytes += chunk.length;
      if (stdoutMode === 'hash') hash.update(chunk);
      else text.push(chunk);
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk) => {
      if (stderr.length < 2000) stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      let rssKB;
      let cpuMs;
      if (timeFile !== undefined) {
        // GNU time prints "Command exited with non-zero status N" before the figures when N != 0
        const lines = readFileSync(timeFile, 'utf8').trim().split('\n');
        const [user, system, rss] = (lines[lines.length - 1] ?? '').split(' ').map(Number);
        if (Number.isFinite(rss)) rssKB = rss;
        if (Number.isFinite(user) && Number.isFinite(system)) cpuMs = ((user ?? 0) + (system ?? 0)) * 1000;
        rmSync(/** @type {string} */ (timeDir), { recursive: true, force: true });
      }
      /** @type {Sample} */
      const sample = { ms, rssKB, cpuMs, code, stderr: stderr.slice(0, 2000) };
      if (stdoutMode === 'hash') Object.assign(sample, { sha256: hash.digest('hex'), bytes });
      if (stdoutMode === 'text') Object.assign(sample, { text: Buffer.concat(text).toString('utf8'), bytes });
      resolvePromise(sample);
    });
  });
}

/** @param {number[]} values */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? /** @type {number} */ (sorted[mid]) : (/** @type {number} */ (sorted[mid - 1]) + /** @type {number} */ (sorted[mid])) / 2;
}
