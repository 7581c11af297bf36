/**
 * V8 flags the CLI changes during a run, and putting them back. Change a V8 flag only through here,
 * never with node:v8's setFlagsFromString directly: V8 stamps a code cache with a hash of its flags
 * and refuses it under any others, and the launcher (bin/imgfs.js) writes the bundle's code cache at
 * the end of a run. A cache written while a flag was changed was refused by the next start (which
 * begins with V8's defaults) and written again: a `find`, which always changes one, never had a cache.
 */
const changed = new Map<string, string>();

/**
 * Sets `--name=value` for the rest of this run; `v8Default` is what a start has (see
 * `node --v8-options`). A flag given on Node's command line is the user's choice and left alone.
 */
export function setV8FlagForThisRun(name: string, value: string, v8Default: string): void {
  if (changed.has(name) || process.execArgv.some((arg) => arg.replaceAll('_', '-').startsWith(`--${name}`))) return;
  changed.set(name, v8Default);
  process.getBuiltinModule('node:v8').setFlagsFromString(`--${name}=${value}`);
}

/** Puts every flag changed by setV8FlagForThisRun back as a start has it (before a code cache is written). */
export function restoreV8Flags(): void {
  for (const [name, v8Default] of changed) process.getBuiltinModule('node:v8').setFlagsFromString(`--${name}=${v8Default}`);
  changed.clear();
}
