/**
 * Mutated image metadata: manifest.json, index.json, image manifests and configs changed byte by byte
 * or value by value (any JSON value put anywhere: strings where arrays belong, `../` in digests, huge
 * numbers), and whole outer archives mutated with their header checksums repaired. Every outcome is a
 * view or a typed error, and no file outside the image is ever opened.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { walkTar } from '../../../lib/tar/walk-tar.js';
import { BufferSource } from '../../../lib/source/buffer-source.js';
import { buildLayer, file, whiteout } from '../../helpers/layer-tar.js';
import { packTar, sha256Digest, writeImage } from '../../helpers/image-builder.js';
import { hostileOci, type HostileOciSpec } from '../oci-writer.js';
import { check, exercise, fixChecksums, mutate, mutationsArb, propertyTimeout } from './fuzz-harness.js';

const layers = [buildLayer([file('etc/os-release', 'ID=fuzz\n'), file('bin/app', 'app')]), buildLayer([whiteout('bin/app'), file('etc/motd', 'hi\n')])];

const dir0 = mkdtempSync(join(tmpdir(), 'imgfs-fuzz-meta-'));
afterAll(() => rmSync(dir0, { recursive: true, force: true }));
let counter = 0;
function fresh(): string {
  const dir = join(dir0, String(counter++));
  mkdirSync(dir);
  return dir;
}

/** Header offsets of an outer tar, for repairing checksums after a mutation. */
async function headerOffsets(tar: Buffer): Promise<number[]> {
  const offsets: number[] = [];
  for await (const entry of walkTar(new BufferSource(tar, 'outer'))) {
    for (let at = entry.headerOffset; at < entry.dataOffset; at += 512) offsets.push(at);
  }
  return offsets;
}

/** A JSON path into `value` (object keys and array indexes), drawn from its actual shape. */
function paths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(value)) value.forEach((item, i) => out.push(...paths(item, [...prefix, i])));
  else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) out.push(...paths(item, [...prefix, key]));
  }
  return out;
}

/** `document` with the value at `path` replaced (or, for the root, the whole document). */
function replaceAt(document: unknown, path: ReadonlyArray<string | number>, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy: unknown = structuredClone(document);
  let node: unknown = copy;
  for (const key of path.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return copy; // an earlier edit removed the path
    node = (node as Record<string | number, unknown>)[key];
  }
  if (typeof node === 'object' && node !== null) (node as Record<string | number, unknown>)[path[path.length - 1] as string | number] = replacement;
  return copy;
}

/** Values that hostile metadata uses: wrong types, escapes, huge and negative numbers. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    '../../../../etc/passwd',
    '/etc/passwd',
    'sha256:../../../etc/passwd',
    `sha256:${'0'.repeat(64)}`,
    'blobs/sha256/../../oci-layout',
    -1,
    2 ** 53,
    1e308,
    null,
    [],
    {},
    '',
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.oci.image.layer.v1.tar+zstd',
  ),
);

const SAMPLE_SPEC: HostileOciSpec = { layers: layers.map((bytes) => ({ bytes })) };
const baseDocuments = ((): Record<string, unknown> => {
  const oci = hostileOci(SAMPLE_SPEC);
  const byName = new Map(oci.entries.map((e) => [e.name, e.data]));
  const index = JSON.parse(String(byName.get('index.json'))) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(String(byName.get(`blobs/sha256/${(index.manifests[0] as { digest: string }).digest.slice(7)}`))) as { config: { digest: string } };
  const config = JSON.parse(String(byName.get(`blobs/sha256/${manifest.config.digest.slice(7)}`))) as unknown;
  return { index, manifest, config };
})();

type Target = 'index' | 'manifest' | 'config';
const edit = (target: Target): fc.Arbitrary<{ target: Target; path: Array<string | number>; value: unknown }> =>
  fc.record({ target: fc.constant(target), path: fc.constantFrom(...paths(baseDocuments[target])), value: hostileValue });

describe('fuzz: image metadata', () => {
  it('the unmutated images open (sanity)', async () => {
    for (const format of ['docker-archive', 'oci-archive', 'oci-dir', 'docker-legacy'] as const) {
      expect(await exercise(await writeImage(fresh(), layers, { format }))).toBe('view');
    }
  });

  it(
    'OCI directory: any JSON value anywhere in index.json, the manifest or the config',
    async () => {
      await check(
        'oci values',
        fc.array(fc.oneof(edit('index'), edit('manifest'), edit('config')), { minLength: 1, maxLength: 3 }),
        async (edits) => {
          const pick = (target: Target) => (document: Record<string, unknown>): unknown =>
            edits.filter((e) => e.target === target).reduce<unknown>((doc, e) => replaceAt(doc, e.path, e.value), document);
          const root = join(fresh(), 'oci');
          const oci = hostileOci({ ...SAMPLE_SPEC, index: pick('index'), manifest: pick('manifest'), config: pick('config') });
          for (const entry of oci.entries) {
            const path = join(root, entry.name);
            if (entry.type === 'directory') mkdirSync(path, { recursive: true });
            else {
              mkdirSync(dirname(path), { recursive: true });
              writeFileSync(path, entry.data ?? '');
            }
          }
          return exercise(root, { verify: edits.length % 2 === 0 });
        },
      );
    },
    propertyTimeout(),
  );

  it(
    'docker save: manifest.json mutated byte by byte',
    async () => {
      const manifest = JSON.stringify([{ Config: 'config.json', RepoTags: ['fuzz:1'], Layers: ['a/layer.tar', 'b/layer.tar'] }]);
      const config = JSON.stringify({ os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256Digest(l)) } });
      await check('manifest bytes', mutationsArb([0], 3), async (mutations) => {
        const tar = await packTar([
          { name: 'a/layer.tar', data: layers[0] as Buffer },
          { name: 'b/layer.tar', data: layers[1] as Buffer },
          { name: 'config.json', data: config },
          { name: 'manifest.json', data: mutate(Buffer.from(manifest), mutations) },
        ]);
        const path = join(fresh(), 'image.tar');
        writeFileSync(path, tar);
        return exercise(path);
      });
    },
    propertyTimeout(),
  );

  for (const format of ['docker-archive', 'oci-archive', 'docker-legacy'] as const) {
    it(
      `${format}: the whole outer tar mutated, checksums repaired`,
      async () => {
        const image = await writeImage(fresh(), layers, { format, compression: 'none' });
        const { readFileSync } = await import('node:fs');
        const original = readFileSync(image);
        const hot = await headerOffsets(original);
        await check(`${format} outer`, mutationsArb(hot, 3), async (mutations) => {
          const path = join(fresh(), 'image.tar');
          writeFileSync(path, fixChecksums(mutate(original, mutations), hot));
          return exercise(path);
        });
      },
      propertyTimeout(),
    );
  }
});
