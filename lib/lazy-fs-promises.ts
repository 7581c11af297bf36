/**
 * node:fs/promises, loaded at the first call instead of at start-up. It pulls in readline, fs.Dir and
 * the fs watchers (~1 ms), and a warm lookup reads only small files, synchronously; an `import ... from
 * 'node:fs/promises'` in any module of the bundled CLI would make every command load it anyway.
 */
export function fsPromises(): typeof import('node:fs/promises') {
  return process.getBuiltinModule('node:fs/promises');
}
