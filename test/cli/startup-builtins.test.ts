/**
 * A warm lookup loads only the built-in modules it uses (issue #14: start-up is most of a warm `cat`).
 * node:crypto alone costs ~6 ms to load; a warm `cat` of a docker archive hashes nothing, so nothing
 * may import it at start-up (lib/lazy-crypto.ts) and cache file names are hashed without it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { imgfs } from './run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'imgfs-startup-builtins-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Preloaded into the CLI's process: at exit, says on stderr which public built-ins were loaded.
const probe = join(scratch, 'probe.mjs');
writeFileSync(
  probe,
  "process.on('exit', () => process.stderr.write(`builtins: ${process.moduleLoadList.filter((m) => /^NativeModule [a-z]/.test(m) && !m.includes('internal/')).map((m) => m.slice(13)).join(' ')}\\n`));\n",
);

async function builtinsOf(args: string[]): Promise<string[]> {
  const result = await imgfs(args, { NODE_OPTIONS: `--import=${pathToFileURL(probe).href}` });
  expect(result.code).toBe(0);
  const line = result.stderr.split('\n').find((text) => text.startsWith('builtins: '));
  expect(line).toBeDefined();
  return (line ?? '').slice('builtins: '.length).split(' ');
}

describe('start-up', () => {
  it('a warm cat of a docker archive does not load node:crypto', async () => {
    const cache = join(scratch, 'cache');
    const args = ['cat', '--cache-dir', cache, 'fixtures/demo/demo.tar', '/etc/os-release'];
    await builtinsOf(args); // fills the cache (and may hash: a temporary file's random name)
    const warm = await builtinsOf(args);
    // The probe itself sees the modules the command loaded (fs is always there: a check of the probe).
    expect(warm).toContain('fs');
    expect(warm).not.toContain('crypto');
  });

  it('a command that hashes still gets node:crypto when it needs it', async () => {
    const loaded = await builtinsOf(['scan', '--hash', 'sha256', '--json', 'fixtures/demo/demo.tar']);
    expect(loaded).toContain('crypto');
  });
});
