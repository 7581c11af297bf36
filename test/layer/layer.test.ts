import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { bareLayer } from '../../lib/image/bare-layers.js';
import type { LayerBlob } from '../../lib/image/loaded-image.js';
import { fileHolding, layerIdentity } from '../../lib/layer/cache-identity.js';
import { Layer, type LayerContext } from '../../lib/layer/layer.js';
import type { LayerReader, LayerReaderFactory } from '../../lib/layer/layer-reader.js';
import { resolveLimits } from '../../lib/limits.js';
import { FileSource } from '../../lib/source/file-source.js';
import { SliceSource } from '../../lib/source/slice-source.js';
import { TableCache } from '../../lib/table/table-cache.js';
import { LayerTable, type TableEntry } from '../../lib/table/layer-table.js';
import { walkTar } from '../../lib/tar/walk-tar.js';
import { expectImgfsError } from '../helpers/expect-imgfs-error.js';
import { buildLayer, dir, file } from '../helpers/layer-tar.js';

const scratch = mkdtempSync(join(tmpdir(), 'imgfs-layer-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const content = 'the quick brown fox jumps over the lazy dog\n'.repeat(50);
const tar = buildLayer([dir('etc/'), file('etc/fox.txt', content), file('etc/empty', '')]);
const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A gzip layer in a file of its own, with the digests an image would state for it. */
async function storedLayer(facts: Partial<LayerBlob> = {}): Promise<LayerBlob> {
  const path = join(scratch, `layer-${Math.random().toString(36).slice(2)}.tar.gz`);
  const stored = gzipSync(tar);
  writeFileSync(path, stored);
  const source = await FileSource.open(path);
  onTestFinished(() => source.close());
  return { ...bareLayer(source, path), digest: sha256(stored), diffId: sha256(tar), ...facts };
}

function context(extra: Partial<LayerContext> = {}): LayerContext {
  return { cache: undefined, verify: false, limits: resolveLimits(undefined), warn: () => {}, cacheBytes: 8 << 20, holder: undefined, ...extra };
}

async function opened(blob: LayerBlob, extra: Partial<LayerContext> = {}): Promise<Layer> {
  const layer = await Layer.open(blob, context(extra));
  onTestFinished(() => layer.close());
  return layer;
}

describe('Layer', () => {
  it('states its descriptor facts at once, and its counts once indexed, with progress ending at the stored size', async () => {
    const blob = await storedLayer({ createdBy: 'COPY fox /etc', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
    const layer = await opened(blob);
    expect(layer.info).toEqual({
      index: 0,
      digest: blob.digest,
      diffId: blob.diffId,
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      compression: 'gzip',
      size: blob.size,
      uncompressedSize: undefined,
      entries: undefined,
      whiteouts: undefined,
      createdBy: 'COPY fox /etc',
    });
    const walked: number[] = [];
    const table = await layer.index((bytes) => walked.push(bytes));
    expect(table.get('etc/fox.txt')?.size).toBe(content.length);
    expect(layer.info).toMatchObject({ entries: 3, whiteouts: 0, uncompressedSize: tar.length });
    expect(walked.at(-1)).toBe(blob.size);
  });

  it('reads an entry’s bytes, whole, in part, and as a stream', async () => {
    const layer = await opened(await storedLayer());
    const entry = (await layer.index()).get('etc/fox.txt') as TableEntry;
    expect((await layer.read(entry, 0, entry.size)).toString()).toBe(content);
    expect((await layer.read(entry, 4, 9)).toString()).toBe('quick');
    expect((await layer.read(entry, 9, 9)).length).toBe(0);
    expect(await text(layer.stream(entry, 10, 19))).toBe('brown fox');
    expect(await text(layer.stream(entry, 0, entry.size))).toBe(content);
  });

  it('verify() checks the blob digest and the diff_id, naming the layer', async () => {
    await (await opened(await storedLayer())).verify();
    const wrongDiffId = await opened(await storedLayer({ diffId: sha256(Buffer.from('another tar')) }));
    await expectImgfsError(wrongDiffId.verify(), { code: 'EDIGEST', layer: 0, message: 'diff_id' });
    const wrongDigest = await opened(await storedLayer({ digest: sha256(Buffer.from('another blob')) }));
    await expectImgfsError(wrongDigest.verify(), { code: 'EDIGEST', layer: 0, message: 'blob digest' });
  });

  it('with verify, index() fails on a wrong digest and leaves nothing in the cache', async () => {
    const cacheDir = join(scratch, 'cache-verify');
    const cache = new TableCache(cacheDir, () => {});
    const blob = await storedLayer({ diffId: sha256(Buffer.from('another tar')) });
    const layer = await opened(blob, { cache, verify: true, holder: blob.location });
    await expectImgfsError(layer.index(), { code: 'EDIGEST', layer: 0 });
    expect(await cache.load(`diff-id ${blob.diffId}`)).toBeUndefined();
  });
});

describe('cache identity', () => {
  it('keys a layer by its digests only once they are verified, else by the file that holds it', async () => {
    const blob = await storedLayer();
    const claimed = await layerIdentity(blob, blob.location, false);
    expect(claimed.table).toMatch(/^file /);
    expect(claimed.table).toContain(blob.location);
    expect(claimed.storedBytes).toBe(claimed.table);
    expect(await layerIdentity(blob, blob.location, true)).toEqual({ table: `diff-id ${blob.diffId}`, storedBytes: `blob ${blob.digest}` });
    // Without a diff_id, a verified blob digest names the table too.
    expect((await layerIdentity({ ...blob, diffId: undefined }, blob.location, true)).table).toBe(`blob ${blob.digest}`);
  });

  it('has no key for a layer that no file on disk holds and no verified digest names', async () => {
    const blob = await storedLayer();
    expect(await layerIdentity(blob, join(scratch, 'no-such-file'), false)).toEqual({ table: undefined, storedBytes: undefined });
    expect(await layerIdentity(blob, undefined, false)).toEqual({ table: undefined, storedBytes: undefined });
  });

  it('finds the file that holds a layer: its own file, a blob of an OCI directory, or the archive', () => {
    const blob = bareLayer({ name: 'x', size: 1, seekable: true } as never, 'blobs/sha256/ab');
    expect(fileHolding(blob, { format: 'layers', archive: 'ignored' })).toBe('blobs/sha256/ab');
    expect(fileHolding(blob, { format: 'oci-dir', archive: '/images/app' })).toBe('/images/app/blobs/sha256/ab');
    expect(fileHolding(blob, { format: 'docker-archive', archive: '/images/app.tar' })).toBe('/images/app.tar');
  });
});

describe('a LayerReader plugged in', () => {
  /**
   * A made-up storage: `FAKE` followed by a plain tar. Its reader recognises the magic, builds the
   * table from the tar behind it and counts what the Layer asks of it.
   */
  const calls = { build: 0, read: 0, persist: 0, verify: 0, close: 0 };
  const fake: LayerReaderFactory = async (stored, context) => {
    if (!(await stored.read(0, 4)).equals(Buffer.from('FAKE'))) return undefined;
    const tarStream = new SliceSource(stored, 4, (stored.size ?? 4) - 4, 'fake tar');
    const reader: LayerReader = {
      compression: 'none',
      tar: tarStream,
      buildTable: (options) => {
        calls.build++;
        return LayerTable.build(walkTar(tarStream), { maxEntries: options.limits.maxEntries, onWarning: options.warn, layer: options.layer });
      },
      readData: (entry, offset, length) => {
        calls.read++;
        return tarStream.read(entry.dataOffset + offset, length);
      },
      persist: async () => {
        calls.persist++;
        expect(context.sidecar).toBeDefined();
      },
      verify: async () => {
        calls.verify++;
      },
      close: async () => {
        calls.close++;
      },
    };
    return reader;
  };

  it('is used for the table and for entry bytes, with cache and verify around it from the Layer', async () => {
    const path = join(scratch, 'fake-layer');
    writeFileSync(path, Buffer.concat([Buffer.from('FAKE'), tar]));
    const source = await FileSource.open(path);
    onTestFinished(() => source.close());
    const blob: LayerBlob = { ...bareLayer(source, path), diffId: sha256(tar) };
    const cache = new TableCache(join(scratch, 'cache-fake'), () => {});
    const first = await opened(blob, { cache, verify: true, holder: path, readers: [fake] });
    const entry = (await first.index()).get('etc/fox.txt') as TableEntry;
    expect((await first.read(entry, 4, 9)).toString()).toBe('quick');
    expect(calls).toMatchObject({ build: 1, read: 1, persist: 1, verify: 1 });
    await first.close();
    expect(calls.close).toBe(1);

    // A second open finds the table in the cache (verified, so keyed by the diff_id): not built again.
    const second = await opened(blob, { cache, verify: true, holder: path, readers: [fake] });
    expect((await second.index()).get('etc/fox.txt')?.size).toBe(content.length);
    expect(calls).toMatchObject({ build: 1, persist: 1, verify: 2 });
    expect(second.info).toMatchObject({ compression: 'none', entries: 3 });

    // Any other layer falls through to the tar pass.
    const plain = await opened(await storedLayer(), { readers: [fake] });
    expect(plain.info.compression).toBe('gzip');
  });
});
