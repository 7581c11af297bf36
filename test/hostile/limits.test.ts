/**
 * The safety limits of `OpenOptions.limits`: each has a default that no honest image reaches, each is
 * reported as ELIMIT naming the limit and the option that raises it, and each can be raised (or turned
 * off with Infinity). The outer archive of a docker save or OCI tar obeys the same limits as a layer.
 */
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { buildLayer, file, symlink, writeChecksum, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { packTar, writeImage } from '../helpers/image-builder.js';
import { expectOpenFails, fdCount, heapUsed, open, put, rejection, tempDir } from './hostile-helpers.js';
import { writeOciDir } from './oci-writer.js';

const base = buildLayer([file('base', 'b')]);

function layerFiles(layers: Buffer[]): string[] {
  const tmp = tempDir();
  return layers.map((layer, i) => put(tmp, `l${i}.tar`, layer));
}

describe('maxEntries (default 5 000 000)', () => {
  const entries: LayerEntrySpec[] = Array.from({ length: 300 }, (_, i) => file(`f${i}`, ''));
  const many = buildLayer(entries);

  it('a layer with more members is ELIMIT at the first member past the limit', async () => {
    const paths = layerFiles([base, many]);
    await expectOpenFails(paths, {
      code: 'ELIMIT',
      layer: 1,
      offset: 100 * 512,
      message: 'layer has more than 100 entries; raise the limit with option maxEntries',
    }, { limits: { maxEntries: 100 } });
  });

  it('raised, the same layer opens', async () => {
    const fs = await open(layerFiles([base, many]), { limits: { maxEntries: 301 } });
    expect(fs.layers[1]?.entries).toBe(300);
  });

  it('an outer archive with more members than the limit is ELIMIT too', async () => {
    const tmp = tempDir();
    const path = await writeImage(tmp, [base], { format: 'oci-archive' });
    await expectOpenFails(path, { code: 'ELIMIT', archive: path, offset: true, message: 'the archive has more than 3 members; raise the limit with option maxEntries' }, { limits: { maxEntries: 3 } });
  });
});

describe('maxPaxSize (default 1 MiB)', () => {
  const bigPax = buildLayer([file('a', 'x', { pax: { comment: 'c'.repeat(2 * 1024 * 1024) } })]);

  it('a PAX header above the default is ELIMIT naming maxPaxSize and its offset', async () => {
    const error = await expectOpenFails(layerFiles([base, bigPax]), {
      code: 'ELIMIT',
      layer: 1,
      offset: 0,
      message: /PAX extended header of 2097\d+ bytes exceeds maxPaxSize \(1048576\); raise the maxPaxSize option to accept it/,
    });
    expect(error.reason).toContain('maxPaxSize');
  });

  it('raised, it is read', async () => {
    const fs = await open(layerFiles([base, bigPax]), { limits: { maxPaxSize: 4 * 1024 * 1024 } });
    expect(await fs.readFile('/a', 'utf8')).toBe('x');
  });

  it('lowered, a small one is refused', async () => {
    const layer = buildLayer([file('a', 'x', { pax: { comment: 'c'.repeat(600) } })]);
    await expectOpenFails(layerFiles([layer]), { code: 'ELIMIT', layer: 0, offset: 0, message: 'exceeds maxPaxSize (512)' }, { limits: { maxPaxSize: 512 } });
  });
});

describe('maxNameLength (default 16 KiB)', () => {
  it('a member name, a GNU long name and a link name are each limited', async () => {
    const long = 'n'.repeat(300);
    for (const [layer, what] of [
      [buildLayer([file(long, 'x')]), 'member name of 300 bytes'],
      [buildLayer([file(long, 'x')], { longNames: 'gnu' }), 'GNU long name of 301 bytes'],
      [buildLayer([symlink('l', long)]), 'link name of 300 bytes'],
    ] as const) {
      await expectOpenFails(layerFiles([layer]), { code: 'ELIMIT', layer: 0, offset: 0, message: `${what} exceeds maxNameLength (200)` }, { limits: { maxNameLength: 200 } });
    }
  });

  it('a 16 KiB name opens by default; one byte more is refused', async () => {
    const name = 'x'.repeat(16 * 1024);
    const fs = await open(layerFiles([buildLayer([file(name, 'ok')])]));
    expect(await fs.readFile(`/${name}`, 'utf8')).toBe('ok');
    await expectOpenFails(layerFiles([buildLayer([file(`${name}y`, 'no')])]), { code: 'ELIMIT', layer: 0, message: 'maxNameLength (16384)' });
  });
});

describe('maxRatio (default 1100, plus 64 MiB)', () => {
  /** A gzip layer: one file of `size` zeros (a 1000:1 stream). */
  function zeros(size: number): Buffer {
    const header = Buffer.from(buildLayer([file('zeros', '')]).subarray(0, 512));
    header.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
    writeChecksum(header);
    return gzipSync(Buffer.concat([header, Buffer.alloc(size + (512 - (size % 512)) + 1024)]));
  }

  it('a layer beyond the ratio is ELIMIT naming maxRatio; raised or Infinity, it opens', async () => {
    const tmp = tempDir();
    const path = put(tmp, 'zeros.tar.gz', zeros(70 * 1024 * 1024));
    const error = await expectOpenFails([path], { code: 'ELIMIT', layer: 0, offset: true, message: 'decompressed size exceeds 1× the compressed size (gzip bomb?); raise with option maxRatio' }, { limits: { maxRatio: 1 } });
    expect(error.offset).toBeLessThanOrEqual(70 * 1024 * 1024);
    const fs = await open([path], { limits: { maxRatio: Infinity } });
    expect((await fs.stat('/zeros')).size).toBe(70 * 1024 * 1024);
    const byDefault = await open([path]);
    expect((await byDefault.stat('/zeros')).size).toBe(70 * 1024 * 1024);
  });

  it('a compressed outer archive (docker save | gzip) obeys maxRatio too', async () => {
    const tmp = tempDir();
    const outer = await packTar([
      { name: 'manifest.json', data: '[]' },
      { name: 'pad', data: Buffer.alloc(70 * 1024 * 1024) },
    ]);
    const path = put(tmp, 'image.tar.gz', gzipSync(outer));
    await expectOpenFails(path, { code: 'ELIMIT', archive: path, message: 'raise with option maxRatio' }, { limits: { maxRatio: 1 } });
  });
});

describe('maxLayers (default 256)', () => {
  const layer = buildLayer([file('a', 'a')]);
  const manyLayers = async (count: number): Promise<string> => {
    const root = join(tempDir(), 'oci');
    await writeOciDir(root, { layers: Array.from({ length: count }, () => ({ bytes: layer })), config: (c) => ({ ...c, rootfs: undefined, history: [] }) });
    return root;
  };

  it('an OCI image listing 300 layers is ELIMIT before any blob is opened', async () => {
    const root = await manyLayers(300);
    const before = fdCount();
    await expectOpenFails(root, { code: 'ELIMIT', archive: root, message: 'the image has 300 layers, more than maxLayers (256); raise the limit with option maxLayers' });
    expect(fdCount()).toBeLessThanOrEqual(before);
  });

  it('raised, it opens, and one blob listed 300 times holds one file descriptor', async () => {
    const root = await manyLayers(300);
    const before = fdCount();
    const fs = await open(root, { limits: { maxLayers: 300 } });
    expect(fs.layers).toHaveLength(300);
    expect(fdCount() - before).toBeLessThanOrEqual(2);
  });

  it('bare layers and docker saves obey it too', async () => {
    await expectOpenFails(layerFiles([base, base, base]), { code: 'ELIMIT', message: 'the image has 3 layers, more than maxLayers (2)' }, { limits: { maxLayers: 2 } });
    const image = await writeImage(tempDir(), [base, base, base], { format: 'docker-archive' });
    await expectOpenFails(image, { code: 'ELIMIT', member: 'manifest.json', message: 'more than maxLayers (2)' }, { limits: { maxLayers: 2 } });
    const legacy = await writeImage(tempDir(), [base, base, base], { format: 'docker-legacy' });
    await expectOpenFails(legacy, { code: 'ELIMIT', message: 'more than maxLayers (2)' }, { limits: { maxLayers: 2 } });
  });
});

describe('memory does not grow with the layer count', () => {
  it('20 gzip layers of 20 MiB of zeros each (20 KiB compressed) keep well under 20 × 20 MiB decoded', async () => {
    const header = Buffer.from(buildLayer([file('zeros', '')]).subarray(0, 512));
    header.write(`${(20 * 1024 * 1024).toString(8).padStart(11, '0')}\0`, 124, 'latin1');
    writeChecksum(header);
    const gz = gzipSync(Buffer.concat([header, Buffer.alloc(20 * 1024 * 1024 + 1024)]), { level: 9 });
    const tmp = tempDir();
    const paths = Array.from({ length: 20 }, (_, i) => put(tmp, `l${i}.tar.gz`, gz));
    const before = heapUsed();
    const fs = await open(paths);
    expect(fs.layers).toHaveLength(20);
    expect(heapUsed() - before).toBeLessThan(150 * 1024 * 1024);
  });
});

describe('limit values', () => {
  it.each([0, -1, Number.NaN, '10' as unknown as number])('limits.maxEntries = %s is a RangeError, before anything is opened', async (value) => {
    const error = await rejection(openImage(join(tempDir(), 'never-opened.tar'), { cache: false, limits: { maxEntries: value } }));
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toContain('limits.maxEntries must be a number above 0');
  });
});
