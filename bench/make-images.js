#!/usr/bin/env node
// Generates the benchmark image (see lib/image-plan.js) and exports it in the formats the benchmark
// reads. Deterministic: the layer tars, and so the OCI blobs, are the same bytes on every run.
//
//   node bench/make-images.js [OUTDIR]      default: bench/out/images-v<GENERATOR_VERSION>
//
// OUTDIR/
//   oci-gzip/            OCI layout, gzip layers (ref `bench`)     <- umoci unpack, scan, gzip peers
//   oci-zstd/            OCI layout, zstd layers (ref `bench`)
//   oci-zstd-chunked/    OCI layout, zstd layers of one frame per tar entry, as zstd:chunked writes
//                        its file contents (without the table of contents)
//   image-docker.tar     docker-archive, uncompressed layers       <- `skopeo copy` from oci-gzip
//   image-oci-gzip.tar   oci-archive, gzip layers                  <- `skopeo copy` from oci-gzip
//   facts.json           what the benchmark needs to know (written last: its presence marks a complete
//                        generation, so a rerun with the same GENERATOR_VERSION returns at once)
//
// Needs: node, gzip, zstd, skopeo, GNU tar.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { constants as zlibConstants, zstdCompressSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binaryBytes, randomBytes, textBytes } from './lib/content.js';
import { BIG_DIR, BOTTOM_FILE, TOP_FILE, buildPlan } from './lib/image-plan.js';
import { TarWriter } from './lib/tar-writer.js';

/** Bump when the plan, the content or the export changes: it names the cache directory. */
export const GENERATOR_VERSION = 2;
const SEED = `imgfs-bench-v${GENERATOR_VERSION}`;
const EPOCH = 1_704_067_200; // 2024-01-01T00:00:00Z; layer N is dated N days later
const REF = 'bench';
const here = dirname(fileURLToPath(import.meta.url));

export function defaultOutDir() {
  return join(here, 'out', `images-v${GENERATOR_VERSION}`);
}

/** @param {string} outDir @returns {Promise<any>} facts */
export async function makeImages(outDir = defaultOutDir(), log = (/** @type {string} */ m) => process.stderr.write(`${m}\n`)) {
  outDir = resolve(outDir);
  const factsFile = join(outDir, 'facts.json');
  if (existsSync(factsFile)) {
    const facts = JSON.parse(readFileSync(factsFile, 'utf8'));
    if (facts.generatorVersion === GENERATOR_VERSION) return facts;
  }
  const started = process.hrtime.bigint();
  const tmp = `${outDir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'work'), { recursive: true });

  const plan = buildPlan();
  /** @type {{ file: string, diffId: string, size: number, entries: number, createdBy: string }[]} */
  const layers = [];
  for (const [index, layer] of plan.entries()) {
    const file = join(tmp, 'work', `layer-${index}.tar`);
    const written = writeLayer(file, index, layer);
    layers.push({ file, diffId: `sha256:${written.sha256}`, size: written.size, entries: written.entries, createdBy: layer.createdBy });
    log(`layer ${index}: ${written.entries} entries, ${(written.size / 1e6).toFixed(1)} MB`);
  }

  log('compressing layers (gzip -6, zstd -3) ...');
  const jobs = layers.flatMap((layer) => [
    () => run('sh', ['-c', 'gzip -n -6 -c "$1" > "$1.gz"', 'sh', layer.file]),
    () => run('sh', ['-c', 'zstd -3 -q -c "$1" > "$1.zst"', 'sh', layer.file]),
  ]);
  await pool(jobs, Math.max(2, availableParallelism()));
  log('compressing layers one zstd frame per entry ...');
  for (const layer of layers) writeFileSync(`${layer.file}.zchunk`, zstdPerEntry(readFileSync(layer.file)));

  const gzipLayout = await writeLayout(join(tmp, 'oci-gzip'), layers, 'gzip');
  const zstdLayout = await writeLayout(join(tmp, 'oci-zstd'), layers, 'zstd');
  const chunkedLayout = await writeLayout(join(tmp, 'oci-zstd-chunked'), layers, 'zstd-chunked');

  log('skopeo copy -> docker-archive, oci-archive ...');
  const src = `oci:${join(tmp, 'oci-gzip')}:${REF}`;
  await run('skopeo', ['--insecure-policy', 'copy', '-q', src, `docker-archive:${join(tmp, 'image-docker.tar')}:imgfs/bench:latest`]);
  await run('skopeo', ['--insecure-policy', 'copy', '-q', src, `oci-archive:${join(tmp, 'image-oci-gzip.tar')}:${REF}`]);
  const dockerManifest = JSON.parse(await run('tar', ['-xOf', join(tmp, 'image-docker.tar'), 'manifest.json'], { capture: true }));

  rmSync(join(tmp, 'work'), { recursive: true, force: true });
  const uncompressed = layers.reduce((sum, layer) => sum + layer.size, 0);
  const facts = {
    generatorVersion: GENERATOR_VERSION,
    seed: SEED,
    ref: REF,
    files: { bottom: `/${BOTTOM_FILE}`, top: `/${TOP_FILE}` },
    bigDir: `/${BIG_DIR}`,
    // layers (bottom = 0) whose tars have entries at or under BIG_DIR
    bigDirLayers: plan.flatMap((layer, i) => ([...layer.entries.keys()].some((p) => p.startsWith(`${BIG_DIR}/`)) ? [i] : [])),
    layers: layers.map((layer, i) => ({
      diffId: layer.diffId,
      size: layer.size,
      entries: layer.entries,
      createdBy: layer.createdBy,
      gzipBlob: `oci-gzip/blobs/sha256/${gzipLayout.digests[i]}`,
      gzipSize: gzipLayout.sizes[i],
      zstdBlob: `oci-zstd/blobs/sha256/${zstdLayout.digests[i]}`,
      zstdSize: zstdLayout.sizes[i],
      zstdChunkedBlob: `oci-zstd-chunked/blobs/sha256/${chunkedLayout.digests[i]}`,
      zstdChunkedSize: chunkedLayout.sizes[i],
      dockerMember: dockerManifest[0].Layers[i],
    })),
    uncompressedBytes: uncompressed,
    entries: layers.reduce((sum, layer) => sum + layer.entries, 0),
    formats: {
      'docker-archive': 'image-docker.tar',
      'oci-archive+gzip': 'image-oci-gzip.tar',
      'oci-dir+gzip': 'oci-gzip',
      'oci-dir+zstd': 'oci-zstd',
      'oci-dir+zstd-chunked': 'oci-zstd-chunked',
    },
    generatedInSeconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
  writeFileSync(join(tmp, 'facts.json'), `${JSON.stringify(facts, null, 2)}\n`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(dirname(outDir), { recursive: true });
  renameSync(tmp, outDir);
  log(`image: ${facts.entries} entries, ${(uncompressed / 1e6).toFixed(1)} MB uncompressed, in ${facts.generatedInSeconds.toFixed(1)} s -> ${outDir}`);
  return facts;
}

/**
 * One layer tar: entries in the order a filesystem walk gives them (component-wise by bytes, a
 * directory before its children), every parent directory repeated in the layer, as docker writes it.
 * @param {string} file @param {number} index @param {import('./lib/image-plan.js').PlanLayer} layer
 */
function writeLayer(file, index, layer) {
  const mtime = EPOCH + index * 86_400;
  const entries = new Map(layer.entries);
  for (const path of layer.entries.keys()) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (!entries.has(parent)) {
        const app = parent === 'app' || parent.startsWith('app/');
        entries.set(parent, app ? { type: 'dir', uid: 1000, gid: 1000, uname: 'app', gname: 'app' } : { type: 'dir' });
      }
    }
  }
  const paths = [...entries.keys()].map((p) => ({ p, parts: p.split('/').map((c) => Buffer.from(c)) }));
  paths.sort((a, b) => {
    const n = Math.min(a.parts.length, b.parts.length);
    for (let i = 0; i < n; i++) {
      const c = Buffer.compare(/** @type {Buffer} */ (a.parts[i]), /** @type {Buffer} */ (b.parts[i]));
      if (c !== 0) return c;
    }
    return a.parts.length - b.parts.length;
  });
  const tar = new TarWriter(file);
  for (const { p } of paths) {
    const e = /** @type {import('./lib/image-plan.js').PlanEntry} */ (entries.get(p));
    const meta = { mode: e.mode, uid: e.uid, gid: e.gid, uname: e.uname, gname: e.gname, mtime };
    if (e.type === 'dir') tar.dir(p, meta);
    else if (e.type === 'symlink') tar.symlink(p, /** @type {string} */ (e.target), meta);
    else if (e.type === 'link') tar.hardlink(p, /** @type {string} */ (e.target), meta);
    else {
      const key = e.key ?? `${index}:${p}`;
      const size = e.size ?? 0;
      const data =
        e.kind === 'literal' ? Buffer.from(e.data ?? '')
        : e.kind === 'whiteout' ? Buffer.alloc(0)
        : e.kind === 'text' ? textBytes(SEED, key, size)
        : e.kind === 'binary' ? binaryBytes(SEED, key, size)
        : randomBytes(SEED, key, size);
      tar.file(p, data, meta);
    }
  }
  return tar.finish();
}

/**
 * A layer tar as zstd frames, one per tar entry (its header blocks, data and padding) and one for the
 * end-of-archive blocks: every entry starts a frame, as every file does in a zstd:chunked layer.
 * Level 3 with content checksums, like the zstd CLI.
 * @param {Buffer} tar
 */
function zstdPerEntry(tar) {
  const params = { [zlibConstants.ZSTD_c_compressionLevel]: 3, [zlibConstants.ZSTD_c_checksumFlag]: 1 };
  /** @type {Buffer[]} */
  const frames = [];
  let at = 0;
  while (at < tar.length) {
    const header = tar.subarray(at, at + 512);
    if (header.every((byte) => byte === 0)) break;
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    const end = at + 512 + Math.ceil(size / 512) * 512;
    frames.push(zstdCompressSync(tar.subarray(at, end), { params }));
    at = end;
  }
  frames.push(zstdCompressSync(tar.subarray(at), { params }));
  return Buffer.concat(frames);
}

/**
 * An OCI image layout holding one image whose layers are the compressed files next to each layer tar.
 * @param {string} dir @param {{ file: string, diffId: string, createdBy: string }[]} layers
 * @param {'gzip' | 'zstd' | 'zstd-chunked'} codec
 */
async function writeLayout(dir, layers, codec) {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const ext = { gzip: 'gz', zstd: 'zst', 'zstd-chunked': 'zchunk' }[codec];
  /** @type {string[]} */
  const digests = [];
  /** @type {number[]} */
  const sizes = [];
  for (const layer of layers) {
    const compressed = `${layer.file}.${ext}`;
    const digest = await sha256File(compressed);
    renameSync(compressed, join(blobs, digest));
    digests.push(digest);
    sizes.push(statSync(join(blobs, digest)).size);
  }
  const config = {
    created: new Date(EPOCH * 1000 + (layers.length - 1) * 86_400_000).toISOString(),
    architecture: 'amd64',
    os: 'linux',
    config: {
      User: 'app',
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NODE_ENV=production'],
      Entrypoint: ['/usr/local/bin/entrypoint.sh'],
      Cmd: ['node', '/app/src/main.js'],
      WorkingDir: '/app',
    },
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
    history: layers.map((layer, i) => ({ created: new Date(EPOCH * 1000 + i * 86_400_000).toISOString(), created_by: layer.createdBy })),
  };
  const configBlob = putJson(blobs, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configBlob },
    layers: digests.map((digest, i) => ({
      mediaType: `application/vnd.oci.image.layer.v1.tar+${codec === 'gzip' ? 'gzip' : 'zstd'}`,
      digest: `sha256:${digest}`,
      size: sizes[i],
    })),
  };
  const manifestBlob = putJson(blobs, manifest);
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...manifestBlob,
      annotations: { 'org.opencontainers.image.ref.name': REF },
      platform: { architecture: 'amd64', os: 'linux' },
    }],
  };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { digests, sizes };
}

/** @param {string} blobs @param {unknown} value */
function putJson(blobs, value) {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(join(blobs, digest), bytes);
  return { digest: `sha256:${digest}`, size: bytes.length };
}

/** @param {string} file @returns {Promise<string>} */
function sha256File(file) {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolvePromise(hash.digest('hex')));
  });
}

/**
 * @param {string} cmd @param {string[]} args @param {{ capture?: boolean }} [options]
 * @returns {Promise<string>}
 */
function run(cmd, args, options = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', options.capture ? 'pipe' : 'inherit', 'inherit'] });
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk) => { out += chunk; });
    child.on('error', (err) => reject(new Error(`${cmd}: ${err.message} (is it installed?)`)));
    child.on('close', (code) => (code === 0 ? resolvePromise(out) : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
  });
}

/** Runs async jobs, at most `width` at a time. @param {(() => Promise<unknown>)[]} jobs @param {number} width */
async function pool(jobs, width) {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = /** @type {() => Promise<unknown>} */ (jobs[next++]);
      await job();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  makeImages(process.argv[2] ?? defaultOutDir()).catch((err) => {
    process.stderr.write(`make-images: ${err.message}\n`);
    process.exit(1);
  });
}
