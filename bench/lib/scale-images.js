// Scale images for the benchmark: one-layer tars of many entries (1 M by default) and a directory
// chain thousands of levels deep. Deterministic (a seeded PRNG, fixed mtimes), written header by header
// with TarWriter so that generation never holds the entries in memory, and cached in bench/out: a tar
// is only written when it is missing.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { TarWriter } from './tar-writer.js';

const EPOCH = 1_704_067_200;

/** xorshift32: fast, seeded, the same sequence on every run. @param {number} seed */
function prng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/**
 * A layer of `entries` members shaped like a big package tree: about 1 in 40 members is a directory
 * (two levels: `srv/pNNN/dNNNN/`), the rest are files of 0 to 600 bytes (mostly one data block), with
 * a few symlinks. Layer `seed` differs in its names, so stacked layers overlap only in directories.
 * @param {string} file @param {number} entries @param {number} seed
 * @returns {{ entries: number, size: number, lastFile: string }}
 */
export function writeManyEntries(file, entries, seed) {
  const random = prng(0x5eed0000 + seed);
  const tar = new TarWriter(`${file}.tmp`);
  const meta = { mtime: EPOCH + seed * 86_400 };
  const payload = Buffer.alloc(600, 0x61);
  let written = 0;
  let lastFile = '';
  tar.dir('srv/', meta);
  written++;
  for (let p = 0; written < entries; p++) {
    const top = `srv/p${String(p).padStart(3, '0')}`;
    tar.dir(`${top}/`, meta);
    written++;
    for (let d = 0; d < 40 && written < entries; d++) {
      const dir = `${top}/d${String(d).padStart(4, '0')}`;
      tar.dir(`${dir}/`, meta);
      written++;
      for (let f = 0; f < 40 && written < entries; f++) {
        const name = `${dir}/l${seed}-f${String(f).padStart(3, '0')}-${Math.floor(random() * 1e6).toString(36)}.dat`;
        if (random() < 0.02) tar.symlink(name, `../d0000/x${f}`, meta);
        else {
          tar.file(name, payload.subarray(0, Math.floor(random() * 600)), meta);
          lastFile = name;
        }
        written++;
      }
    }
  }
  const { size } = tar.finish();
  renameSync(`${file}.tmp`, file);
  return { entries: written, size, lastFile };
}

/**
 * A chain of `depth` explicit directories `c/c/…/c/`, and a file at the bottom.
 * @param {string} file @param {number} depth
 */
export function writeDeepChain(file, depth) {
  const tar = new TarWriter(`${file}.tmp`);
  const meta = { mtime: EPOCH };
  let path = 'c';
  for (let level = 1; level <= depth; level++, path += '/c') tar.dir(`${path}/`, meta);
  tar.file(`${path.slice(0, -2)}/leaf`, Buffer.from('bottom\n'), meta);
  tar.finish();
  renameSync(`${file}.tmp`, file);
}

/**
 * The scale images, generated once into `dir`: `many-<N>-<i>.tar` (i = 0, 1, 2: three layers to
 * stack), their `.gz`, and `deep-<D>.tar`. Returns where they are and the last file of each layer.
 * @param {string} dir @param {{ entries: number, depth: number, log: (m: string) => void }} options
 */
export function makeScaleImages(dir, { entries, depth, log }) {
  mkdirSync(dir, { recursive: true });
  /** @type {{ tar: string, gzip: string, lastFile: string }[]} */
  const layers = [];
  for (let i = 0; i < 3; i++) {
    const tar = join(dir, `many-${entries}-${i}.tar`);
    const facts = join(dir, `many-${entries}-${i}.last`);
    if (!existsSync(tar) || !existsSync(facts)) {
      const started = Date.now();
      const { lastFile, size } = writeManyEntries(tar, entries, i);
      spawnSync('sh', ['-c', 'printf %s "$1" > "$2"', 'sh', lastFile, facts]);
      log(`scale: ${tar}: ${entries} entries, ${(size / 1e6).toFixed(0)} MB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    const gzip = `${tar}.gz`;
    if (!existsSync(gzip)) {
      const started = Date.now();
      spawnSync('sh', ['-c', 'gzip -n -1 -c "$1" > "$1.gz.tmp" && mv "$1.gz.tmp" "$1.gz"', 'sh', tar], { stdio: 'inherit' });
      log(`scale: ${gzip} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    const lastFile = spawnSync('cat', [facts], { encoding: 'utf8' }).stdout;
    layers.push({ tar, gzip, lastFile });
  }
  const deep = join(dir, `deep-${depth}.tar`);
  if (!existsSync(deep)) writeDeepChain(deep, depth);
  return { layers, deep };
}
