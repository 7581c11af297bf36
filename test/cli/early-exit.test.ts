/**
 * A command that has left nothing under way ends with process.exit, not by Node's natural exit, which
 * first tears V8's heap down (~1 ms of a ~45 ms warm `cat`, issue #14). Only then: output still
 * buffered, or a cache file still being written, must never be cut short.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compressibleBytes } from '../source/helpers.js';
import { writeImage } from '../helpers/image-builder.js';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { imgfs, sh } from './run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'imgfs-early-exit-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Preloaded into the CLI's process: 'beforeExit' is emitted only when the event loop runs dry (a
// natural exit), never on process.exit; 'exit' on both.
const probe = join(scratch, 'probe.mjs');
writeFileSync(probe, "process.on('beforeExit', () => process.stderr.write('natural exit\\n')); process.on('exit', (code) => process.stderr.write(`exit ${code}\\n`));\n");
const probed = { NODE_OPTIONS: `--import=${pathToFileURL(probe).href}` };

/** The cache's files and their sizes (the code cache's left out: runs rewrite it by design). */
function cacheFiles(cache: string): Record<string, number> {
  const dir = readdirSync(cache).find((name) => /^v\d+$/.test(name)) ?? '';
  return Object.fromEntries(readdirSync(join(cache, dir)).map((name) => [name, statSync(join(cache, dir, name)).size]));
}

describe('the end of a run', () => {
  const big = compressibleBytes(3 * 1024 * 1024, 9);
  let image: string;

  beforeAll(async () => {
    image = (await writeImage(scratch, [buildLayer([file('big.bin', big), file('small.txt', 'hello\n')])], { format: 'oci-dir', compression: 'gzip' })) as string;
  });

  it('a warm cat ends at once, with its output whole (through a slow pipe too) and its status kept', async () => {
    const cache = join(scratch, 'cache');
    expect((await imgfs(['cat', '--cache-dir', cache, image, '/small.txt'], probed)).code).toBe(0);
    const warm = await imgfs(['cat', '--cache-dir', cache, image, '/small.txt'], probed);
    expect(warm.stdout).toBe('hello\n');
    expect(warm.stderr).toBe('exit 0\n');
    // Megabytes to a pipe: the last write may still be under way when the command is done; the
    // process then ends by itself once it is through. The second reader drains the pipe 512 bytes per
    // read, so the writes are still queued when the command is done.
    const large = await imgfs(['cat', '--cache-dir', cache, image, '/small.txt', '/big.bin'], probed);
    expect(large.code).toBe(0);
    expect(large.raw.equals(Buffer.concat([Buffer.from('hello\n'), big]))).toBe(true);
    const piped = await sh(`$IMGFS cat --cache-dir ${cache} ${image} /big.bin | dd bs=512 status=none | sha256sum`, probed);
    expect(piped.code).toBe(0);
    expect(piped.stdout.split(' ')[0]).toBe(createHash('sha256').update(big).digest('hex'));
    const failed = await imgfs(['cat', '--cache-dir', cache, image, '/missing', '/small.txt'], probed);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('hello\n');
    expect(failed.stderr).toMatch(/missing: No such file or directory\nexit 1\n$/);
  });

  it('a run that leaves cache files being written ends only once they are written', async () => {
    const cache = join(scratch, 'cache-cold');
    const cold = await imgfs(['cat', '--cache-dir', cache, image, '/big.bin'], probed);
    expect(cold.code).toBe(0);
    expect(cold.raw.equals(big)).toBe(true);
    const written = cacheFiles(cache);
    expect(Object.keys(written).some((name) => name.endsWith('.idx'))).toBe(true);
    expect(Object.keys(written).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    // The next run finds them whole: it writes nothing, warns of nothing.
    const warm = await imgfs(['cat', '--cache-dir', cache, image, '/small.txt'], probed);
    expect(warm.stdout).toBe('hello\n');
    expect(warm.stderr).toBe('exit 0\n');
    expect(cacheFiles(cache)).toEqual(written);
  });
});
