/**
 * The index cache is shared between images. An image states digests it does not prove (a config's
 * diff_ids, a descriptor's digest): if the cache trusted them as keys, a hostile image could claim the
 * digest of a popular base layer and plant its own index under it, and every later image with the
 * real layer would be served the hostile tree. Digests are cache keys only once `verify` has checked
 * them; otherwise a layer is cached under the identity of the file that holds it.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { sha256Digest } from '../helpers/image-builder.js';
import { open, tempDir } from './hostile-helpers.js';
import { writeOciArchive } from './oci-writer.js';

const honest = buildLayer([file('bin/sh', '#!honest shell\n'), file('etc/os-release', 'ID=honest\n')]);
const hostile = buildLayer([file('evil', 'planted\n')]);

describe('a hostile image cannot poison the index cache for honest ones', () => {
  it('a config that claims the diff_id of another layer', async () => {
    const tmp = tempDir();
    const cache = join(tmp, 'cache');
    const hostilePath = join(tmp, 'hostile.tar');
    await writeOciArchive(hostilePath, { layers: [{ bytes: hostile, diffId: sha256Digest(honest) }] });
    const honestPath = join(tmp, 'honest.tar');
    await writeOciArchive(honestPath, { layers: [{ bytes: honest }] });

    const first = await open(hostilePath, { cache });
    expect(await first.readdir('/')).toEqual(['evil']);
    await first.close();

    const second = await open(honestPath, { cache });
    expect(await second.readdir('/')).toEqual(['bin', 'etc']);
    expect(await second.readFile('/bin/sh', 'utf8')).toBe('#!honest shell\n');
  });

  it('a descriptor that claims the blob digest of another layer (no diff_ids)', async () => {
    const tmp = tempDir();
    const cache = join(tmp, 'cache');
    const hostilePath = join(tmp, 'hostile.tar');
    // The hostile blob is stored under the honest blob's digest; no config diff_ids, no size.
    await writeOciArchive(hostilePath, {
      layers: [{ bytes: hostile }],
      config: (config) => ({ ...config, rootfs: undefined }),
      manifest: (manifest) => ({
        ...manifest,
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256Digest(honest) }],
      }),
      extra: [{ name: `blobs/sha256/${sha256Digest(honest).slice(7)}`, data: hostile }],
    });
    const honestPath = join(tmp, 'honest.tar');
    await writeOciArchive(honestPath, { layers: [{ bytes: honest }], config: (config) => ({ ...config, rootfs: undefined }) });

    const first = await open(hostilePath, { cache });
    expect(await first.readdir('/')).toEqual(['evil']);
    await first.close();

    const second = await open(honestPath, { cache });
    expect(await second.readdir('/')).toEqual(['bin', 'etc']);
  });

  it('with verify, the hostile image is refused and leaves nothing in the cache; honest images then share it', async () => {
    const tmp = tempDir();
    const cache = join(tmp, 'cache');
    const hostilePath = join(tmp, 'hostile.tar');
    await writeOciArchive(hostilePath, { layers: [{ bytes: hostile, diffId: sha256Digest(honest) }] });
    const honestPath = join(tmp, 'honest.tar');
    await writeOciArchive(honestPath, { layers: [{ bytes: honest }] });

    await expect(open(hostilePath, { cache, verify: true })).rejects.toMatchObject({ code: 'EDIGEST' });
    const verified = await open(honestPath, { cache, verify: true });
    expect(await verified.readdir('/')).toEqual(['bin', 'etc']);
    const again = await open(honestPath, { cache, verify: true });
    expect(await again.readFile('/etc/os-release', 'utf8')).toBe('ID=honest\n');
  });

  it('re-opening the same unverified file still hits the cache', async () => {
    const tmp = tempDir();
    const cache = join(tmp, 'cache');
    const path = join(tmp, 'image.tar');
    await writeOciArchive(path, { layers: [{ bytes: honest }] });
    const { readdirSync } = await import('node:fs');
    await (await open(path, { cache })).close();
    const files = readdirSync(join(cache, readdirSync(cache)[0] as string));
    expect(files.filter((name) => name.endsWith('.idx'))).toHaveLength(1);
    await (await open(path, { cache })).close();
    expect(readdirSync(join(cache, readdirSync(cache)[0] as string))).toEqual(files);
  });
});
