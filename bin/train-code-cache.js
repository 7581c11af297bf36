// Run by `npm run build` after bundling: writes the build's V8 code cache of the CLI bundle,
// dist/imgfs-cli-<node>-<arch>.v8, which a run that keeps no code cache of the user's (--no-cache)
// starts from (see bin/imgfs.js). A cache made right after compiling would hold only the top
// level, so it is made by training runs instead: the CLI run on the demo image, then on the same layers
// gzip- and zstd-compressed in OCI layouts, each run starting from the cache the one before it wrote and
// writing it again with what it compiled too (IMGFS_TRAIN_CODE_CACHE=1). Only runs that keep no index
// cache (--no-cache), as the runs this cache serves do: code that reads or writes the index cache would
// only make every cold start deserialize ~50 KB more (~0.2 ms; a run with a cache of the user's has its
// own code cache). The runs touch nothing of the user's.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, zstdCompressSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const demo = join(root, 'fixtures/demo/demo.tar');

// A cache never outlives the bundle it was made from: V8 checks a cache against its source's length
// only, so an old cache beside a new bundle of the same length would run the old code. (The launcher
// also ignores a cache older than the bundle: one built by hand, without this script.)
for (const name of readdirSync(dist)) if (/^imgfs-cli-.*\.v8$/.test(name)) rmSync(join(dist, name));

const scratch = mkdtempSync(join(tmpdir(), 'imgfs-train-'));
try {
  const gzip = writeLayout(join(scratch, 'gzip'), 'gzip', gzipSync);
  const zstd = writeLayout(join(scratch, 'zstd'), 'zstd', zstdCompressSync);
  for (const image of [demo, gzip, zstd]) train('cat', '--no-cache', image, '/etc/passwd');
  train('ls', '-l', '--no-cache', demo, '/etc');
  train('stat', '--no-cache', demo, '/etc/passwd');
  train('find', '--no-cache', demo, '/');
  if (!readdirSync(dist).some((name) => /^imgfs-cli-.*\.v8$/.test(name))) throw new Error('train-code-cache: no cache was written');
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

/**
 * One training run of the CLI; its output is not needed, its failure stops the build. Not under the
 * builder's NODE_OPTIONS (V8 would refuse the cache under other flags) nor NODE_DISABLE_COMPILE_CACHE:
 * the cache is made for the program, not for this shell.
 */
function train(...args) {
  const { NODE_OPTIONS, NODE_DISABLE_COMPILE_CACHE, ...env } = process.env;
  const run = spawnSync(process.execPath, [join(root, 'bin/imgfs.js'), ...args], {
    env: { ...env, IMGFS_TRAIN_CODE_CACHE: '1', XDG_CACHE_HOME: join(scratch, 'xdg') },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`train-code-cache: imgfs ${args.join(' ')} failed (${run.status}):\n${run.stderr}`);
}

/** The demo image's layers and config as an OCI layout, each layer compressed with `compress`. */
function writeLayout(dir, codec, compress) {
  const members = tarMembers(readFileSync(demo));
  const manifest = JSON.parse(members.get('manifest.json').toString('utf8'))[0];
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (bytes, mediaType) => {
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (!existsSync(join(blobs, digest))) writeFileSync(join(blobs, digest), bytes);
    return { mediaType, digest: `sha256:${digest}`, size: bytes.length };
  };
  const image = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: put(members.get(manifest.Config), 'application/vnd.oci.image.config.v1+json'),
    layers: manifest.Layers.map((layer) => put(compress(members.get(layer)), `application/vnd.oci.image.layer.v1.tar+${codec}`)),
  };
  const index = { schemaVersion: 2, manifests: [put(Buffer.from(JSON.stringify(image)), image.mediaType)] };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return dir;
}

/** The regular files of a plain ustar archive (the demo image: short names, no extensions), by name. */
function tarMembers(tar) {
  const members = new Map();
  for (let at = 0; at + 512 <= tar.length && tar[at] !== 0; ) {
    const name = tar.toString('latin1', at, at + 100).replace(/\0.*$/s, '');
    const size = Number.parseInt(tar.toString('latin1', at + 124, at + 136).replace(/\0.*$/s, '').trim() || '0', 8);
    if (tar[at + 156] === 0x30 || tar[at + 156] === 0) members.set(name, tar.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return members;
}
