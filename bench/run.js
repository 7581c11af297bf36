#!/usr/bin/env node
// The imgfs benchmark: every figure is a ratio against a peer measured in the same run, each side in
// its own process, alternating imgfs and peer runs so that a busy machine slows both alike.
//
//   npm run bench [-- --reps N] [-- --only PATTERN]
//   node bench/run.js [--reps N] [--only PATTERN] [--images DIR]
//
// Prints a Markdown table and writes it to bench/out/latest.md (raw samples: bench/out/latest.json).
// See bench/README.md for what each workload measures and why its peer is the one it is.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultOutDir, makeImages } from './make-images.js';
import { GNU_TIME, haveGnuTime, measure, median } from './lib/measure.js';
import { mountRows } from './lib/mount-rows.js';
import { makeScaleImages } from './lib/scale-images.js';

const bench = dirname(fileURLToPath(import.meta.url));
const root = dirname(bench);
const out = join(bench, 'out');
const NODE = process.execPath;
const LAYER_TAR = join(bench, 'peers', 'layer-tar.sh');

// ---------------------------------------------------------------------------------------------------
// options

const argv = process.argv.slice(2);
/** @param {string} name */
const option = (name) => {
  const i = argv.indexOf(name);
  return i < 0 ? undefined : argv[i + 1];
};
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write('usage: node bench/run.js [--reps N] [--only PATTERN] [--images DIR] [--scale ENTRIES]\n');
  process.exit(0);
}
const REPS = Math.max(1, Number(option('--reps') ?? process.env.BENCH_REPS ?? 5));
/** Entries per layer of the scale images (million-entry workloads); `--scale 300000` to see how costs grow. */
const SCALE = Math.max(1000, Number(option('--scale') ?? process.env.BENCH_SCALE ?? 1_000_000));
const DEEP = 5_000;
const ONLY = option('--only') === undefined ? undefined : new RegExp(/** @type {string} */ (option('--only')));
const command = `node bench/run.js${argv.length > 0 ? ` ${argv.join(' ')}` : ''}`;

/** @param {string} message */
const log = (message) => process.stderr.write(`${message}\n`);

// ---------------------------------------------------------------------------------------------------
// preconditions: GNU time, a build, the images

const RSS = haveGnuTime();
if (!RSS) {
  log(`bench: ${GNU_TIME} not found: peak RSS will not be measured.`);
  log('bench: install GNU time to get it:  sudo apt-get install time   (Debian/Ubuntu; `dnf install time` on Fedora)');
}

/** @type {string[]} */
const globalNotes = [];
const imgfsBin = join(root, 'bin', 'imgfs.js');
if (!existsSync(join(root, 'dist', 'index.js'))) {
  log('bench: dist/ is missing: npm run build ...');
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.status !== 0) globalNotes.push('`npm run build` failed: every imgfs side is skipped (peers still measured).');
}
const haveDist = existsSync(join(root, 'dist', 'index.js'));
const haveBin = existsSync(imgfsBin);
if (!haveBin) globalNotes.push('`bin/imgfs.js` is not there yet: every CLI workload shows its peer only.');

mkdirSync(out, { recursive: true });
const imagesDir = option('--images') ?? defaultOutDir();
log(`bench: images in ${relative(root, imagesDir) || imagesDir} (generated once, then cached)`);
const facts = await makeImages(imagesDir, log);
const img = {
  docker: join(imagesDir, facts.formats['docker-archive']),
  ociArchive: join(imagesDir, facts.formats['oci-archive+gzip']),
  gzipDir: join(imagesDir, facts.formats['oci-dir+gzip']),
  zstdDir: join(imagesDir, facts.formats['oci-dir+zstd']),
  zstdChunkedDir: join(imagesDir, facts.formats['oci-dir+zstd-chunked']),
};
/** @type {any[]} */
const topFirst = [...facts.layers].reverse();
const layersOf = {
  docker: topFirst.map((l) => l.dockerMember),
  ociArchive: topFirst.map((l) => l.gzipBlob.replace(/^oci-gzip\//, '')),
  gzip: topFirst.map((l) => join(imagesDir, l.gzipBlob)),
  zstd: topFirst.map((l) => join(imagesDir, l.zstdBlob)),
  zstdChunked: topFirst.map((l) => join(imagesDir, l.zstdChunkedBlob)),
};
const bigDirLayers = facts.bigDirLayers.slice().reverse();
const rel = (/** @type {string} */ p) => p.replace(/^\//, '');

const scratch = mkdtempSync(join(out, 'run-'));
// no imgfs run may touch the user's own cache: point the default location into the scratch dir
const imgfsEnv = { XDG_CACHE_HOME: join(scratch, 'xdg-cache') };
/** @param {string[]} args @returns {import('./lib/measure.js').Command} */
const imgfs = (...args) => ({ argv: [NODE, imgfsBin, ...args], cwd: root, env: imgfsEnv });
/** @param {string} name */
const cacheDir = (name) => join(scratch, `cache-${name}`);

// ---------------------------------------------------------------------------------------------------
// workloads

/**
 * @typedef {object} Side
 * @property {string} label
 * @property {import('./lib/measure.js').Command} command
 * @property {boolean} [warmup]     an untimed first run (default true): pages the archive in, fills a
 *                                  cache, checks that the command works and what it prints
 * @property {() => void} [after]   untimed, after every run (e.g. remove an unpacked bundle)
 */

/**
 * @typedef {object} Workload
 * @property {string} id
 * @property {string} title
 * @property {Side} imgfs
 * @property {Side} peer
 * @property {number} target       imgfs / peer at most this
 * @property {number} [targetMs]   instead: imgfs median wall time at most this many ms (the ratio is still shown)
 * @property {number} [entries]    entries in the image: peak RSS per entry is reported for it
 * @property {number} [reps]
 * @property {boolean} [sameOutput]   imgfs must print the bytes the peer prints
 */

const nodeFloor = { label: '`node -e 0`', command: { argv: [NODE, '-e', '0'] } };
const tarFind = (/** @type {string} */ path) => ({
  label: 'GNU tar, top-down',
  command: { argv: ['sh', LAYER_TAR, 'find', `tar:${img.docker}`, rel(path), ...layersOf.docker], stdout: /** @type {const} */ ('null') },
});

/** @type {Workload[]} */
const workloads = [
  {
    id: 'cat-cold-bottom-docker',
    title: 'cold `cat` bottom-layer file · docker-archive',
    imgfs: { label: 'imgfs', command: imgfs('cat', '--no-cache', img.docker, facts.files.bottom) },
    peer: tarFind(facts.files.bottom),
    target: 0.6,
    sameOutput: true,
  },
  {
    id: 'cat-cold-bottom-docker-floor',
    title: 'cold `cat` bottom-layer file · docker-archive, against the floor',
    imgfs: { label: 'imgfs', command: imgfs('cat', '--no-cache', img.docker, facts.files.bottom) },
    peer: { label: 'Node start + one read per tar header (`peers/header-floor.js`)', command: { argv: [NODE, join(bench, 'peers', 'header-floor.js'), img.docker, rel(facts.files.bottom)] } },
    target: 1.3,
    sameOutput: true,
  },
  {
    id: 'cat-cold-top-docker',
    title: 'cold `cat` top-layer file · docker-archive',
    imgfs: { label: 'imgfs', command: imgfs('cat', '--no-cache', img.docker, facts.files.top) },
    peer: tarFind(facts.files.top),
    target: 10,
    sameOutput: true,
  },
  {
    id: 'cat-cold-bottom-tarstream',
    title: 'cold `cat` bottom-layer file · docker-archive',
    imgfs: { label: 'imgfs', command: imgfs('cat', '--no-cache', img.docker, facts.files.bottom) },
    peer: { label: 'tar-stream (Node), top-down', command: { argv: [NODE, join(bench, 'peers', 'tar-stream-lookup.js'), img.docker, facts.files.bottom] } },
    target: 0.25,
    sameOutput: true,
  },
  {
    id: 'cat-cold-top-tarstream',
    title: 'cold `cat` top-layer file · docker-archive',
    imgfs: { label: 'imgfs', command: imgfs('cat', '--no-cache', img.docker, facts.files.top) },
    peer: { label: 'tar-stream (Node), top-down', command: { argv: [NODE, join(bench, 'peers', 'tar-stream-lookup.js'), img.docker, facts.files.top] } },
    target: 0.5,
    sameOutput: true,
  },
  {
    id: 'cat-cold-bottom-gzip',
    title: 'cold `cat` bottom-layer file · OCI dir, gzip',
    imgfs: { label: 'imgfs', command: imgfs('cat', '--no-cache', img.gzipDir, facts.files.bottom) },
    peer: { label: '`gzip -dc | tar -xO`, top-down', command: { argv: ['sh', LAYER_TAR, 'find', 'gzip', rel(facts.files.bottom), ...layersOf.gzip] } },
    target: 0.6,
    sameOutput: true,
  },
  {
    id: 'cat-cold-top-gzip',
    title: 'cold `cat` top-layer file · OCI dir, gzip',
    imgfs: { label: 'imgfs', command: imgfs('cat', '--no-cache', img.gzipDir, facts.files.top) },
    peer: { label: '`gzip -dc | tar -xO`, top-down', command: { argv: ['sh', LAYER_TAR, 'find', 'gzip', rel(facts.files.top), ...layersOf.gzip] } },
    target: 5,
    sameOutput: true,
  },
  {
    id: 'cat-cold-bottom-zstd',
    title: 'cold `cat` bottom-layer file · OCI dir, zstd',
    imgfs: { label: 'imgfs', command: imgfs('cat', '--no-cache', img.zstdDir, facts.files.bottom) },
    peer: { label: '`zstd -dc | tar -xO`, top-down', command: { argv: ['sh', LAYER_TAR, 'find', 'zstd', rel(facts.files.bottom), ...layersOf.zstd] } },
    target: 1.5,
    sameOutput: true,
  },
  {
    id: 'cat-cold-bottom-zstd-chunked',
    title: 'cold `cat` bottom-layer file · OCI dir, zstd of one frame per entry',
    imgfs: { label: 'imgfs', command: imgfs('cat', '--no-cache', img.zstdChunkedDir, facts.files.bottom) },
    peer: { label: '`zstd -dc | tar -xO`, top-down', command: { argv: ['sh', LAYER_TAR, 'find', 'zstd', rel(facts.files.bottom), ...layersOf.zstdChunked] } },
    target: 1.5,
    sameOutput: true,
  },
  {
    id: 'cat-warm-bottom-docker',
    title: 'warm `cat` bottom-layer file · docker-archive',
    imgfs: { label: 'imgfs', command: imgfs('cat', '--cache-dir', cacheDir('docker'), img.docker, facts.files.bottom) },
    peer: nodeFloor,
    target: 2,
  },
  {
    id: 'cat-warm-bottom-gzip',
    title: 'warm `cat` bottom-layer file · OCI dir, gzip',
    imgfs: { label: 'imgfs', command: imgfs('cat', '--cache-dir', cacheDir('gzip'), img.gzipDir, facts.files.bottom) },
    peer: nodeFloor,
    target: 2,
  },
  {
    id: 'ls-cold-docker',
    title: `cold \`ls -l\` ${facts.bigDir} · docker-archive`,
    imgfs: { label: 'imgfs', command: imgfs('ls', '-l', '--no-cache', img.docker, facts.bigDir) },
    peer: { label: `\`tar -tv\` of the ${bigDirLayers.length} layers that contribute`, command: { argv: ['sh', LAYER_TAR, 'list', `tar:${img.docker}`, rel(facts.bigDir), ...bigDirLayers.map((/** @type {number} */ i) => facts.layers[i].dockerMember)] } },
    target: 1,
  },
  {
    id: 'ls-warm-docker',
    title: `warm \`ls -l\` ${facts.bigDir} · docker-archive`,
    imgfs: { label: 'imgfs', command: imgfs('ls', '-l', '--cache-dir', cacheDir('docker'), img.docker, facts.bigDir) },
    peer: { label: `\`tar -tv\` of the ${bigDirLayers.length} layers that contribute`, command: { argv: ['sh', LAYER_TAR, 'list', `tar:${img.docker}`, rel(facts.bigDir), ...bigDirLayers.map((/** @type {number} */ i) => facts.layers[i].dockerMember)] } },
    target: 0.5,
  },
  {
    id: 'find-cold-gzip',
    title: 'cold `find /` (full walk) · OCI dir, gzip',
    imgfs: { label: 'imgfs', command: imgfs('find', '--no-cache', img.gzipDir, '/') },
    peer: {
      label: '`umoci unpack` (extract everything)',
      command: { argv: ['umoci', 'unpack', '--rootless', '--image', `${img.gzipDir}:${facts.ref}`, join(scratch, 'bundle')] },
      warmup: false,
      after: () => rmSync(join(scratch, 'bundle'), { recursive: true, force: true }),
    },
    target: 0.25,
    reps: Math.min(REPS, 3),
  },
  ...(/** @type {const} */ ([
    ['docker', 'docker-archive', img.docker, `tar:${img.docker}`, layersOf.docker, 0.5],
    ['oci-archive', 'oci-archive, gzip', img.ociArchive, `tar+gzip:${img.ociArchive}`, layersOf.ociArchive, 1.5],
    ['gzip', 'OCI dir, gzip', img.gzipDir, 'gzip', layersOf.gzip, 1.5],
    ['zstd', 'OCI dir, zstd', img.zstdDir, 'zstd', layersOf.zstd, 2],
    ['zstd-chunked', 'OCI dir, zstd, one frame per entry', img.zstdChunkedDir, 'zstd', layersOf.zstdChunked, 2],
  ]).map(([id, name, image, source, layers, target]) => ({
    id: `layers-cold-${id}`,
    title: `cold \`layers\` (open: index every layer) · ${name}`,
    imgfs: { label: 'imgfs', command: imgfs('layers', '--no-cache', image) },
    peer: { label: '`tar -t` of every layer', command: { argv: ['sh', LAYER_TAR, 'listall', source, ...layers] } },
    target,
  }))),
  {
    // A zstd:chunked layer must cost about what a gzip layer costs, not pay for its many frames.
    id: 'layers-cold-zstd-chunked-vs-gzip',
    title: 'cold `layers` · OCI dir, zstd of one frame per entry, against the same image with gzip layers',
    imgfs: { label: 'imgfs', command: imgfs('layers', '--no-cache', img.zstdChunkedDir) },
    peer: { label: 'imgfs on the gzip layers', command: imgfs('layers', '--no-cache', img.gzipDir) },
    target: 2,
  },
  {
    id: 'scan-gzip',
    title: '`scan --hash sha256 --json` · OCI dir, gzip',
    imgfs: { label: 'imgfs', command: imgfs('scan', '--hash', 'sha256', '--json', '--no-cache', img.gzipDir) },
    // The floor the issue names: each blob decompressed once and its bytes hashed (gzip and sha256sum
    // on the two cores, through a pipe).
    peer: { label: '`gzip -dc | sha256sum` of every layer blob', command: { argv: ['sh', LAYER_TAR, 'hashall', 'gzip', ...layersOf.gzip] } },
    target: 1.2,
  },
];

// scale workloads: a one-layer tar of SCALE entries (plain, gzip, three stacked) and a DEEP-level chain.
// Generated into bench/out/scale on first use (about a minute per million entries), only when selected.
const scaleIds = ['scale-find-cold-tar', 'scale-find-cold-gzip', 'scale-find-cold-3layers', 'scale-cat-warm-tar', 'scale-cat-warm-gzip', 'scale-cat-warm-3layers', 'deep-ls-R'];
if (ONLY === undefined || scaleIds.some((id) => ONLY.test(id))) {
  const scale = makeScaleImages(join(out, 'scale'), { entries: SCALE, depth: DEEP, log });
  const [l0, l1, l2] = /** @type {{ tar: string, gzip: string, lastFile: string }[]} */ (scale.layers);
  if (l0 === undefined || l1 === undefined || l2 === undefined) throw new Error('scale images missing');
  const stacked = [l0.tar, l1.tar, l2.tar].join(':');
  const n = `${SCALE / 1e6 >= 1 ? `${SCALE / 1e6} M` : `${SCALE / 1e3} k`}`;
  const tarTv = (/** @type {string[]} */ ...files) => ({ label: `\`tar -tv${files[0]?.endsWith('.gz') ? 'z' : ''}f\`${files.length > 1 ? ' of each layer' : ''}`, command: { argv: ['sh', '-c', files.map((_, i) => `tar -tv${files[0]?.endsWith('.gz') ? 'z' : ''}f "$${i + 1}"`).join(' && '), 'sh', ...files] } });
  const scaleReps = Math.min(REPS, 3);
  workloads.push(
    { id: 'scale-find-cold-tar', title: `cold \`find /\` · one layer tar, ${n} entries`, imgfs: { label: 'imgfs', command: imgfs('find', '--no-cache', l0.tar, '/') }, peer: tarTv(l0.tar), target: 1.5, entries: SCALE, reps: scaleReps },
    { id: 'scale-find-cold-gzip', title: `cold \`find /\` · one layer tar.gz, ${n} entries`, imgfs: { label: 'imgfs', command: imgfs('find', '--no-cache', l0.gzip, '/') }, peer: tarTv(l0.gzip), target: 1.5, entries: SCALE, reps: scaleReps },
    { id: 'scale-find-cold-3layers', title: `cold \`find /\` · 3 stacked layer tars, 3 × ${n} entries`, imgfs: { label: 'imgfs', command: imgfs('find', '--no-cache', stacked, '/') }, peer: tarTv(l0.tar, l1.tar, l2.tar), target: 1.5, entries: 3 * SCALE, reps: scaleReps },
    { id: 'scale-cat-warm-tar', title: `warm \`cat\` of the last entry · one layer tar given as IMAGE, ${n} entries`, imgfs: { label: 'imgfs', command: imgfs('cat', '--cache-dir', cacheDir('scale-tar'), l0.tar, `/${l0.lastFile}`) }, peer: nodeFloor, target: Infinity, targetMs: 500 },
    { id: 'scale-cat-warm-gzip', title: `warm \`cat\` of the last entry · one layer tar.gz, ${n} entries`, imgfs: { label: 'imgfs', command: imgfs('cat', '--cache-dir', cacheDir('scale-gzip'), l0.gzip, `/${l0.lastFile}`) }, peer: nodeFloor, target: Infinity, targetMs: 500 },
    { id: 'scale-cat-warm-3layers', title: `warm \`cat\` of a bottom-layer file · 3 stacked layer tars, 3 × ${n} entries`, imgfs: { label: 'imgfs', command: imgfs('cat', '--cache-dir', cacheDir('scale-3'), stacked, `/${l0.lastFile}`) }, peer: nodeFloor, target: Infinity, targetMs: 500 },
    { id: 'deep-ls-R', title: `cold \`ls -R /\` · a ${DEEP}-deep directory chain`, imgfs: { label: 'imgfs', command: imgfs('ls', '-R', '--no-cache', scale.deep, '/') }, peer: tarTv(scale.deep), target: Infinity, targetMs: 2000 },
  );
}

// ---------------------------------------------------------------------------------------------------
// running

/**
 * @typedef {object} Result
 * @property {Workload} workload
 * @property {import('./lib/measure.js').Sample[]} imgfs
 * @property {import('./lib/measure.js').Sample[]} peer
 * @property {string[]} notes
 * @property {string} [skipped]   why the imgfs side was not measured
 */

/** @type {Result[]} */
const results = [];
const loadBefore = loadavg();
const started = process.hrtime.bigint();

for (const workload of workloads) {
  if (ONLY !== undefined && !ONLY.test(workload.id)) continue;
  log(`bench: ${workload.id}`);
  /** @type {Result} */
  const result = { workload, imgfs: [], peer: [], notes: [] };
  results.push(result);
  const reps = workload.reps ?? REPS;

  let imgfsOk = haveBin;
  if (!haveBin) result.skipped = '`bin/imgfs.js` not there yet';
  let imgfsProbe;
  if (imgfsOk) {
    imgfsProbe = await measure({ ...workload.imgfs.command, stdout: 'hash' }, { rss: false });
    if (imgfsProbe.code !== 0) {
      imgfsOk = false;
      const verb = workload.imgfs.command.argv[2];
      result.skipped = `\`imgfs ${verb}\` failed (exit ${imgfsProbe.code}): ${firstLine(imgfsProbe.stderr)}`;
    }
  }
  if (workload.peer.warmup !== false) {
    const probe = await measure({ ...workload.peer.command, stdout: 'hash' }, { rss: false });
    workload.peer.after?.();
    if (probe.code !== 0) {
      result.notes.push(`peer failed (exit ${probe.code}): ${firstLine(probe.stderr)}`);
      continue;
    }
    if (workload.sameOutput && imgfsOk && imgfsProbe !== undefined && imgfsProbe.sha256 !== probe.sha256) {
      result.notes.push(`imgfs printed ${imgfsProbe.bytes} bytes that differ from the peer's ${probe.bytes} (sha256 ${imgfsProbe.sha256?.slice(0, 12)} vs ${probe.sha256?.slice(0, 12)})`);
    }
  }
  for (let i = 0; i < reps; i++) {
    if (imgfsOk) {
      const sample = await measure(workload.imgfs.command, { rss: RSS });
      if (sample.code !== 0) result.notes.push(`imgfs run ${i + 1} exited ${sample.code}: ${firstLine(sample.stderr)}`);
      result.imgfs.push(sample);
    }
    const sample = await measure(workload.peer.command, { rss: RSS });
    if (workload.id === 'find-cold-gzip' && i === 0) result.notes.push(`umoci unpacked ${countTree(join(scratch, 'bundle', 'rootfs'))} entries`);
    workload.peer.after?.();
    if (sample.code !== 0) result.notes.push(`peer run ${i + 1} exited ${sample.code}: ${firstLine(sample.stderr)}`);
    result.peer.push(sample);
  }
  if (workload.id === 'find-cold-gzip' && imgfsOk) {
    const listed = await measure({ ...workload.imgfs.command, stdout: 'text' }, { rss: false });
    result.notes.push(`imgfs find printed ${(listed.text ?? '').split('\n').filter(Boolean).length} lines`);
  }
}

// derived rows: index size, peak RSS against the Node floor, statSync throughput
/** @type {{ title: string, imgfs: string, peer: string, ratio: number | undefined, target: string, met: boolean | undefined, note?: string }[]} */
const extraRows = [];
const byId = (/** @type {string} */ id) => results.find((r) => r.workload.id === id);

if (ONLY === undefined || ONLY.test('index-size')) {
  for (const [name, format] of /** @type {const} */ ([['docker', 'docker-archive'], ['gzip', 'OCI dir, gzip']])) {
    const dir = cacheDir(name);
    const limit = name === 'docker' ? 0.01 : 0.05;
    if (haveBin && existsSync(dir)) {
      const bytes = Number(execFileSync('du', ['-sb', '--exclude=compile', dir], { encoding: 'utf8' }).split('\t')[0]);
      extraRows.push({
        title: `index size on disk (\`du -sb\` of the cache, without the compile cache) · ${format}`,
        imgfs: `${mb(bytes)} (${Math.round(bytes / facts.entries)} B/entry)`,
        peer: `uncompressed layers: ${mb(facts.uncompressedBytes)}`,
        ratio: bytes / facts.uncompressedBytes,
        target: `≤ ${pct(limit)}`,
        met: bytes / facts.uncompressedBytes <= limit,
      });
    } else {
      extraRows.push({ title: `index size on disk · ${format}`, imgfs: '—', peer: `uncompressed layers: ${mb(facts.uncompressedBytes)}`, ratio: undefined, target: `≤ ${pct(limit)}`, met: undefined, note: 'skipped: no warm cache (the warm `cat` workload did not run)' });
    }
  }
}

const floor = byId('cat-warm-bottom-docker') ?? byId('cat-warm-bottom-gzip');
if (RSS) {
  for (const [id, title] of [['layers-cold-docker', 'peak RSS · cold `layers` · docker-archive'], ['layers-cold-gzip', 'peak RSS · cold `layers` · OCI dir, gzip'], ['scan-gzip', 'peak RSS · `scan --hash sha256` · OCI dir, gzip']]) {
    const result = byId(/** @type {string} */ (id));
    if (result === undefined) continue;
    const imgfsRss = rssMedian(result.imgfs);
    const floorRss = floor === undefined ? undefined : rssMedian(floor.peer);
    const peerRss = rssMedian(result.peer);
    extraRows.push({
      title,
      imgfs: imgfsRss === undefined ? '—' : mb(imgfsRss * 1024),
      peer: floorRss === undefined ? '—' : `\`node -e 0\`: ${mb(floorRss * 1024)} (${result.workload.peer.label}: ${peerRss === undefined ? '—' : mb(peerRss * 1024)})`,
      ratio: imgfsRss === undefined || floorRss === undefined ? undefined : imgfsRss / floorRss,
      // Issue 14 bounds the scan absolutely: ≤ 200 MB whatever the image size.
      target: id === 'scan-gzip' ? '≤ 200 MB' : '≤ 3×',
      met: imgfsRss === undefined ? undefined : id === 'scan-gzip' ? imgfsRss * 1024 <= 200e6 : floorRss === undefined ? undefined : imgfsRss / floorRss <= 3,
      note: imgfsRss === undefined ? result.skipped ?? 'not measured' : undefined,
    });
  }
}

// peak RSS per entry of the scale workloads (the whole process, Node's own ~45 MB included)
for (const result of results) {
  const entries = result.workload.entries;
  const rss = rssMedian(result.imgfs);
  if (entries === undefined || rss === undefined) continue;
  const perEntry = (rss * 1024) / entries;
  extraRows.push({
    title: `peak RSS per entry · ${result.workload.title}`,
    imgfs: `${mb(rss * 1024)} (${perEntry.toFixed(0)} B/entry)`,
    peer: `${result.workload.peer.label}: ${mb((rssMedian(result.peer) ?? 0) * 1024)}`,
    ratio: undefined,
    target: '≤ 300 B/entry',
    met: perEntry <= 300,
  });
}

if (ONLY === undefined || ONLY.test('stat-throughput')) {
  log('bench: stat-throughput');
  const row = { title: '`statSync` of 5-component paths · docker-archive, warm', imgfs: '—', peer: '—', ratio: /** @type {number | undefined} */ (undefined), target: '≥ 1 M/s', met: /** @type {boolean | undefined} */ (undefined), note: /** @type {string | undefined} */ (undefined) };
  if (!haveDist) row.note = 'skipped: no dist/ build';
  else {
    /** @type {any[]} */
    const runs = [];
    let failure;
    for (let i = 0; i < Math.min(REPS, 3) && failure === undefined; i++) {
      const sample = await measure({ argv: [NODE, join(bench, 'workloads', 'stat-throughput.js'), img.docker, cacheDir('docker')], cwd: root, env: imgfsEnv, stdout: 'text' }, { rss: false });
      if (sample.code !== 0) failure = firstLine(sample.stderr);
      else runs.push(JSON.parse(sample.text ?? '{}'));
    }
    if (runs.length === 0) row.note = `skipped: stat-throughput.js failed: ${failure}`;
    else {
      const imgfsRate = median(runs.map((r) => r.imgfsPerSecond));
      const mapRate = median(runs.map((r) => r.mapPerSecond));
      row.imgfs = `${(imgfsRate / 1e6).toFixed(2)} M lookups/s (${runs[0].paths} paths)`;
      row.peer = `\`Map.get\` of the same strings: ${(mapRate / 1e6).toFixed(1)} M/s`;
      row.ratio = imgfsRate / mapRate;
      row.met = imgfsRate >= 1e6;
      if (runs.some((r) => r.check !== true)) row.note = 'statSync sizes differ from the Map of the same stats';
    }
  }
  extraRows.push(row);
}

if (ONLY === undefined || ONLY.test('mount-read')) {
  log('bench: mount-read');
  // gzip: reads decompress through checkpoints; docker-archive: the mount's own cost, nothing to inflate.
  for (const [image, format] of [[img.gzipDir, 'OCI dir, gzip'], [img.docker, 'docker-archive']]) {
    extraRows.push(...(await mountRows({ node: NODE, bench, image, ociDir: img.gzipDir, ref: facts.ref, scratch, reps: Math.min(REPS, 3), format })));
  }
}

const loadAfter = loadavg();
const totalSeconds = Number(process.hrtime.bigint() - started) / 1e9;
if (countTree(imgfsEnv.XDG_CACHE_HOME) > 0) globalNotes.push('an imgfs run wrote into the default cache location (`$XDG_CACHE_HOME`), although every cold run passes `--no-cache` and every warm one `--cache-dir`.');
rmSync(scratch, { recursive: true, force: true });

// ---------------------------------------------------------------------------------------------------
// report

/** @type {string[]} */
const lines = [];
lines.push('# imgfs benchmark', '');
lines.push(`Command: \`${command}\` (or \`npm run bench\`), ${REPS} repetitions unless noted, median reported; imgfs and peer runs alternate.`);
lines.push('Cells: median wall time · median peak RSS. Ratio = imgfs / peer wall time (lower is better); the target applies to it.');
lines.push('CPU ratio = imgfs / peer user+system CPU time (all processes of a pipeline), a cross-check that a busy machine disturbs less.');
lines.push('`statSync`: imgfs / `Map.get` lookups per second (higher is better); its target is absolute.', '');
lines.push('| workload | imgfs | peer | ratio | CPU ratio | target | |', '| --- | --- | --- | --- | --- | --- | --- |');
/** @type {string[]} */
const notes = [...globalNotes];
/** @type {string[]} */
const missed = [];
for (const r of results) {
  const w = r.workload;
  const im = r.imgfs.length > 0 ? median(r.imgfs.map((s) => s.ms)) : undefined;
  const pe = r.peer.length > 0 ? median(r.peer.map((s) => s.ms)) : undefined;
  const ratio = im !== undefined && pe !== undefined ? im / pe : undefined;
  const met = w.targetMs !== undefined ? (im === undefined ? undefined : im <= w.targetMs) : ratio === undefined ? undefined : ratio <= w.target;
  const imCpu = cpuMedian(r.imgfs);
  const peCpu = cpuMedian(r.peer);
  const cpuRatio = imCpu !== undefined && peCpu !== undefined && peCpu > 0 ? (imCpu / peCpu).toFixed(2) : '—';
  const reps = w.reps !== undefined && w.reps !== REPS ? ` (${w.reps} reps)` : '';
  lines.push(`| ${w.title}${reps} | ${im === undefined ? 'skipped' : timing(im, r.imgfs)} | ${w.peer.label}: ${pe === undefined ? '—' : timing(pe, r.peer)} | ${ratio === undefined ? '—' : ratio.toFixed(2)} | ${cpuRatio} | ${w.targetMs !== undefined ? `≤ ${w.targetMs / 1000} s` : `≤ ${w.target}`} | ${mark(met)} |`);
  if (r.skipped !== undefined) notes.push(`${w.id}: imgfs side skipped: ${r.skipped}`);
  for (const n of r.notes) notes.push(`${w.id}: ${n}`);
  if (met === false) missed.push(w.id);
}
for (const row of extraRows) {
  const ratio = row.ratio === undefined ? '—' : row.title.startsWith('index size') ? pct(row.ratio) : row.ratio.toFixed(2);
  lines.push(`| ${row.title} | ${row.imgfs} | ${row.peer} | ${ratio} | — | ${row.target} | ${mark(row.met)} |`);
  if (row.note !== undefined) notes.push(`${row.title}: ${row.note}`);
  if (row.met === false) missed.push(row.title);
}
lines.push('');
if (notes.length > 0) lines.push('Notes:', '', ...notes.map((n) => `- ${n}`), '');
if (missed.length > 0) lines.push(`Targets missed: ${missed.length} (${missed.join(', ')}).`, '');

lines.push('Machine and image:', '');
lines.push(`- ${availableParallelism()} CPUs (nproc), ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM; load average ${loadBefore[0]?.toFixed(2)} before, ${loadAfter[0]?.toFixed(2)} after`);
lines.push(`- node ${process.version}; ${toolVersions()}`);
lines.push(`- peak RSS: ${RSS ? 'GNU time `%M` (largest process of a pipeline)' : 'not measured (install GNU time: `apt-get install time`)'}`);
lines.push(`- image (generator v${facts.generatorVersion}): ${facts.layers.length} layers, ${facts.entries} tar entries, ${mb(facts.uncompressedBytes)} uncompressed; gzip ${mb(sum(facts.layers.map((/** @type {any} */ l) => l.gzipSize)))}, zstd ${mb(sum(facts.layers.map((/** @type {any} */ l) => l.zstdSize)))}; files looked up: \`${facts.files.bottom}\` (layer 0), \`${facts.files.top}\` (layer ${facts.layers.length - 1})`);
lines.push(`- cold = \`--no-cache\` (no index cache); the OS page cache is warm for every side (an untimed first run of each command precedes the timed ones)`);
lines.push(`- ${new Date().toISOString()}, ${totalSeconds.toFixed(0)} s`);
const report = `${lines.join('\n')}\n`;
process.stdout.write(report);
writeFileSync(join(out, 'latest.md'), report);
writeFileSync(join(out, 'latest.json'), `${JSON.stringify({ command, reps: REPS, results: results.map((r) => ({ id: r.workload.id, title: r.workload.title, peer: r.workload.peer.label, target: r.workload.target, skipped: r.skipped, notes: r.notes, imgfs: r.imgfs.map(strip), peerSamples: r.peer.map(strip) })), extraRows }, null, 2)}\n`);

// Sections that bring their own producers and servers, each in its own process with the same --reps:
// layers with a table of contents (podman, containerd + ctr-remote) and registry images (docker-registry,
// skopeo). `--only toc` or `--only remote` selects one.
const sections = [
  { id: 'toc-lookup', argv: [NODE, join(bench, 'toc-lookup.js')] },
  { id: 'remote-lookup', argv: [NODE, '--experimental-transform-types', '--no-warnings', join(bench, 'remote-lookup.mts')] },
];
for (const section of sections) {
  if (ONLY !== undefined && !ONLY.test(section.id)) continue;
  log(`bench: ${section.id}`);
  const [program = NODE, ...rest] = section.argv;
  const run = spawnSync(program, [...rest, '--reps', String(REPS)], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) process.stdout.write(`\n${section.id}: did not complete (exit ${run.status ?? run.signal}); see its messages above\n`);
}

// ---------------------------------------------------------------------------------------------------
// helpers

/** @param {import('./lib/measure.js').Sample} s */
function strip(s) {
  return { ms: Math.round(s.ms * 10) / 10, cpuMs: s.cpuMs, rssKB: s.rssKB, code: s.code };
}

/** @param {number} ms @param {import('./lib/measure.js').Sample[]} samples */
function timing(ms, samples) {
  const rss = rssMedian(samples);
  const t = ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`;
  return rss === undefined ? t : `${t} · ${mb(rss * 1024)}`;
}

/** @param {import('./lib/measure.js').Sample[]} samples */
function cpuMedian(samples) {
  const values = samples.map((s) => s.cpuMs).filter((v) => v !== undefined);
  return values.length === 0 ? undefined : median(/** @type {number[]} */ (values));
}

/** @param {import('./lib/measure.js').Sample[]} samples */
function rssMedian(samples) {
  const values = samples.map((s) => s.rssKB).filter((v) => v !== undefined);
  return values.length === 0 ? undefined : median(/** @type {number[]} */ (values));
}

/** @param {boolean | undefined} met */
function mark(met) {
  return met === undefined ? '' : met ? 'met' : '**missed**';
}

/** @param {number} bytes */
function mb(bytes) {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}

/** @param {number} x */
function pct(x) {
  return `${(x * 100).toFixed(x < 0.01 ? 2 : 1)} %`;
}

/** @param {number[]} xs */
function sum(xs) {
  return xs.reduce((a, b) => a + b, 0);
}

/** The line of a child's stderr that says what went wrong (Node puts a source excerpt first). @param {string} text */
function firstLine(text) {
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
  return lines.find((line) => /^([A-Za-z]*Error\b|imgfs:|[\w.-]+: )/.test(line)) ?? lines[0] ?? '';
}

/** Entries under a directory (itself excluded), without following links. @param {string} dir */
function countTree(dir) {
  let count = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const current = /** @type {string} */ (stack.pop());
    let entries;
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch {
      continue;
    }
    count += entries.length;
    for (const entry of entries) if (entry.isDirectory()) stack.push(join(current, entry.name));
  }
  return count;
}

function toolVersions() {
  const version = (/** @type {string} */ cmd, /** @type {string[]} */ args, /** @type {RegExp} */ re) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    const m = `${r.stdout}${r.stderr}`.match(re);
    return m === null ? `${cmd} ?` : `${cmd} ${m[1]}`;
  };
  return [
    version('tar', ['--version'], /tar\) (\S+)/),
    version('gzip', ['--version'], /gzip (\S+)/),
    version('zstd', ['--version'], /v(\d[\d.]*)/),
    version('umoci', ['--version'], /version (\S+)/),
    version('skopeo', ['--version'], /version (\S+)/),
  ].join(', ');
}
