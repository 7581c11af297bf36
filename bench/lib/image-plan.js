// The benchmark image, layer by layer: what a Debian-based Python + Node application image looks like
// after `docker build`. Only the plan lives here (paths, types, modes, sizes, content kind); bytes are
// produced when the layer is written (see content.js), so the plan stays small in memory.
//
// Layers, bottom first:
//   0  ADD rootfs                         ~8 900 entries: /etc, /usr/bin, /usr/share/{doc,man,perl5,zoneinfo},
//                                         /var/lib/dpkg, and /usr/lib/x86_64-linux-gnu with ~3 000 entries
//   1  apt-get install python3 gcc        /usr/lib/python3.11 (text), cc1 (28 MB), more libs, apt caches
//   2  cleanup, chmod, useradd, updates   opaque dir, whiteouts (files and directories), copy-ups with new
//                                         modes, replaced libraries in the big directory
//   3  COPY app + npm ci                  /app with ~2 700 small files under node_modules, a few binaries
//   4  npm prune, chmod, links            whiteouts in /app, copy-ups, a hard link, a symlink
//   5  COPY config                        a few files

import { Rng } from './content.js';

/**
 * @typedef {object} PlanEntry
 * @property {'file' | 'dir' | 'symlink' | 'link'} type
 * @property {number} [mode]
 * @property {number} [uid]
 * @property {number} [gid]
 * @property {string} [uname]
 * @property {string} [gname]
 * @property {'random' | 'binary' | 'text' | 'literal' | 'whiteout'} [kind]   file content
 * @property {number} [size]
 * @property {string} [key]        content key (defaults to layer + path)
 * @property {string} [data]       literal content
 * @property {string} [target]     symlink or hard-link target
 */

/** @typedef {{ createdBy: string, entries: Map<string, PlanEntry> }} PlanLayer */

export const BIG_DIR = 'usr/lib/x86_64-linux-gnu';
export const BOTTOM_FILE = 'usr/share/zoneinfo/Europe/Berlin';
export const TOP_FILE = 'app/config.json';

const APP = { uid: 1000, gid: 1000, uname: 'app', gname: 'app' };

/** @returns {PlanLayer[]} */
export function buildPlan() {
  const rng = new Rng('imgfs-bench-plan');
  const pkgs = Array.from({ length: 420 }, (_, i) => `${rng.word(1, 3)}${i % 7 === 0 ? `-${rng.word(1, 2)}` : ''}${i}`);
  const layers = [base(rng, pkgs)];
  const python = pythonLayer(rng);
  layers.push(python.layer);
  layers.push(cleanupLayer(rng, pkgs, layers[0], python));
  const app = appLayer(rng);
  layers.push(app.layer);
  layers.push(pruneLayer(rng, app));
  layers.push(topLayer());
  return layers;
}

/** @param {Rng} rng @param {string[]} pkgs @returns {PlanLayer} */
function base(rng, pkgs) {
  /** @type {Map<string, PlanEntry>} */
  const e = new Map();
  /** @type {(path: string, kind: PlanEntry['kind'], size: number, extra?: Partial<PlanEntry>) => void} */
  const file = (path, kind, size, extra = {}) => void e.set(path, { type: 'file', kind, size, ...extra });
  /** @type {(path: string, extra?: Partial<PlanEntry>) => void} */
  const dir = (path, extra = {}) => void e.set(path, { type: 'dir', ...extra });
  /** @type {(path: string, target: string) => void} */
  const link = (path, target) => void e.set(path, { type: 'symlink', target });

  for (const d of ['dev', 'proc', 'sys', 'run', 'mnt', 'media', 'srv', 'opt', 'home', 'var/log', 'var/mail', 'usr/local/bin', 'usr/local/lib']) dir(d);
  dir('tmp', { mode: 0o1777 });
  dir('var/tmp', { mode: 0o1777 });
  dir('root', { mode: 0o700 });
  link('bin', 'usr/bin');
  link('sbin', 'usr/sbin');
  link('lib', 'usr/lib');
  link('lib64', 'usr/lib64');

  // /etc
  file('etc/passwd', 'literal', 0, { data: passwd([]) });
  file('etc/group', 'literal', 0, { data: group([]) });
  file('etc/shadow', 'text', 900, { mode: 0o640, gid: 42, gname: 'shadow' });
  file('etc/hostname', 'literal', 0, { data: 'bench\n' });
  file('etc/os-release', 'literal', 0, { data: 'PRETTY_NAME="Benchian 12"\nID=benchian\n' });
  file('etc/services', 'text', 12_000);
  for (let i = 0; i < 120; i++) file(`etc/${rng.word(1, 2)}${i}.conf`, 'text', rng.size(1500, 40, 40_000));
  for (let i = 0; i < 140; i++) {
    const pem = `usr/share/ca-certificates/mozilla/${rng.word(2, 4)}_${i}.crt`;
    file(pem, 'text', rng.size(1900, 1200, 3000));
    link(`etc/ssl/certs/${rng.next().toString(16).padStart(8, '0')}.0`, `/${pem}`);
  }

  // /usr/bin, /usr/sbin
  const bins = [];
  for (let i = 0; i < 350; i++) {
    const name = `${rng.word(1, 2)}${i}`;
    bins.push(name);
    file(`usr/bin/${name}`, 'binary', rng.size(40_000, 2_000, 2_500_000, 1.1), { mode: 0o755 });
  }
  for (let i = 0; i < 60; i++) link(`usr/bin/${rng.word(1, 2)}-alias${i}`, rng.pick(bins));
  for (let i = 0; i < 80; i++) file(`usr/sbin/${rng.word(1, 2)}${i}`, 'binary', rng.size(30_000, 2_000, 600_000), { mode: 0o755 });

  // /usr/lib/x86_64-linux-gnu: ~3 000 entries
  for (let i = 0; i < 1000; i++) {
    const lib = `lib${rng.word(1, 2)}${i}`;
    const major = rng.int(0, 9);
    const real = `${lib}.so.${major}.${rng.int(0, 30)}.${rng.int(0, 9)}`;
    file(`${BIG_DIR}/${real}`, 'binary', rng.size(24_000, 1_500, 3_000_000, 1.2));
    link(`${BIG_DIR}/${lib}.so.${major}`, real);
    if (i < 600) link(`${BIG_DIR}/${lib}.so`, `${lib}.so.${major}`);
    else if (i < 900) file(`${BIG_DIR}/${lib}.a`, 'binary', rng.size(12_000, 500, 400_000));
  }
  for (const sub of ['gconv', 'perl-base', 'girepository-1.0', 'engines-3', 'ossl-modules', 'audit', 'sasl2', 'pkgconfig', 'krb5', 'security']) {
    dir(`${BIG_DIR}/${sub}`);
    for (let i = 0; i < 25; i++) file(`${BIG_DIR}/${sub}/${rng.word(1, 2)}${i}.so`, 'binary', rng.size(8_000, 500, 200_000));
  }
  dir(`${BIG_DIR}/gconv/gconv-modules.d`);

  // /usr/share/zoneinfo: small binary files, with hard links under posix/
  const regions = ['Africa', 'America', 'Antarctica', 'Asia', 'Atlantic', 'Australia', 'Europe', 'Indian', 'Pacific', 'Etc'];
  const zones = [];
  for (let i = 0; i < 600; i++) {
    const zone = `${regions[i % regions.length]}/${rng.word(2, 3)}${i}`;
    zones.push(zone);
    file(`usr/share/zoneinfo/${zone}`, 'binary', rng.size(1_400, 100, 4_000));
  }
  file(`${BOTTOM_FILE}`, 'binary', 2_298);
  e.set(`usr/share/zoneinfo/posix/Europe/Berlin`, { type: 'link', target: BOTTOM_FILE });
  for (let i = 0; i < 400; i++) e.set(`usr/share/zoneinfo/posix/${zones[i]}`, { type: 'link', target: `usr/share/zoneinfo/${zones[i]}` });
  file('usr/share/zoneinfo/zone.tab', 'text', 19_000);

  // docs, man pages, dpkg database, perl modules
  for (const pkg of pkgs) {
    file(`usr/share/doc/${pkg}/copyright`, 'text', rng.size(4_000, 300, 60_000));
    file(`usr/share/doc/${pkg}/changelog.Debian.gz`, 'random', rng.size(3_000, 200, 40_000));
    if (rng.float() < 0.25) file(`usr/share/doc/${pkg}/README`, 'text', rng.size(3_000, 200, 30_000));
    file(`var/lib/dpkg/info/${pkg}.list`, 'text', rng.size(1_500, 100, 30_000));
    file(`var/lib/dpkg/info/${pkg}.md5sums`, 'text', rng.size(1_500, 100, 30_000));
  }
  for (let i = 0; i < 1200; i++) {
    const section = rng.pick(['1', '1', '1', '3', '5', '7', '8']);
    file(`usr/share/man/man${section}/${rng.word(1, 3)}${i}.${section}.gz`, 'random', rng.size(2_500, 300, 30_000));
  }
  file('var/lib/dpkg/status', 'text', 1_000_000);
  for (let i = 0; i < 600; i++) {
    file(`usr/share/perl5/${rng.pick(['Text', 'File', 'IO', 'Debian', 'Locale', 'Net'])}/${rng.word(1, 3)}${i}.pm`, 'text', rng.size(8_000, 300, 120_000));
  }
  return { createdBy: '/bin/sh -c #(nop) ADD file:benchian-12-rootfs.tar in / ', entries: e };
}

/** @param {Rng} rng */
function pythonLayer(rng) {
  /** @type {Map<string, PlanEntry>} */
  const e = new Map();
  /** @type {(path: string, kind: PlanEntry['kind'], size: number, extra?: Partial<PlanEntry>) => void} */
  const file = (path, kind, size, extra = {}) => void e.set(path, { type: 'file', kind, size, ...extra });
  const pyModules = Array.from({ length: 180 }, (_, i) => `${rng.word(1, 3)}${i}`);
  const stdlib = ['json', 'email', 'http', 'xml', 'asyncio', 'concurrent', 'importlib', 'unittest', 'logging', 'urllib'];
  for (let i = 0; i < 2400; i++) {
    const pkg = i < 600 ? stdlib[i % stdlib.length] : rng.pick(pyModules);
    const sub = i % 5 === 0 ? `${rng.word(1, 2)}/` : '';
    const name = `${rng.word(1, 3)}${i}`;
    file(`usr/lib/python3.11/${pkg}/${sub}${name}.py`, 'text', rng.size(6_000, 100, 200_000));
    if (i % 2 === 0) file(`usr/lib/python3.11/${pkg}/${sub}__pycache__/${name}.cpython-311.pyc`, 'binary', rng.size(7_000, 300, 150_000));
  }
  file('usr/lib/python3.11/json/decoder.py', 'text', 12_500);
  file('usr/lib/gcc/x86_64-linux-gnu/12/cc1', 'binary', 28_000_000, { mode: 0o755 });
  file('usr/lib/gcc/x86_64-linux-gnu/12/collect2', 'binary', 300_000, { mode: 0o755 });
  file('usr/bin/python3.11', 'binary', 6_000_000, { mode: 0o755 });
  file('usr/bin/gcc-12', 'binary', 1_000_000, { mode: 0o755 });
  e.set('usr/bin/python3', { type: 'symlink', target: 'python3.11' });
  e.set('usr/bin/gcc', { type: 'symlink', target: 'gcc-12' });
  const newLibs = [];
  file(`${BIG_DIR}/libpython3.11.so.1.0`, 'binary', 6_500_000);
  for (let i = 0; i < 60; i++) {
    const lib = `lib${rng.word(1, 2)}py${i}.so.${rng.int(0, 5)}`;
    newLibs.push(lib);
    file(`${BIG_DIR}/${lib}`, 'binary', rng.size(30_000, 2_000, 800_000));
  }
  const debs = [];
  for (let i = 0; i < 20; i++) {
    const deb = `${rng.word(1, 3)}${i}_1.${i}-1_amd64.deb`;
    debs.push(deb);
    file(`var/cache/apt/archives/${deb}`, 'random', rng.size(500_000, 50_000, 3_000_000));
  }
  file('var/cache/apt/archives/lock', 'literal', 0, { data: '', mode: 0o640 });
  e.set('var/cache/apt/archives/partial', { type: 'dir', mode: 0o700, uid: 42, gid: 0, uname: '_apt' });
  for (let i = 0; i < 6; i++) file(`var/lib/apt/lists/deb.benchian.org_dists_${rng.word(2, 2)}_main_binary-amd64_Packages${i}`, 'text', 1_300_000);
  file('var/lib/dpkg/status', 'text', 1_200_000, { key: 'status-1' });
  for (let i = 0; i < 80; i++) file(`var/lib/dpkg/info/py-${rng.word(1, 2)}${i}.list`, 'text', rng.size(3_000, 100, 60_000));
  return { layer: { createdBy: '/bin/sh -c apt-get update && apt-get install -y python3 gcc', entries: e }, debs, newLibs };
}

/** @param {Rng} rng @param {string[]} pkgs @param {PlanLayer} baseLayer @param {{ debs: string[] }} python */
function cleanupLayer(rng, pkgs, baseLayer, python) {
  /** @type {Map<string, PlanEntry>} */
  const e = new Map();
  /** @type {(dir: string, name: string) => void} */
  const whiteout = (dir, name) => void e.set(`${dir}/.wh.${name}`, { type: 'file', kind: 'whiteout', size: 0, mode: 0 });
  e.set('var/lib/apt/lists/.wh..wh..opq', { type: 'file', kind: 'whiteout', size: 0, mode: 0 });
  for (const deb of python.debs) whiteout('var/cache/apt/archives', deb);
  for (let i = 0; i < 150; i++) whiteout('usr/share/doc', /** @type {string} */ (pkgs[i * 2]));
  const base = [...baseLayer.entries];
  const man = base.filter(([p]) => p.startsWith('usr/share/man/man8/'));
  for (const [p] of man.slice(0, 120)) whiteout('usr/share/man/man8', p.slice('usr/share/man/man8/'.length));
  // chmod u+s on 15 binaries: overlayfs copies them up with their bytes
  const bins = base.filter(([p, v]) => p.startsWith('usr/bin/') && v.type === 'file');
  for (const [p, v] of bins.slice(0, 15)) e.set(p, { ...v, mode: 0o4755, key: `0:${p}` });
  // a security update replaces 30 libraries in the big directory and removes two
  const libs = base.filter(([p, v]) => p.startsWith(`${BIG_DIR}/lib`) && v.type === 'file' && p.includes('.so.'));
  for (const [p, v] of libs.slice(100, 130)) e.set(p, { ...v, size: (v.size ?? 0) + 512 });
  for (const [p] of libs.slice(200, 202)) whiteout(BIG_DIR, p.slice(BIG_DIR.length + 1));
  e.set('etc/passwd', { type: 'file', kind: 'literal', data: passwd(['app:x:1000:1000::/home/app:/bin/sh']) });
  e.set('etc/group', { type: 'file', kind: 'literal', data: group(['app:x:1000:']) });
  e.set('etc/shadow', { type: 'file', kind: 'text', size: 950, mode: 0o640, gid: 42, gname: 'shadow' });
  e.set('home/app', { type: 'dir', mode: 0o750, ...APP });
  e.set('home/app/.profile', { type: 'file', kind: 'text', size: 800, ...APP });
  return { createdBy: '/bin/sh -c rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /usr/share/doc/... && chmod u+s ... && useradd app', entries: e };
}

/** @param {Rng} rng */
function appLayer(rng) {
  /** @type {Map<string, PlanEntry>} */
  const e = new Map();
  /** @type {(path: string, kind: PlanEntry['kind'], size: number, extra?: Partial<PlanEntry>) => void} */
  const file = (path, kind, size, extra = {}) => void e.set(path, { type: 'file', kind, size, ...APP, ...extra });
  const modules = Array.from({ length: 260 }, (_, i) => `${rng.word(1, 3)}${i % 13 === 0 ? `-${rng.word(1, 2)}` : ''}${i}`);
  for (const mod of modules) {
    e.set(`app/node_modules/${mod}`, { type: 'dir', ...APP });
    file(`app/node_modules/${mod}/package.json`, 'text', rng.size(1_200, 300, 5_000));
    const n = rng.int(3, 16);
    for (let i = 0; i < n; i++) {
      const dir = rng.pick(['', 'lib/', 'dist/', 'src/', 'lib/internal/']);
      file(`app/node_modules/${mod}/${dir}${rng.word(1, 3)}${i}.js`, 'text', rng.size(3_000, 100, 150_000));
    }
  }
  for (let i = 0; i < 10; i++) file(`app/node_modules/${modules[i * 7]}/build/Release/addon${i}.node`, 'binary', 2_000_000, { mode: 0o755 });
  for (let i = 0; i < 80; i++) file(`app/node_modules/.cache/babel/${rng.next().toString(16)}.json`, 'text', rng.size(5_000, 200, 50_000));
  const src = [];
  for (let i = 0; i < 80; i++) {
    const p = `app/src/${rng.pick(['routes', 'models', 'lib', 'views'])}/${rng.word(1, 3)}${i}.js`;
    src.push(p);
    file(p, 'text', rng.size(4_000, 200, 40_000));
  }
  file('app/src/main.js', 'text', 6_000);
  src.push('app/src/main.js');
  file('app/package.json', 'text', 2_000);
  file('app/package-lock.json', 'text', 500_000);
  for (let i = 0; i < 30; i++) file(`app/data/fixtures/${rng.word(2, 3)}${i}.bin`, 'random', rng.size(100_000, 1_000, 1_000_000));
  return { layer: { createdBy: '/bin/sh -c #(nop) COPY --chown=app . /app && npm ci', entries: e }, modules, src };
}

/** @param {Rng} rng @param {{ modules: string[], src: string[], layer: PlanLayer }} app */
function pruneLayer(rng, app) {
  /** @type {Map<string, PlanEntry>} */
  const e = new Map();
  e.set('app/node_modules/.wh..cache', { type: 'file', kind: 'whiteout', size: 0, mode: 0 });
  for (let i = 0; i < 30; i++) e.set(`app/node_modules/.wh.${app.modules[i * 8 + 3]}`, { type: 'file', kind: 'whiteout', size: 0, mode: 0 });
  for (const p of app.src) {
    const v = /** @type {PlanEntry} */ (app.layer.entries.get(p));
    e.set(p, { ...v, mode: 0o640, key: `3:${p}` });
  }
  e.set('app/start.js', { type: 'link', target: 'app/src/main.js', ...APP, mode: 0o640 });
  e.set('app/current', { type: 'symlink', target: '/app', ...APP });
  e.set('app/data/fixtures', { type: 'dir', mode: 0o700, ...APP });
  return { createdBy: `/bin/sh -c npm prune --omit=dev && rm -rf node_modules/.cache && chmod -R o-rwx src # ${rng.word()}`, entries: e };
}

/** @returns {PlanLayer} */
function topLayer() {
  /** @type {Map<string, PlanEntry>} */
  const e = new Map();
  e.set(TOP_FILE, { type: 'file', kind: 'text', size: 4_100, ...APP });
  e.set('app/VERSION', { type: 'file', kind: 'literal', data: '1.4.2\n', ...APP });
  e.set('app/static/logo.png', { type: 'file', kind: 'random', size: 61_000, ...APP });
  e.set('etc/app/settings.yaml', { type: 'file', kind: 'text', size: 1_800 });
  e.set('usr/local/bin/entrypoint.sh', { type: 'file', kind: 'text', size: 700, mode: 0o755 });
  return { createdBy: '/bin/sh -c #(nop) COPY config.json entrypoint.sh settings.yaml /', entries: e };
}

/** @param {string[]} extra */
function passwd(extra) {
  return ['root:x:0:0:root:/root:/bin/sh', 'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin', '_apt:x:42:65534::/nonexistent:/usr/sbin/nologin', 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin', ...extra].join('\n') + '\n';
}

/** @param {string[]} extra */
function group(extra) {
  return ['root:x:0:', 'daemon:x:1:', 'shadow:x:42:', 'nogroup:x:65534:', ...extra].join('\n') + '\n';
}
