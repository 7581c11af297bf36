/**
 * Table workers (lib/layer/table-workers.ts): a lower uncompressed layer indexed on the second core
 * must give the table an in-thread pass gives, byte for byte, and the same typed errors; the wiring in
 * dist/ (where the worker script lives) must keep the lazy top-down rule. The images are real: umoci
 * builds three layers, skopeo writes them as a docker-archive (uncompressed layer tars in an outer tar).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImgfsError } from '../../lib/errors.js';
import { loadImage } from '../../lib/image/load-image.js';
import type { LoadedImage } from '../../lib/image/loaded-image.js';
import { Layer, type LayerContext } from '../../lib/layer/layer.js';
import { TableWorkers } from '../../lib/layer/table-workers.js';
import { resolveLimits } from '../../lib/limits.js';
import type { LayerTable } from '../../lib/table/layer-table.js';
import { encodeSnapshot } from '../../lib/table/snapshot-codec.js';
import type { ImgfsWarning } from '../../lib/warnings.js';
import type { openImage } from '../../lib/index.js';
import { buildLayer, dir, file, whiteout } from '../helpers/layer-tar.js';
import { checkImgfsError } from '../helpers/expect-imgfs-error.js';
import { onPath } from '../helpers/on-path.js';

const repo = resolve(import.meta.dirname, '../..');
/** The worker as dist/ has it (test/build-dist.ts builds dist/ before any test runs). */
const script = pathToFileURL(join(repo, 'dist/layer/table-worker.js'));
const haveTools = onPath('umoci') && onPath('skopeo');
const scratch = mkdtempSync(join(tmpdir(), 'imgfs-workers-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let archive = '';

/** umoci: a base layer, one that adds a file and whites one out, one that adds a file; skopeo: docker-archive. */
beforeAll(() => {
  if (!haveTools) return;
  const run = (tool: string, ...args: string[]): void => void execFileSync(tool, args, { cwd: scratch, stdio: 'pipe' });
  const rootfs = join(scratch, 'b/rootfs');
  run('umoci', 'init', '--layout', 'oci');
  run('umoci', 'new', '--image', 'oci:t');
  run('umoci', 'unpack', '--rootless', '--image', 'oci:t', 'b');
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  mkdirSync(join(rootfs, 'usr/lib/deep/er'), { recursive: true });
  writeFileSync(join(rootfs, 'etc/hostname'), 'base\n');
  for (let i = 0; i < 300; i++) writeFileSync(join(rootfs, `usr/lib/lib${i}.so`), `library ${i}\n`);
  writeFileSync(join(rootfs, 'usr/lib/deep/er/bottom.txt'), 'at the bottom\n');
  symlinkSync('lib1.so', join(rootfs, 'usr/lib/libone.so'));
  run('umoci', 'repack', '--refresh-bundle', '--image', 'oci:t', 'b');
  writeFileSync(join(rootfs, 'etc/middle'), 'middle\n');
  unlinkSync(join(rootfs, 'usr/lib/lib7.so'));
  run('umoci', 'repack', '--refresh-bundle', '--image', 'oci:t', 'b');
  writeFileSync(join(rootfs, 'etc/top'), 'top\n');
  run('umoci', 'repack', '--refresh-bundle', '--image', 'oci:t', 'b');
  run('skopeo', 'copy', '-q', 'oci:oci:t', `docker-archive:${join(scratch, 'image.tar')}:t:latest`);
  archive = join(scratch, 'image.tar');
}, 60_000);

function context(workers: TableWorkers | undefined, warnings: ImgfsWarning[] = []): LayerContext {
  return { cache: undefined, verify: false, limits: resolveLimits(undefined), warn: (w) => warnings.push(w), cacheBytes: 8 << 20, holder: undefined, workers };
}

async function openAll(image: LoadedImage, workers: TableWorkers | undefined, warnings?: ImgfsWarning[]): Promise<Layer[]> {
  return Promise.all(image.layers.map((blob) => Layer.open(blob, context(workers, warnings))));
}

/**
 * Indexes every layer on the worker: the main thread's one build slot is held by a build that waits,
 * so each offloadable layer goes to the worker, one after the other.
 */
async function indexOnWorker(layers: readonly Layer[], workers: TableWorkers): Promise<LayerTable[]> {
  let release = (): void => {};
  const held = workers.build(undefined, () => new Promise<never>((_, reject) => (release = () => reject(new Error('released')))), () => {});
  try {
    return await Promise.all(layers.map((layer) => layer.index()));
  } finally {
    release();
    await held.catch(() => undefined);
  }
}

const bytesOf = (table: LayerTable): Buffer => encodeSnapshot(table.snapshot());

describe.skipIf(!haveTools)('table workers', () => {
  it('build, for each layer of a real docker-archive, the table an in-thread pass builds, byte for byte', async () => {
    const image = await loadImage(archive);
    const workers = new TableWorkers(script, 1);
    try {
      expect(image.layers).toHaveLength(3);
      const inThread = await Promise.all((await openAll(image, undefined)).map((layer) => layer.index()));
      const onWorker = await indexOnWorker(await openAll(image, workers), workers);
      for (let i = 0; i < 3; i++) expect(bytesOf(onWorker[i] as LayerTable).equals(bytesOf(inThread[i] as LayerTable)), `layer ${i}`).toBe(true);
      // The worker's table answers lookups (names searched as bytes) as the in-thread one does.
      const [bottom] = onWorker as [LayerTable];
      expect(bottom.get('usr/lib/deep/er/bottom.txt')?.size).toBe(14);
      expect(bottom.get('usr/lib/lib299.so')?.kind).toBe('file');
      expect(bottom.get('usr/lib/nope')).toBeUndefined();
      expect(bottom.impliesDir('usr/lib/deep')).toBe(false);
      expect([...bottom.childrenOf('usr/lib/deep')]).toEqual(['er']);
    } finally {
      await workers.close();
      await image.close();
    }
  });

  it('raise, for a broken lower layer, the typed error an in-thread pass raises, naming archive, layer and offset', async () => {
    // The bottom layer's tar, taken out of the archive, with its second header's checksum broken.
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json']).toString()) as Array<{ Layers: string[] }>;
    const names = manifest[0]?.Layers ?? [];
    const paths = names.map((member, i) => {
      const path = join(scratch, `l${i}.tar`);
      writeFileSync(path, execFileSync('tar', ['-xOf', archive, member], { maxBuffer: 64 << 20 }));
      return path;
    });
    const broken = readFileSync(paths[0] as string);
    broken[512 + 1] = (broken[512 + 1] as number) ^ 0x20;
    writeFileSync(paths[0] as string, broken);
    const image = await loadImage(paths);
    const workers = new TableWorkers(script, 1);
    try {
      const failure = async (layers: Layer[]): Promise<unknown> => (layers[0] as Layer).index().then(() => undefined, (error: unknown) => error);
      const inThread = await failure(await openAll(image, undefined));
      const layers = await openAll(image, workers);
      let release = (): void => {};
      const held = workers.build(undefined, () => new Promise<never>((_, reject) => (release = () => reject(new Error('released')))), () => {});
      const onWorker = await failure(layers);
      release();
      await held.catch(() => undefined);
      checkImgfsError(onWorker, { code: 'ETARCORRUPT', layer: 0, offset: 512, archive: 'l0.tar' });
      expect(onWorker).toBeInstanceOf(ImgfsError);
      expect((onWorker as ImgfsError).message).toBe((inThread as ImgfsError).message);
      // The layers above it still index on the worker.
      const [, middle, top] = await indexOnWorker(layers.slice(1), workers).then((tables) => [undefined, ...tables]);
      expect(middle?.get('etc/middle')?.kind).toBe('file');
      expect(top?.get('etc/top')?.kind).toBe('file');
    } finally {
      await workers.close();
      await image.close();
    }
  });

  it('keep the lazy rule in the built library: a question the top layer answers indexes nothing below it', async () => {
    // dist/ is where the worker script is: the wiring there offloads (and indexes ahead), the TypeScript
    // sources do not. A top layer that has its own root and parents answers for /etc/top by itself.
    const dist = (await import(pathToFileURL(join(repo, 'dist/index.js')).href)) as { openImage: typeof openImage };
    const layers = [
      [dir('./'), dir('etc/'), file('etc/base', 'base\n'), dir('usr/'), file('usr/bottom', 'bottom\n')],
      [dir('etc/'), file('etc/middle', 'middle\n'), whiteout('etc/base')],
      [dir('./'), dir('etc/'), file('etc/top', 'top\n')],
    ].map((specs, i) => {
      const path = join(scratch, `lazy-${i}.tar`);
      writeFileSync(path, buildLayer(specs));
      return path;
    });
    const fs = await dist.openImage(layers, { cache: false, lazy: true });
    try {
      expect(await fs.readFile('/etc/top', 'utf8')).toBe('top\n');
      expect(fs.layers.map((layer) => layer.entries !== undefined)).toEqual([false, false, true]);
      expect(await fs.readFile('/usr/bottom', 'utf8')).toBe('bottom\n');
      expect(fs.layers.every((layer) => layer.entries !== undefined)).toBe(true);
      const walked: string[] = [];
      for await (const entry of fs.walk('/')) walked.push(`${entry.path} ${entry.stats.type} ${entry.stats.size}`);
      expect(walked).toEqual(['/etc dir 0', '/etc/middle file 7', '/etc/top file 4', '/usr dir 0', '/usr/bottom file 7']);
    } finally {
      await fs.close();
    }
  });
});
