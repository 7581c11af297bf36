import { describe, expect, it } from 'vitest';
import { expandDockerRef, sameDockerRef } from '../../lib/image/image-ref.js';
import { formatPlatform, hostPlatform, normalisePlatform, parsePlatform, platformMatches } from '../../lib/image/platform.js';
import { expectImgfsError } from './fixtures.js';

describe('platforms', () => {
  it('parses and normalises os/arch[/variant]', () => {
    expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64', variant: undefined });
    expect(parsePlatform('Linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64', variant: undefined });
    expect(parsePlatform('linux/aarch64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: undefined });
    expect(parsePlatform('linux/arm/7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(normalisePlatform({ os: 'linux', architecture: 'armhf' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v6' })).toBe('linux/arm/v6');
  });

  it.each(['linux', 'linux/', '/amd64', 'linux/arm/v7/x', 'linux/arm/'])('refuses %j', async (text) => {
    await expectImgfsError(() => parsePlatform(text), 'ENOREF', /is not os\/arch\[\/variant\]/);
  });

  it('matches a request without variant to any variant, one with a variant exactly', () => {
    const armV7 = { os: 'linux', architecture: 'arm', variant: 'v7' };
    expect(platformMatches(armV7, parsePlatform('linux/arm'))).toBe(true);
    expect(platformMatches(armV7, parsePlatform('linux/arm/v7'))).toBe(true);
    expect(platformMatches(armV7, parsePlatform('linux/arm/v6'))).toBe(false);
    expect(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, parsePlatform('linux/arm64'))).toBe(true);
    expect(platformMatches({ os: 'windows', architecture: 'amd64' }, parsePlatform('linux/amd64'))).toBe(false);
  });

  it('maps the host architecture', () => {
    const expected: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', ppc64: 'ppc64le' };
    expect(hostPlatform()).toMatchObject({ os: 'linux', architecture: expected[process.arch] ?? process.arch });
  });
});

describe('docker refs', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine:latest'],
    ['alpine:3', 'docker.io/library/alpine:3'],
    ['user/app', 'docker.io/user/app:latest'],
    ['docker.io/library/alpine:3', 'docker.io/library/alpine:3'],
    ['localhost/app:1', 'localhost/app:1'],
    ['registry.example:5000/team/app', 'registry.example:5000/team/app:latest'],
    ['app@sha256:abc', 'docker.io/library/app@sha256:abc'],
  ])('%s → %s', (ref, full) => {
    expect(expandDockerRef(ref)).toBe(full);
  });

  it('compares stored and wanted names in full', () => {
    expect(sameDockerRef('alpine:latest', 'alpine')).toBe(true);
    expect(sameDockerRef('alpine:latest', 'docker.io/library/alpine:latest')).toBe(true);
    expect(sameDockerRef('alpine:3', 'alpine')).toBe(false);
    expect(sameDockerRef('', 'alpine')).toBe(false);
  });
});
