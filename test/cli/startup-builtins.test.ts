/**
 * A warm lookup loads only the built-in modules it uses (issue #14: start-up is most of a warm `cat`).
 * node:crypto alone costs ~6 ms to load; a warm `cat` of a docker archive hashes nothing, so nothing
 * may import it at start-up (lib/lazy-crypto.ts) and cache file names are hashed without it.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_FORMAT_VERSION } from '../../lib/table/snapshot-codec.js';
import { compressibleBytes } from '../source/helpers.js';
import { writeImage } from '../helpers/image-builder.js';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { bin, cliEnv, imgfs } from './run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'imgfs-startup-builtins-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Preloaded into the CLI's process: at exit, says on stderr which public built-ins were loaded.
const probe = join(scratch, 'probe.mjs');
writeFileSync(
  probe,
  // The list is taken before process.stderr is touched: creating it (a pipe here) loads node:net.
  "process.on('exit', () => { const list = process.moduleLoadList.filter((m) => /^NativeModule [a-z]/.test(m) && !m.includes('internal/')).map((m) => m.slice(13)).join(' '); process.stderr.write(`builtins: ${list}\\n`); });\n",
);

async function builtinsOf(args: string[]): Promise<string[]> {
  const result = await imgfs(args, { NODE_OPTIONS: `--import=${pathToFileURL(probe).href}` });
  expect(result.code).toBe(0);
  const line = result.stderr.split('\n').find((text) => text.startsWith('builtins: '));
  expect(line).toBeDefined();
  return (line ?? '').slice('builtins: '.length).split(' ');
}

describe('start-up', () => {
  it('a warm cat of a docker archive does not load node:crypto or node:fs/promises', async () => {
    const cache = join(scratch, 'cache');
    const args = ['cat', '--cache-dir', cache, 'fixtures/demo/demo.tar', '/etc/os-release'];
    await builtinsOf(args); // fills the cache (and may hash: a temporary file's random name)
    const warm = await builtinsOf(args);
    // The probe itself sees the modules the command loaded (fs is always there: a check of the probe).
    expect(warm).toContain('fs');
    expect(warm).not.toContain('crypto');
    // Nor node:worker_threads: table workers are started (and it loaded) only for indexing.
    expect(warm).not.toContain('worker_threads');
    // Nor node:perf_hooks (~1 ms): lru-cache reads the global `performance` at import, for TTLs that
    // imgfs never sets; the bundle is built with that global defined away (package.json, build).
    expect(warm).not.toContain('perf_hooks');
    // Nor node:fs/promises (~1 ms with the readline and fs-watch modules it loads): small files are read
    // with synchronous calls on plain descriptors, and the cache's writers load it when they write.
    expect(warm).not.toContain('fs/promises');
  });

  it('the launcher loads no fs streams: an ES module import of node:fs would (its namespace reads fs.ReadStream)', async () => {
    const cache = join(scratch, 'cache-streams');
    const args = ['cat', '--cache-dir', cache, 'fixtures/demo/demo.tar', '/etc/os-release'];
    const everything = join(scratch, 'probe-internal.mjs');
    writeFileSync(everything, "process.on('exit', () => { process.stderr.write(`modules: ${process.moduleLoadList.join(',')}\\n`); });\n");
    const modulesOf = async (): Promise<string[]> => {
      const result = await imgfs(args, { NODE_OPTIONS: `--import=${pathToFileURL(everything).href}` });
      expect(result.code).toBe(0);
      return (result.stderr.split('\n').find((text) => text.startsWith('modules: ')) ?? '').slice('modules: '.length).split(',');
    };
    await modulesOf();
    const warm = await modulesOf();
    expect(warm).toContain('NativeModule fs');
    expect(warm).not.toContain('NativeModule internal/fs/streams');
  });

  it('the CLI bundle is ASCII, so that every start reads it as a one-byte string', () => {
    // One non-ASCII character (a comment's dash or arrow: esbuild escapes them in strings, not in the
    // comments it keeps) makes V8 hold the 570 KB source as two-byte text, decoded the slow way (~1 ms).
    const source = readFileSync(join(dirname(bin), '..', 'dist', 'imgfs-cli.js'), 'latin1');
    const lines = source.split('\n');
    const offending = lines.flatMap((line, i) => (/[^\x00-\x7f]/.test(line) ? [`${i + 1}: ${line.trim()}`] : []));
    expect(lines.length).toBeGreaterThan(1000);
    expect(offending).toEqual([]);
  });

  it('a warm cat that succeeds never creates process.stderr (a pipe there would load node:net)', async () => {
    const cache = join(scratch, 'cache-stderr');
    const args = [bin, 'cat', '--cache-dir', cache, 'fixtures/demo/demo.tar', '/etc/os-release'];
    await builtinsOf(args.slice(1));
    // stdout to a file (as `> out` does), stderr a pipe; the probe's own line is the only thing on it.
    const out = join(scratch, 'out');
    const fd = openSync(out, 'w');
    const child = spawnSync(process.execPath, args, { stdio: ['ignore', fd, 'pipe'], env: cliEnv({ NODE_OPTIONS: `--import=${pathToFileURL(probe).href}` }) });
    closeSync(fd);
    expect(child.status).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('ID=');
    const stderr = child.stderr.toString();
    expect(stderr).toMatch(/^builtins: .*\bfs\b/);
    expect(stderr.slice('builtins: '.length).trim().split(' ')).not.toContain('net');
  });

  it('a warm cat from a gzip layer, resumed at a cached checkpoint, does not load node:crypto or node:fs/promises', async () => {
    // 6 MB before the file: the first pass records checkpoints (every 2 MiB), and the warm read
    // imports them and starts from one (their file's checksum is a CRC-32, not a sha256).
    const layer = buildLayer([file('big.txt', compressibleBytes(6 * 1024 * 1024, 3)), file('etc/motd', 'hello from far in\n')]);
    const image = await writeImage(join(scratch, 'gzip'), [layer], { format: 'oci-dir', compression: 'gzip' });
    const cache = join(scratch, 'cache-gzip');
    const args = ['cat', '--cache-dir', cache, image, '/etc/motd'];
    await builtinsOf(args);
    expect(readdirSync(join(cache, `v${SNAPSHOT_FORMAT_VERSION}`)).some((name) => name.endsWith('.ckpt'))).toBe(true);
    const warm = await builtinsOf(args);
    expect(warm).toContain('zlib');
    expect(warm).not.toContain('crypto');
    expect(warm).not.toContain('fs/promises');
  });

  it('node:v8 (young-generation tuning) is loaded by walks and by indexing, never by a warm answer', async () => {
    // 600 members: the indexing pass reports progress before the layer is done (every 512 members).
    const layer = buildLayer(Array.from({ length: 600 }, (_, i) => file(`srv/f${String(i).padStart(4, '0')}`, `${i}\n`)));
    const image = await writeImage(join(scratch, 'many'), [layer], { format: 'docker-archive' });
    const cache = join(scratch, 'cache-v8');
    const args = ['cat', '--cache-dir', cache, image, '/srv/f0599'];
    expect(await builtinsOf(args)).toContain('v8');
    expect(await builtinsOf(args)).not.toContain('v8');
    expect(await builtinsOf(['find', '--cache-dir', cache, image, '/srv'])).toContain('v8');
  });

  it('a cold lookup in an uncompressed image does not load node:zlib; one in a gzip image does', async () => {
    // node:zlib (and node:stream under it) cost ~4 ms of a ~35 ms top-layer `cat` when any module
    // imported it; a docker-archive lookup with --no-cache decodes nothing and checks no CRC.
    const docker = await builtinsOf(['cat', '--no-cache', 'fixtures/demo/demo.tar', '/etc/os-release']);
    expect(docker).toContain('fs');
    expect(docker).not.toContain('zlib');
    // The same question walked in every layer (a find) still decodes nothing.
    expect(await builtinsOf(['find', '--no-cache', 'fixtures/demo/demo.tar', '/'])).not.toContain('zlib');
    const layer = buildLayer([file('etc/motd', 'hello\n')]);
    const image = await writeImage(join(scratch, 'gzip-cold'), [layer], { format: 'oci-dir', compression: 'gzip' });
    expect(await builtinsOf(['cat', '--no-cache', image, '/etc/motd'])).toContain('zlib');
  });

  it('a cat into a file or /dev/null loads no node:stream: it writes the descriptor itself, as Node would', () => {
    const image = 'fixtures/demo/demo.tar';
    const expected = spawnSync(process.execPath, [bin, 'cat', '--no-cache', image, '/etc/os-release'], { env: cliEnv() }).stdout;
    expect(expected.toString()).toContain('ID=');
    const out = join(scratch, 'cat-out');
    for (const target of [out, '/dev/null']) {
      const fd = openSync(target, 'w');
      const child = spawnSync(process.execPath, [bin, 'cat', '--no-cache', image, '/etc/os-release'], {
        stdio: ['ignore', fd, 'pipe'],
        env: cliEnv({ NODE_OPTIONS: `--import=${pathToFileURL(probe).href}` }),
      });
      closeSync(fd);
      expect(child.status).toBe(0);
      const loaded = child.stderr.toString().replace(/^builtins: /, '').trim().split(' ');
      expect(loaded).toContain('fs');
      expect(loaded).not.toContain('stream');
    }
    expect(readFileSync(out)).toEqual(expected);
  });

  it('a cold cat tunes V8 (loads node:v8) before walking a large layer, even one of few members', async () => {
    // 9 MiB in 3 members: past the CLI's 8 MiB, and far from the 512 members after which a walk
    // reports progress (and a small layer's walk is tuned).
    const large = buildLayer([file('big/one', compressibleBytes(9 * 1024 * 1024, 5)), file('etc/motd', 'large\n'), file('etc/issue', 'x\n')]);
    const small = buildLayer([file('etc/motd', 'small\n')]);
    const largeImage = await writeImage(join(scratch, 'large-top'), [large], { format: 'docker-archive' });
    const smallImage = await writeImage(join(scratch, 'small-top'), [small], { format: 'docker-archive' });
    expect(await builtinsOf(['cat', '--no-cache', largeImage, '/etc/motd'])).toContain('v8');
    expect(await builtinsOf(['cat', '--no-cache', smallImage, '/etc/motd'])).not.toContain('v8');
  });

  it('a command that hashes still gets node:crypto when it needs it', async () => {
    const loaded = await builtinsOf(['scan', '--hash', 'sha256', '--json', 'fixtures/demo/demo.tar']);
    expect(loaded).toContain('crypto');
  });
});
