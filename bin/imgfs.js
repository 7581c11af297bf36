#!/usr/bin/env node
// The imgfs command. The CLI is written in TypeScript under lib/cli/; `npm run build` compiles the
// library to dist/ and bundles the CLI into one CommonJS file, dist/imgfs-cli.js, because loading one
// script instead of eighty modules saves a third of the start-up of a one-file lookup. The bundle is
// run through node:vm so that V8's code cache of it can be written after a run (see loadBundle).
// Built-ins are taken with process.getBuiltinModule, not imported: an ES module import of node:fs builds
// its module namespace from every export, and reading the lazy fs.ReadStream loads fs streams, which a
// warm lookup never uses (bench/README.md, "Warm cat: warm-final").
const { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } = process.getBuiltinModule('node:fs');
const { createRequire } = process.getBuiltinModule('node:module');
const { homedir } = process.getBuiltinModule('node:os');
const { dirname, join } = process.getBuiltinModule('node:path');
const { fileURLToPath } = process.getBuiltinModule('node:url');
const vm = process.getBuiltinModule('node:vm');

// The bundle's import() calls (built-ins and packages loaded on first use) go to Node's own loader
// through node:vm's USE_MAIN_CONTEXT_DEFAULT_LOADER, which Node marks experimental and says so on stderr
// at the first import(); that one notice, about our launcher and not the user's image, is not shown.
const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...rest) {
  if (typeof warning === 'string' && warning.startsWith('vm.USE_MAIN_CONTEXT_DEFAULT_LOADER ')) return;
  return emitWarning.call(process, warning, ...rest);
};

/** Other builds' code caches unused for this long are removed (see codeCacheIn). */
const STALE_MS = 7 * 24 * 3600 * 1000;

const bundle = fileURLToPath(new URL('../dist/imgfs-cli.js', import.meta.url));
// Two code caches of V8's (see loadBundle for which one a run uses): the user's, under the index
// cache's directory (see codeCacheIn), written after a run; and the build's, beside the bundle (see
// builtCodeCache), for runs that keep no cache (--no-cache), never written by a run.
// NODE_DISABLE_COMPILE_CACHE=1 turns both off.
const cachesWanted = process.env.NODE_DISABLE_COMPILE_CACHE !== '1';
// Set only by the build (bin/train-code-cache.js): the run starts from the build's cache and rewrites
// it, and uses no cache of the user's.
const training = cachesWanted && process.env.IMGFS_TRAIN_CODE_CACHE === '1';
const built = cachesWanted ? builtCodeCache(bundle) : undefined;
const codeCache = cachesWanted && !training ? codeCacheIn(cacheRoot(process.argv.slice(2)), bundle) : undefined;
const loaded = loadBundle(bundle, codeCache, built, training);
await loaded.exports.runCli();
loaded.keepCodeCache();
// Nothing left under way (a warm answer, say): end now, not after Node has torn the heap down.
if (loaded.exports.nothingPending?.() === true) process.exit();

/**
 * Compiles and runs the bundle (a CommonJS script) with V8's code cache of it, when there is one. The
 * cache is written after a run, not right after compiling as Node's own compile cache is: it then holds
 * every function the run compiled, not only the top level, and a warm lookup compiles almost nothing
 * (~6 ms of CPU; bench/README.md, "Warm cat: warm-start branch"). The user's cache is written when
 * missing or rejected (a new bundle or Node), and once more by the first run that used it (generation
 * 2), so that it holds what a cold and a warm run compile; V8 rejects a cache made for other code,
 * flags or version. The build's cache (`built`) is only read, except by the build's training runs.
 */
function loadBundle(file, cache, built, training) {
  const source = readFileSync(file, 'utf8');
  const found = cache === undefined ? undefined : readGeneration(cache);
  // A run with a cache of the user's to keep uses that one only, even before it is first written: it
  // then holds only what this user's runs compiled. The build's cache holds what its training runs
  // compiled (three image formats, several commands), and every function in a cache costs each start
  // that reads it (~0.2-0.35 ms per 100 KB; bench/README.md, "Start-up: start-cache"): seeded from it,
  // a warm `cat` would read ~150 KB it never runs. So the build's cache serves the runs that keep no
  // cache: --no-cache, and a cache directory that cannot hold compiled code.
  // The bundle is built as one function expression (package.json, esbuild's banner and footer), so
  // its text is compiled as read: wrapped here, V8 would copy the 590 KB into a flat string first, and
  // that young garbage cost a warm `cat` a scavenge (bench/README.md, "Warm cat: warm-gzip2").
  const script = new vm.Script(source, {
    filename: file,
    cachedData: cache !== undefined ? found?.bytes : built === undefined ? undefined : readBuilt(built, file),
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, bundleRequire(file), module, file, dirname(file));
  /** The cache of what has been compiled so far, with V8's flags as a start has them (lib/cli/v8-flags.ts). */
  const compiled = () => {
    module.exports.restoreV8Flags();
    return script.createCachedData();
  };
  return {
    exports: module.exports,
    keepCodeCache() {
      if (training) {
        writeAtomically(built, compiled(), 0o644);
        return;
      }
      if (cache === undefined) return;
      const generation = found === undefined || script.cachedDataRejected === true ? 1 : found.generation + 1;
      if (generation > 2) return;
      try {
        writeAtomically(cache.file(generation), compiled(), 0o600);
        if (found !== undefined && found.generation !== generation) rmSync(cache.file(found.generation), { force: true });
        if (generation === 1) cache.prune();
      } catch {
        // A cache that cannot be written only costs the next start its compiling.
      }
    },
  };
}

/**
 * The bundle's `require`: it names only built-ins (`node:fs`...; packages are loaded with import()),
 * some forty times at its top level, each a trip through the CommonJS loader, so built-ins are taken
 * straight with process.getBuiltinModule. Anything else goes to a real require, made when first needed.
 */
function bundleRequire(file) {
  let packages;
  return (id) => process.getBuiltinModule(id) ?? (packages ??= createRequire(file))(id);
}

/** The newest code cache file there is, and its generation. */
function readGeneration(cache) {
  for (const generation of [2, 1]) {
    try {
      return { generation, bytes: readFileSync(cache.file(generation)) };
    } catch {
      // none of this generation
    }
  }
  return undefined;
}

/**
 * The build's cache, if it is not older than the bundle: the build writes it after the bundle, and V8
 * checks a cache against its source's length only, so a bundle rebuilt since by other means than
 * `npm run build` (same length, other code) must not run the old bundle's code.
 */
function readBuilt(file, bundle) {
  try {
    return statSync(file).mtimeMs < statSync(bundle).mtimeMs ? undefined : readFileSync(file);
  } catch {
    return undefined;
  }
}

function writeAtomically(file, bytes, mode) {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'wx', mode);
  try {
    writeSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
}

/**
 * The build's code cache: written by `npm run build` (bin/train-code-cache.js), from training runs
 * of the CLI, beside the bundle and for this Node only. It is part of the installed program: whoever
 * can write it can write the bundle. Another Node's is not read; a cache V8 refuses (other flags) is
 * ignored. A run never writes it (dist/ may be read-only), so --no-cache writes nothing anywhere.
 */
function builtCodeCache(bundle) {
  return join(dirname(bundle), `imgfs-cli-${process.version}-${process.arch}.v8`);
}

/**
 * Where the user's code cache for the bundle is kept: `compile/` beside the tables. Only where the
 * index cache is used (not with --no-cache), only once that directory exists, and only when it belongs
 * to this user and nobody else can write to it: compiled code is run as it is, so a directory others
 * can write to (a shared --cache-dir) must not hold it.
 */
function codeCacheIn(root, bundle) {
  if (root === undefined) return undefined;
  let built;
  try {
    const dir = statSync(root);
    if (!dir.isDirectory() || dir.uid !== process.getuid?.() || (dir.mode & 0o022) !== 0) return undefined;
    built = statSync(bundle);
  } catch {
    return undefined;
  }
  // Named after the bundle too (size, mtime): two installs sharing a cache do not take turns rewriting it.
  const compile = join(root, 'compile');
  const name = `imgfs-cli-${process.version}-${process.arch}-${built.size}-${Math.floor(built.mtimeMs)}`;
  return {
    file: (generation) => join(compile, `${name}.${generation}.v8`),
    /** Removes other bundles' caches not written for a week (earlier builds), when a new one is written. */
    prune() {
      for (const other of readdirSync(compile)) {
        if (!other.startsWith('imgfs-cli-') || other.startsWith(`${name}.`)) continue;
        const file = join(compile, other);
        if (Date.now() - statSync(file).mtimeMs > STALE_MS) rmSync(file, { force: true });
      }
    },
  };
}

/** The index cache's directory as the CLI will choose it (lib/table/table-cache.ts), or undefined with --no-cache. */
function cacheRoot(args) {
  let root;
  for (let i = 0; i < args.length && args[i] !== '--'; i++) {
    const arg = args[i];
    if (arg === '--no-cache') return undefined;
    if (arg === '--cache-dir') root = args[i + 1];
    else if (arg.startsWith('--cache-dir=')) root = arg.slice('--cache-dir='.length);
  }
  if (root !== undefined) return root;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'imgfs');
}
