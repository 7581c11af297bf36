/**
 * Identity tokens (OAuth2 refresh tokens): docker's `auths.HOST.identitytoken`, and a credential helper
 * answering the user name `<token>`, exchanged at the token realm by the distribution token spec's
 * OAuth2 POST (grant_type=refresh_token, service, scope, client_id) against a real registry with token
 * auth (token-server.ts takes the exchange). The token never appears in output, an error or a cache file.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Authenticator, OAUTH_CLIENT_ID } from '../../lib/registry/authenticator.js';
import { HttpTransport } from '../../lib/registry/http-transport.js';
import { imgfs, repoRoot } from '../cli/run-cli.js';
import { pushImage, startRegistry, type RunningRegistry } from './registry-server.js';
import { TOKEN_ISSUER, TOKEN_SERVICE, TokenServer } from './token-server.js';

const DEMO = join(repoRoot, 'fixtures/demo/demo.tar');
const USER = 'tester';
const PASSWORD = 's3cret-Pa55';
const REFRESH = 'refresh-7f3a9c-identity-token';

let dir: string;
let registry: RunningRegistry;
let tokens: TokenServer;
let osRelease: Buffer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imgfs-identity-'));
  tokens = await TokenServer.start(dir, USER, PASSWORD);
  registry = await startRegistry({ token: { realm: tokens.realm, service: TOKEN_SERVICE, issuer: TOKEN_ISSUER, certFile: tokens.certFile } });
  await pushImage(`docker-archive:${DEMO}`, registry.host, 'demo:latest', `${USER}:${PASSWORD}`);
  osRelease = (await imgfs(['cat', DEMO, '/etc/os-release'])).raw;
});

afterAll(async () => {
  await registry?.stop();
  await tokens?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  tokens.refreshToken = REFRESH;
  tokens.oauthRequests.length = 0;
});

/** Every file under `root`, read whole. */
function filesUnder(root: string): Buffer[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => readFileSync(join(entry.parentPath, entry.name)));
}

describe('identity tokens through the CLI', () => {
  const env = (authFile: string): Record<string, string> => ({ REGISTRY_AUTH_FILE: authFile, XDG_RUNTIME_DIR: dir, HOME: dir });

  it("auths.HOST.identitytoken is exchanged by the OAuth2 POST; the token is in no output and no cache file", async () => {
    const authFile = join(dir, 'identity.json');
    writeFileSync(authFile, JSON.stringify({ auths: { [registry.host]: { identitytoken: REFRESH } } }));
    const cache = join(dir, 'cache-identity');
    const result = await imgfs(['cat', '--cache-dir', cache, `docker://${registry.host}/demo:latest`, '/etc/os-release'], env(authFile));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.raw.equals(osRelease)).toBe(true);
    expect(tokens.oauthRequests).toEqual([
      { grant_type: 'refresh_token', service: TOKEN_SERVICE, scope: 'repository:demo:pull', client_id: OAUTH_CLIENT_ID, 'content-type': 'application/x-www-form-urlencoded' },
    ]);
    const cached = filesUnder(cache);
    expect(cached.length).toBeGreaterThan(0);
    for (const file of cached) expect(file.includes(REFRESH)).toBe(false);
  });

  it('a credential helper answering the user <token> gives an identity token', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-imgfs-test');
    writeFileSync(helper, `#!/bin/sh\nread server\nprintf '{"ServerURL":"%s","Username":"<token>","Secret":"${REFRESH}"}' "$server"\n`);
    chmodSync(helper, 0o755);
    const authFile = join(dir, 'helper.json');
    writeFileSync(authFile, JSON.stringify({ credHelpers: { [registry.host]: 'imgfs-test' } }));
    const result = await imgfs(['ls', `docker://${registry.host}/demo:latest`, '/etc'], { ...env(authFile), PATH: `${bin}:${process.env['PATH'] ?? ''}` });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')).toContain('os-release');
    expect(tokens.oauthRequests.map((request) => request['grant_type'])).toEqual(['refresh_token']);
  });

  it('a refused identity token is EUNAUTHORIZED on one line, and the token is not printed', async () => {
    tokens.refreshToken = 'another-token';
    const authFile = join(dir, 'refused.json');
    writeFileSync(authFile, JSON.stringify({ auths: { [registry.host]: { identitytoken: REFRESH } } }));
    const result = await imgfs(['ls', `docker://${registry.host}/demo:latest`], { ...env(authFile), IMGFS_DEBUG: '1' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/EUNAUTHORIZED: .*refused the identity token \(HTTP 401\)/);
    expect(result.stderr).not.toContain(REFRESH);
    expect(result.stdout).not.toContain(REFRESH);
  });
});

it('a refresh token the server rotates is the one used for the next exchange', async () => {
  const transport = new HttpTransport();
  let clock = 1_000_000;
  const auth = new Authenticator(
    registry.host,
    'demo',
    async () => ({ username: '', password: '', identityToken: REFRESH }),
    (url, headers, body) => transport.send(url, body === undefined ? { headers } : { method: 'POST', headers, body }),
    () => clock,
  );
  try {
    await auth.challenged({ scheme: 'bearer', params: { realm: tokens.realm, service: TOKEN_SERVICE } }, false);
    tokens.rotateTo = 'rotated-refresh-token';
    const refusedBefore = tokens.refused;
    const first = await auth.header();
    expect(first).toMatch(/^Bearer ey/);
    // The server now accepts only the rotated token; the next exchange must send it.
    clock += 300_000;
    const second = await auth.header();
    expect(second).toMatch(/^Bearer ey/);
    expect(second).not.toBe(first);
    expect(tokens.oauthRequests).toHaveLength(2);
    expect(tokens.refused).toBe(refusedBefore);
  } finally {
    transport.close();
  }
});
