/**
 * Every CLI command on a `docker://127.0.0.1:PORT/…` image prints what it prints for the local docker
 * save the image was pushed from (except the layer digests: the registry stores the layers
 * gzip-compressed).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imgfs, repoRoot } from '../cli/run-cli.js';
import { pushImage, startRegistry, type RunningRegistry } from './registry-server.js';

const DEMO = join(repoRoot, 'fixtures/demo/demo.tar');
let registry: RunningRegistry;
let remote: string;

beforeAll(async () => {
  registry = await startRegistry();
  await pushImage(`docker-archive:${DEMO}`, registry.host, 'demo:latest');
  remote = `docker://${registry.host}/demo:latest`;
});

afterAll(async () => {
  await registry?.stop();
});

describe('imgfs commands on docker://', () => {
  it.each([
    ['ls', '-lR', '/'],
    ['cat', '/etc/os-release'],
    ['stat', '/etc/os-release', '/usr'],
    ['find', '--type', 'f', '/'],
    ['scan', '--hash', 'sha256'],
    ['readlink', '/bin/sh'],
    ['history', '/etc/motd'],
    ['diff', '--layer', '1'],
    ['export'],
  ])('%s', async (command, ...args) => {
    const local = await imgfs([command, DEMO, ...args]);
    const fromRegistry = await imgfs([command, remote, ...args]);
    expect(fromRegistry.stderr).toBe('');
    expect(fromRegistry.code).toBe(local.code);
    if (command === 'stat' || command === 'history') {
      // They name layers by digest: the registry's are of the gzip blobs, the archive's of the tars.
      const anyDigest = (text: string): string => text.replace(/sha256:[a-f0-9]+/g, 'sha256:…');
      expect(anyDigest(fromRegistry.stdout)).toBe(anyDigest(local.stdout));
    } else {
      expect(fromRegistry.raw.equals(local.raw)).toBe(true);
    }
  });

  it('layers: the same layers, stored gzip-compressed by the registry', async () => {
    const result = await imgfs(['layers', '--json', remote]);
    expect(result.code).toBe(0);
    const layers = JSON.parse(result.stdout) as Array<{ compression: string; entries: number; uncompressedSize: number }>;
    const local = JSON.parse((await imgfs(['layers', '--json', DEMO])).stdout) as typeof layers;
    expect(layers.map((layer) => [layer.compression, layer.entries, layer.uncompressedSize])).toEqual(
      local.map((layer) => ['gzip', layer.entries, layer.uncompressedSize]),
    );
  });

  it('a registry that is not there is one line and exit 2', async () => {
    const result = await imgfs(['ls', `docker://127.0.0.1:1/demo`]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^imgfs: docker:\/\/127\.0\.0\.1:1\/demo: ENETWORK: registry: .*ECONNREFUSED.*\n$/);
  });
});
