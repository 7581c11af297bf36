/**
 * A registry image is the same image: the demo pushed by skopeo to a real registry (plain HTTP on
 * 127.0.0.1) reads exactly as the local docker save it came from, fetched lazily by range.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { imageTree } from './image-tree.js';
import { writeImage } from '../helpers/image-builder.js';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { repoRoot } from '../cli/run-cli.js';
import { pushImage, startRegistry, type RunningRegistry } from './registry-server.js';

const DEMO = join(repoRoot, 'fixtures/demo/demo.tar');

let registry: RunningRegistry;
let cacheDir: string;

beforeAll(async () => {
  registry = await startRegistry();
  await pushImage(`docker-archive:${DEMO}`, registry.host, 'demo:latest');
  cacheDir = mkdtempSync(join(tmpdir(), 'imgfs-cache-'));
});

afterAll(async () => {
  await registry?.stop();
  if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
});

describe('docker:// on a plain-HTTP registry', () => {
  it('serves the same tree and bytes as the local archive', async () => {
    const local = await openImage(DEMO, { cache: false });
    const remote = await openImage(`docker://${registry.host}/demo:latest`, { cache: false });
    try {
      expect(remote.format).toBe('registry');
      expect(remote.layers.length).toBe(local.layers.length);
      expect(await imageTree(remote)).toEqual(await imageTree(local));
      expect(remote.config?.config?.Cmd).toEqual(local.config?.config?.Cmd);
    } finally {
      await remote.close();
      await local.close();
    }
  });

  it('names a missing tag and a missing repository with ENOTFOUND and the HTTP status', async () => {
    await expect(openImage(`docker://${registry.host}/demo:nope`, { cache: false })).rejects.toMatchObject({
      code: 'ENOTFOUND',
      message: expect.stringMatching(new RegExp(`manifest nope: HTTP 404 MANIFEST_UNKNOWN.*docker://${registry.host}/demo:nope`)),
    });
    await expect(openImage(`docker://${registry.host}/nothing/here`, { cache: false })).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('pins by digest, and refuses a digest the registry does not have', async () => {
    const inspected = spawnSync('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${registry.host}/demo:latest`], { encoding: 'utf8' });
    const digest = inspected.stdout.trim();
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    const pinned = await openImage(`docker://${registry.host}/demo@${digest}`, { cache: false });
    try {
      expect((await pinned.readFile('/etc/os-release')).length).toBeGreaterThan(0);
    } finally {
      await pinned.close();
    }
    await expect(openImage(`docker://${registry.host}/demo@sha256:${'0'.repeat(64)}`, { cache: false })).rejects.toMatchObject({
      code: 'ENOTFOUND',
      message: expect.stringContaining(`sha256:${'0'.repeat(64)}`),
    });
  });

  it('--platform chooses from an index pushed with its images', async () => {
    const source = join(cacheDir, 'multi');
    const layer = buildLayer([file('hello', 'multi')]);
    const layout = await writeImage(source, [layer], { format: 'oci-dir', compression: 'gzip', platforms: ['linux/amd64', 'linux/arm64/v8'] });
    await pushImage(`oci:${layout}:imgfs-test:latest`, registry.host, 'multi:latest', undefined, true);
    for (const [platform, architecture] of [['linux/amd64', 'amd64'], ['linux/arm64', 'arm64']] as const) {
      const fs = await openImage(`docker://${registry.host}/multi:latest`, { cache: false, platform });
      try {
        expect(fs.config?.architecture).toBe(architecture);
        expect((await fs.readFile('/hello')).toString()).toBe('multi');
      } finally {
        await fs.close();
      }
    }
    await expect(openImage(`docker://${registry.host}/multi:latest`, { cache: false, platform: 'linux/s390x' })).rejects.toMatchObject({
      code: 'ENOREF',
      message: expect.stringContaining('linux/amd64'),
    });
  });
});
