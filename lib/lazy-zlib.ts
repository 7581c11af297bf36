/**
 * node:zlib, loaded at the first call instead of at start-up. An `import … from 'node:zlib'` in any
 * module of the bundled CLI makes every command load it and node:stream under it (~4 ms of a ~40 ms
 * top-layer `cat`, issue #14), though a docker-archive lookup with --no-cache decodes nothing and
 * checks no CRC. Call it where the zlib function or constant is used, not at a module's top level.
 */
export function zlib(): typeof import('node:zlib') {
  return process.getBuiltinModule('node:zlib');
}
