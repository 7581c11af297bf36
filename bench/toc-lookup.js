#!/usr/bin/env node
// Layers with a table of contents (issue 12): a cold one-file lookup in a zstd:chunked and an eStargz
// image against the warm lookup (index cache filled), beside the same image as plain gzip and plain
// zstd; and the bytes of the layer that lookup reads (the process's read() bytes from /proc/self/io,
// around openImage + readFile, over the layer's stored size).
//
//   node bench/toc-lookup.js [--reps N] [--images DIR] [--remote]
//
// --remote: the same images pushed by skopeo to Debian's docker-registry (started here on 127.0.0.1 at
// a free port, stopped after) and looked up as docker://127.0.0.1:PORT/…: plain gzip (the whole-blob
// verifying pass) beside the lazy pull of the TOC layers (footer, TOC and one chunk by range); bytes
// are what the registry sent (bodies and headers: manifest and config included) for openImage + readFile.
//
// Builds (once, cached in bench/out/toc-images-v2/) a ~60 MB layer of 4 000 files with a seeded
// generator, imports it into podman (own vfs root) and pushes it as gzip, zstd and zstd:chunked, and
// converts the gzip one to eStargz with ctr-remote on a containerd of its own
// (fixtures/toc/build-toc-images.sh). Needs root, podman, containerd, ctr-remote, skopeo. Each run of
// each side is its own process; cold and warm runs alternate; the median is reported.

import { execFileSync, spawn } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, median } from './lib/measure.js';

const bench = dirname(fileURLToPath(import.meta.url));
const root = dirname(bench);
const argv = process.argv.slice(2);
const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const REMOTE = argv.includes('--remote');
const REPS = Math.max(1, Number(option('--reps') ?? process.env.BENCH_REPS ?? 5));
const IMAGES = option('--images') ?? join(bench, 'out', 'toc-images-v2');
const CLI = join(root, 'bin', 'imgfs.js');
const LOOKUP = '/d00/f0007.txt';
const log = (message) => process.stderr.write(`${message}\n`);

if (!existsSync(join(root, 'dist', 'imgfs-cli.js'))) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });

/** Seeded content: 40 directories of 100 files, 1-64 KiB each, text-like (compressible) or noise. */
function makeContent(dir) {
  // mulberry32: 32-bit integer steps, so the noise really is noise (a float LCG repeats itself).
  let seed = 12345;
  const next = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const words = ['layer', 'table', 'contents', 'frame', 'member', 'offset', 'digest', 'chunk', 'image', 'file'];
  for (let d = 0; d < 40; d++) {
    const sub = join(dir, `d${String(d).padStart(2, '0')}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 100; f++) {
      const size = Math.floor(1024 + next() * next() * 63 * 1024);
      let bytes;
      if (f % 3 === 0) {
        bytes = Buffer.alloc(size);
        for (let i = 0; i < size; i++) bytes[i] = Math.floor(next() * 256);
      } else {
        const lines = [];
        let length = 0;
        while (length < size) {
          const line = `${Array.from({ length: 8 }, () => words[Math.floor(next() * words.length)]).join(' ')} ${Math.floor(next() * 1e6)}\n`;
          lines.push(line);
          length += line.length;
        }
        bytes = Buffer.from(lines.join('')).subarray(0, size);
      }
      writeFileSync(join(sub, `f${String(f).padStart(4, '0')}.txt`), bytes);
    }
  }
}

function buildImages() {
  if (existsSync(join(IMAGES, 'oci-estargz', 'index.json')) && existsSync(join(IMAGES, 'oci-zstd', 'index.json'))) return;
  log(`toc-lookup: building images in ${IMAGES} (about a minute)`);
  const scratch = mkdtempSync(join(tmpdir(), 'imgfs-toc-bench-'));
  try {
    makeContent(join(scratch, 'rootfs'));
    execFileSync('tar', ['--create', '--file', join(scratch, 'layer.tar'), '--directory', join(scratch, 'rootfs'), '--sort=name', '--numeric-owner', '--owner=0', '--group=0', '--mtime=2024-03-01 12:00:00', '.']);
    execFileSync('bash', [join(root, 'fixtures', 'toc', 'build-toc-images.sh'), IMAGES], {
      env: { ...process.env, TOC_CONTENT_TAR: join(scratch, 'layer.tar'), TOC_PLAIN_ZSTD: '1' },
      stdio: 'inherit',
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The one layer blob's stored size. */
function layerSize(layout) {
  const blob = (digest) => join(layout, 'blobs', ...digest.split(':'));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
  return statSync(blob(manifest.layers[0].digest)).size;
}

/**
 * Bytes read for openImage + readFile, cold: from a local layout, the process's read() bytes (rchar);
 * from a registry, the bytes the registry sent (HTTP bodies and headers), counted by a TCP relay in the
 * child in front of it (rchar would also count the system's CA store, read on the first request).
 */
function bytesRead(layout) {
  const remote = layout.startsWith('docker://');
  const script = `
    import { readFileSync } from 'node:fs';
    import { connect, createServer } from 'node:net';
    const rchar = () => Number(/rchar: (\\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))[1]);
    const { openImage } = await import(${JSON.stringify(join(root, 'dist', 'index.js'))});
    let name = ${JSON.stringify(layout)};
    let received = 0;
    let relay;
    if (${remote}) {
      const upstream = new URL(name.replace('docker://', 'http://'));
      relay = createServer((client) => {
        const server = connect(Number(upstream.port), upstream.hostname);
        server.on('data', (chunk) => { received += chunk.length; });
        server.pipe(client);
        client.pipe(server);
        client.on('error', () => server.destroy());
        server.on('error', () => client.destroy());
      });
      await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
      name = name.replace(upstream.host, '127.0.0.1:' + relay.address().port);
    }
    const before = rchar();
    const fs = await openImage(name, { cache: false });
    await fs.readFile(${JSON.stringify(LOOKUP)});
    const read = ${remote} ? received : rchar() - before;
    await fs.close();
    relay?.close();
    process.stdout.write(String(read));
    process.exit(0);`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
}

/** Debian's docker-registry on 127.0.0.1 at a free port, its storage in a temp dir; polled until it answers. */
async function startRegistry() {
  const port = await new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port: free } = server.address();
      server.close(() => resolve(free));
    });
    server.on('error', reject);
  });
  const dir = mkdtempSync(join(tmpdir(), 'imgfs-toc-bench-registry-'));
  const config = ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'storage')}`, 'http:', `  addr: 127.0.0.1:${port}`];
  writeFileSync(join(dir, 'config.yml'), `${config.join('\n')}\n`);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const stop = () => {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  for (let delay = 20, waited = 0; ; waited += delay, delay = Math.min(2 * delay, 250)) {
    const up = await new Promise((resolve) => {
      const probe = request({ host: '127.0.0.1', port, path: '/v2/', timeout: 1000 }, (response) => {
        response.resume();
        resolve(true);
      });
      probe.on('error', () => resolve(false));
      probe.on('timeout', () => probe.destroy());
      probe.end();
    });
    if (up) break;
    if (waited > 20_000 || child.exitCode !== null) {
      stop();
      throw new Error('docker-registry did not start');
    }
    await sleep(delay);
  }
  return { host: `127.0.0.1:${port}`, stop };
}

buildImages();
const FORMATS = [
  ['gzip', 'oci-gzip'],
  ['zstd', 'oci-zstd'],
  ['zstd:chunked', 'oci-zstd-chunked'],
  ['estargz', 'oci-estargz'],
];
const registry = REMOTE ? await startRegistry() : undefined;
const rows = [];
try {
  for (const [format, name] of FORMATS) {
    const local = join(IMAGES, name);
    let layout = local;
    if (registry !== undefined) {
      // --preserve-digests: skopeo's blob-info cache would otherwise push the plain zstd blob it has just
      // pushed (same content) in place of the zstd:chunked one.
      execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--preserve-digests', `oci:${local}:toc`, `docker://${registry.host}/toc/${name}:toc`]);
      layout = `docker://${registry.host}/toc/${name}:toc`;
    }
    const cacheDir = mkdtempSync(join(tmpdir(), 'imgfs-toc-bench-cache-'));
    const cold = { argv: [process.execPath, CLI, 'cat', '--no-cache', layout, LOOKUP] };
    const warm = { argv: [process.execPath, CLI, 'cat', '--cache-dir', cacheDir, layout, LOOKUP] };
    for (const command of [cold, warm]) {
      const first = await measure(command, { rss: false });
      if (first.code !== 0) throw new Error(`${command.argv.join(' ')} failed: ${first.stderr}`);
    }
    const coldMs = [];
    const warmMs = [];
    for (let i = 0; i < REPS; i++) {
      coldMs.push((await measure(cold, { rss: false })).ms);
      warmMs.push((await measure(warm, { rss: false })).ms);
    }
    rmSync(cacheDir, { recursive: true, force: true });
    const size = layerSize(local);
    const read = bytesRead(layout);
    rows.push({ format, size, cold: median(coldMs), warm: median(warmMs), read });
    log(`toc-lookup: ${format} done`);
  }
} finally {
  registry?.stop();
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const lines = [
  `| layer stored as${REMOTE ? ' (registry)' : ''} | layer size | cold lookup (ms) | warm lookup (ms) | cold / warm | bytes read for the cold lookup | of the layer |`,
  `| --- | ---: | ---: | ---: | ---: | ---: | ---: |`,
  ...rows.map(
    (row) =>
      `| ${row.format} | ${mb(row.size)} | ${row.cold.toFixed(0)} | ${row.warm.toFixed(0)} | ${(row.cold / row.warm).toFixed(2)}× | ${mb(row.read)} | ${((100 * row.read) / row.size).toFixed(2)}% |`,
  ),
  '',
  `\`imgfs cat IMAGE ${LOOKUP}\`, median of ${REPS}; cold = \`--no-cache\`, warm = \`--cache-dir\` filled by a first run. Bytes read: ${REMOTE ? 'what the registry sent (HTTP bodies and headers, manifest and config included)' : "the process's read() bytes (rchar)"} for openImage + readFile, cold. Command: \`node bench/toc-lookup.js --reps ${REPS}${REMOTE ? ' --remote' : ''}\`.`,
];
process.stdout.write(`${lines.join('\n')}\n`);
mkdirSync(join(bench, 'out'), { recursive: true });
writeFileSync(join(bench, 'out', REMOTE ? 'toc-lookup-remote.md' : 'toc-lookup.md'), `${lines.join('\n')}\n`);
