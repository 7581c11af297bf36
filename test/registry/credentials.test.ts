/**
 * Credential lookup in podman's and docker's order, with real files and a real credential helper
 * (a `docker-credential-test` script put on PATH).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCredentials, parseCreds } from '../../lib/registry/credentials.js';

let dir: string;
const b64 = (text: string): string => Buffer.from(text).toString('base64');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'imgfs-creds-'));
  mkdirSync(join(dir, 'bin'));
  const helper = join(dir, 'bin', 'docker-credential-test');
  // Answers for one server only, as real helpers do; exits 1 otherwise.
  writeFileSync(helper, '#!/bin/sh\nread server\nif [ "$server" = "helped.example" ]; then echo \'{"ServerURL":"helped.example","Username":"hu","Secret":"hs"}\'; else echo "credentials not found" >&2; exit 1; fi\n');
  chmodSync(helper, 0o755);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: `${join(dir, 'bin')}:${process.env['PATH'] ?? ''}`, HOME: join(dir, 'home'), ...extra };
}

describe('credential lookup', () => {
  it('--creds splits at the first colon', () => {
    expect(parseCreds('user:pa:ss')).toEqual({ username: 'user', password: 'pa:ss' });
    expect(parseCreds('user')).toEqual({ username: 'user', password: '' });
  });

  it('$REGISTRY_AUTH_FILE first, then $XDG_RUNTIME_DIR/containers/auth.json, then ~/.docker/config.json', async () => {
    const first = join(dir, 'first.json');
    writeFileSync(first, JSON.stringify({ auths: { 'one.example': { auth: b64('u1:p1') } } }));
    mkdirSync(join(dir, 'run', 'containers'), { recursive: true });
    writeFileSync(join(dir, 'run', 'containers', 'auth.json'), JSON.stringify({ auths: { 'one.example': { auth: b64('u2:p2') }, 'two.example': { auth: b64('u2:p2') } } }));
    mkdirSync(join(dir, 'home', '.docker'), { recursive: true });
    writeFileSync(join(dir, 'home', '.docker', 'config.json'), JSON.stringify({ auths: { 'https://three.example/v1/': { auth: b64('u3:p3') } } }));
    const e = env({ REGISTRY_AUTH_FILE: first, XDG_RUNTIME_DIR: join(dir, 'run') });
    expect(await findCredentials('one.example', 'x', e)).toEqual({ username: 'u1', password: 'p1' });
    expect(await findCredentials('two.example', 'x', e)).toEqual({ username: 'u2', password: 'p2' });
    expect(await findCredentials('three.example', 'x', e)).toEqual({ username: 'u3', password: 'p3' });
    expect(await findCredentials('four.example', 'x', e)).toBeUndefined();
  });

  it('a repository path entry wins over the host entry (podman)', async () => {
    const file = join(dir, 'paths.json');
    writeFileSync(file, JSON.stringify({ auths: { 'r.example': { auth: b64('host:h') }, 'r.example/team': { auth: b64('team:t') } } }));
    expect(await findCredentials('r.example', 'team/app', env({ REGISTRY_AUTH_FILE: file }))).toEqual({ username: 'team', password: 't' });
    expect(await findCredentials('r.example', 'other/app', env({ REGISTRY_AUTH_FILE: file }))).toEqual({ username: 'host', password: 'h' });
  });

  it('Docker Hub entries under index.docker.io/v1/', async () => {
    const file = join(dir, 'hub.json');
    writeFileSync(file, JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') } } }));
    expect(await findCredentials('registry-1.docker.io', 'library/nginx', env({ REGISTRY_AUTH_FILE: file }))).toEqual({ username: 'hub', password: 'pw' });
  });

  it('credHelpers and credsStore run docker-credential-NAME get; a helper without credentials is anonymous', async () => {
    const file = join(dir, 'helpers.json');
    writeFileSync(file, JSON.stringify({ credHelpers: { 'helped.example': 'test' } }));
    expect(await findCredentials('helped.example', 'x', env({ REGISTRY_AUTH_FILE: file }))).toEqual({ username: 'hu', password: 'hs' });
    const store = join(dir, 'store.json');
    writeFileSync(store, JSON.stringify({ credsStore: 'test' }));
    expect(await findCredentials('helped.example', 'x', env({ REGISTRY_AUTH_FILE: store }))).toEqual({ username: 'hu', password: 'hs' });
    expect(await findCredentials('unknown.example', 'x', env({ REGISTRY_AUTH_FILE: store }))).toBeUndefined();
  });

  it('a helper that is not installed is EUNAUTHORIZED naming it', async () => {
    const file = join(dir, 'missing.json');
    writeFileSync(file, JSON.stringify({ credsStore: 'not-installed-anywhere' }));
    await expect(findCredentials('x.example', 'x', env({ REGISTRY_AUTH_FILE: file }))).rejects.toMatchObject({
      code: 'EUNAUTHORIZED',
      message: expect.stringContaining('docker-credential-not-installed-anywhere'),
    });
  });
});
