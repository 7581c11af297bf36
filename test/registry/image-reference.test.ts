import { describe, expect, it } from 'vitest';
import { parseChallenge } from '../../lib/registry/auth-challenge.js';
import { parseImageReference } from '../../lib/registry/image-reference.js';
import { retryAfterMs } from '../../lib/registry/registry-client.js';
import { parseTransportName } from '../../lib/image/transport-name.js';

describe('docker:// names, with Docker defaults', () => {
  it.each([
    ['nginx', 'registry-1.docker.io', 'library/nginx', 'latest', undefined],
    ['docker.io/nginx:1.27', 'registry-1.docker.io', 'library/nginx', '1.27', undefined],
    ['bitnami/redis', 'registry-1.docker.io', 'bitnami/redis', 'latest', undefined],
    ['ghcr.io/org/app/sub:v1', 'ghcr.io', 'org/app/sub', 'v1', undefined],
    ['localhost/app', 'localhost', 'app', 'latest', undefined],
    ['127.0.0.1:5000/demo', '127.0.0.1:5000', 'demo', 'latest', undefined],
    [`quay.io/a/b@sha256:${'a'.repeat(64)}`, 'quay.io', 'a/b', undefined, `sha256:${'a'.repeat(64)}`],
    [`host:5000/a:t@sha256:${'b'.repeat(64)}`, 'host:5000', 'a', 't', `sha256:${'b'.repeat(64)}`],
  ])('%s', (name, registry, repository, tag, digest) => {
    const ref = parseImageReference(name);
    expect(ref).toMatchObject({ registry, repository, tag, digest });
    expect(ref.reference).toBe(digest ?? tag);
  });

  it.each(['Nginx', 'host:5000/', 'a//b', 'a:b:c', 'a@sha256:abc', 'a:-bad', `a/${'x'.repeat(256)}`])('refuses %s with EIMGFORMAT', (name) => {
    expect(() => parseImageReference(name)).toThrow(expect.objectContaining({ code: 'EIMGFORMAT' }));
  });
});

describe('transport prefixes', () => {
  it('splits skopeo names; a plain path has none', () => {
    expect(parseTransportName('docker://nginx')).toEqual({ transport: 'docker', name: 'nginx' });
    expect(parseTransportName('oci:/tmp/lay')).toEqual({ transport: 'oci', path: '/tmp/lay', ref: undefined });
    expect(parseTransportName('oci-archive:img.tar:v1')).toEqual({ transport: 'oci-archive', path: 'img.tar', ref: 'v1' });
    expect(parseTransportName('docker-archive:save.tar:demo:latest')).toEqual({ transport: 'docker-archive', path: 'save.tar', ref: 'demo:latest' });
    expect(parseTransportName('./oci:file.tar')).toBeUndefined();
    expect(parseTransportName('image.tar')).toBeUndefined();
  });
});

describe('WWW-Authenticate and Retry-After', () => {
  it('parses a bearer challenge with quoted, comma-holding values', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
    });
    expect(parseChallenge(['Negotiate', 'Basic realm="x"'])).toEqual({ scheme: 'basic', params: { realm: 'x' } });
    expect(parseChallenge('Digest realm="x"')).toBeUndefined();
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});
