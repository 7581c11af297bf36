#!/usr/bin/env node
// The imgfs command. The CLI is written in TypeScript under lib/cli/; `npm run build` compiles the
// library to dist/ and bundles the CLI into one file, dist/imgfs-cli.js, because loading one module
// instead of eighty saves a third of the start-up of a one-file lookup.
import { statSync } from 'node:fs';
import module from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

// V8's young generation is kept small for walks by the CLI itself (lib/cli/young-generation.ts), once
// it knows there is one: a warm lookup then never loads node:v8.
useCompileCache(cacheRoot(process.argv.slice(2)));
const { runCli } = await import('../dist/imgfs-cli.js');
await runCli();

/**
 * V8's compiled code for the bundle, kept in imgfs's own cache directory (`compile/` beside the
 * tables): a warm start then skips compiling half a megabyte of JavaScript (~8 ms of a ~70 ms lookup).
 * Only where the index cache is used (not with --no-cache), only once that directory exists, and only
 * when it belongs to this user and nobody else can write to it: compiled code is run as it is, so a
 * directory others can write to (a shared --cache-dir) must not hold it. NODE_DISABLE_COMPILE_CACHE=1
 * also turns it off.
 */
function useCompileCache(root) {
  if (root === undefined || typeof module.enableCompileCache !== 'function') return;
  try {
    const dir = statSync(root);
    if (!dir.isDirectory() || dir.uid !== process.getuid?.() || (dir.mode & 0o022) !== 0) return;
  } catch {
    return;
  }
  module.enableCompileCache(join(root, 'compile'));
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
