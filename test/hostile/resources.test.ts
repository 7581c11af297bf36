/**
 * Resource hygiene: opening and closing an image (or failing to open a hostile one) a thousand times
 * leaks no file descriptor; `close()` releases everything and every later call rejects ECLOSED;
 * a thousand concurrent reads on one image all get their own bytes; nothing is left pending and no
 * error escapes as an unhandled rejection or an 'error' event nobody listens to.
 */
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage, type ImageFS } from '../../lib/index.js';
import { buildLayer, file, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { packTar, writeImage } from '../helpers/image-builder.js';
import { checkImgfsError, expectImgfsError, expectImgfsErrorSync } from '../helpers/expect-imgfs-error.js';
import { fdCount, patch, put, rejection, tempDir } from './hostile-helpers.js';

const escaped: unknown[] = [];
const onEscape = (error: unknown): void => {
  escaped.push(error);
};
beforeAll(() => {
  process.on('unhandledRejection', onEscape);
  process.on('uncaughtException', onEscape);
});
afterAll(() => {
  process.off('unhandledRejection', onEscape);
  process.off('uncaughtException', onEscape);
  expect(escaped).toEqual([]);
});

/** Distinct content for file i, of varied sizes (some span several 512-byte blocks and 1 MiB spans). */
function contentOf(i: number): Buffer {
  const size = i % 10 === 0 ? 70_000 + i : 1 + ((i * 37) % 3000);
  const out = Buffer.alloc(size);
  for (let b = 0; b < size; b++) out[b] = (i * 31 + b * 7) & 0xff;
  return out;
}

const FILES = 1_000;
const entries: LayerEntrySpec[] = Array.from({ length: FILES }, (_, i) => file(`files/${i}`, contentOf(i)));
const layers = [buildLayer(entries.slice(0, 500)), buildLayer(entries.slice(500))];

async function settleAll(fs: ImageFS, order: number[]): Promise<void> {
  const results = await Promise.all(order.map(async (i) => ({ i, bytes: await fs.readFile(`/files/${i}`) })));
  for (const { i, bytes } of results) {
    if (!bytes.equals(contentOf(i))) throw new Error(`/files/${i} read wrong bytes`);
  }
}

describe('1 000 concurrent readFile calls on one image', () => {
  const shuffled = Array.from({ length: FILES }, (_, i) => i).sort((a, b) => ((a * 7919) % FILES) - ((b * 7919) % FILES));

  it.each([
    ['uncompressed', 'layers', 'none'],
    ['gzip', 'oci-archive', 'gzip'],
    ['zstd', 'oci-dir', 'zstd'],
  ] as const)('%s layers: every call gets its own bytes', async (_name, format, compression) => {
    const image = await writeImage(tempDir(), layers, { format, compression });
    const fs = await openImage(image, { cache: false });
    try {
      await settleAll(fs, shuffled);
      // And again, while the caches are warm, in the opposite order.
      await settleAll(fs, [...shuffled].reverse());
    } finally {
      await fs.close();
    }
  });
});

describe('file descriptors', () => {
  it('opening and closing images 1 000 times leaks none', async () => {
    const tmp = tempDir();
    const small = [buildLayer([file('a', 'a')]), buildLayer([file('b', 'b')])];
    const images = [
      await writeImage(join(tmp, 'da'), small, { format: 'docker-archive' }),
      await writeImage(join(tmp, 'od'), small, { format: 'oci-dir', compression: 'gzip' }),
      await writeImage(join(tmp, 'oa'), small, { format: 'oci-archive', compression: 'zstd' }),
      await writeImage(join(tmp, 'ly'), small, { format: 'layers' }),
    ];
    const before = fdCount();
    for (let i = 0; i < 1_000; i++) {
      const fs = await openImage(images[i % images.length] as string | string[], { cache: false });
      if (i % 50 === 0) expect(await fs.readFile('/b', 'utf8')).toBe('b');
      await fs.close();
    }
    expect(fdCount()).toBeLessThanOrEqual(before);
  });

  it('failing to open hostile images 300 times leaks none', async () => {
    const tmp = tempDir();
    const good = buildLayer([file('a', 'x'.repeat(1000))]);
    const hostile = [
      // A layer whose header checksum fails, found after the outer archive and the other layer are open.
      await writeImage(join(tmp, 'h1'), [good, patch(good, 10, 'Z')], { format: 'oci-archive', compression: 'gzip' }),
      // A truncated gzip layer.
      put(tmp, 'cut.tar.gz', gzipSync(good).subarray(0, 40)),
      // A manifest that points outside the archive.
      put(tmp, 'escape.tar', await packTar([{ name: 'manifest.json', data: '[{"Config":"../c.json","Layers":[]}]' }])),
    ];
    const before = fdCount();
    for (let i = 0; i < 300; i++) {
      const source = hostile[i % hostile.length] as string;
      checkImgfsError(await rejection(openImage(i % 3 === 1 ? [source] : source, { cache: false })), {});
    }
    expect(fdCount()).toBeLessThanOrEqual(before);
  });

  it('streams destroyed half way leak nothing', async () => {
    const image = await writeImage(tempDir(), layers, { format: 'oci-archive', compression: 'gzip' });
    const before = fdCount();
    const fs = await openImage(image, { cache: false });
    for (let i = 0; i < 200; i += 10) {
      const stream = fs.createReadStream(`/files/${i}`);
      await new Promise<void>((resolve) => {
        stream.once('data', () => {
          stream.destroy();
          resolve();
        });
      });
    }
    await fs.close();
    expect(fdCount()).toBeLessThanOrEqual(before);
  });
});

describe('close()', () => {
  it('releases every descriptor, and every later call is ECLOSED', async () => {
    const image = await writeImage(tempDir(), layers, { format: 'layers', compression: 'gzip' });
    const before = fdCount();
    const fs = await openImage(image, { cache: false });
    expect(fdCount()).toBeGreaterThan(before);
    await fs.close();
    expect(fdCount()).toBe(before);
    await fs.close(); // twice is fine

    const calls: Array<[string, () => Promise<unknown>]> = [
      ['stat', () => fs.stat('/files/1')],
      ['readFile', () => fs.readFile('/files/1')],
      ['readdir', () => fs.readdir('/files')],
      ['readlink', () => fs.readlink('/files/1')],
      ['exists', () => fs.exists('/files/1')],
      ['walk', async () => {
        for await (const entry of fs.walk()) void entry;
      }],
    ];
    for (const [, call] of calls) await expectImgfsError(call, 'ECLOSED');
    expectImgfsErrorSync(() => fs.statSync('/files/1'), 'ECLOSED');
    const streamError = await new Promise<unknown>((resolve) => fs.createReadStream('/files/1').on('error', resolve).resume());
    checkImgfsError(streamError, 'ECLOSED');
  });

  it('settles reads in flight: each resolves with its bytes or rejects ECLOSED, none stays pending', async () => {
    const image = await writeImage(tempDir(), layers, { format: 'oci-archive', compression: 'gzip' });
    const fs = await openImage(image, { cache: false });
    const reads = Array.from({ length: 200 }, (_, i) => fs.readFile(`/files/${(i * 5) % FILES}`).then(
      (bytes) => ({ ok: true as const, bytes, i: (i * 5) % FILES }),
      (error: unknown) => ({ ok: false as const, error }),
    ));
    await fs.close();
    const results = await Promise.all(reads);
    for (const result of results) {
      if (result.ok) expect(result.bytes.equals(contentOf(result.i))).toBe(true);
      else checkImgfsError(result.error, 'ECLOSED');
    }
  });
});
