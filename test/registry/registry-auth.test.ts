/**
 * The two authenticated set-ups, with real components: TLS with a CA made by the test plus htpasswd
 * Basic auth (through the built CLI, which trusts the CA by NODE_EXTRA_CA_CERTS); and bearer tokens
 * from token-server.ts (cached while valid, renewed when they expire, never sent elsewhere).
 * Credentials come from --creds / options.auth or from an auth file, and never appear in a message.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { Authenticator } from '../../lib/registry/authenticator.js';
import { HttpTransport } from '../../lib/registry/http-transport.js';
import { imgfs, repoRoot } from '../cli/run-cli.js';
import { makeTls, pushImage, startRegistry, type RunningRegistry } from './registry-server.js';
import { TOKEN_ISSUER, TOKEN_SERVICE, TokenServer } from './token-server.js';

const DEMO = join(repoRoot, 'fixtures/demo/demo.tar');
const USER = 'tester';
const PASSWORD = 's3cret-Pa55';

let dir: string;
let tlsRegistry: RunningRegistry;
let tokenRegistry: RunningRegistry;
let tokens: TokenServer;
let caFile: string;
/** An auth file with no entry for the registries, so that the user's own files are never read. */
let emptyAuth: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imgfs-auth-'));
  const tls = makeTls(dir);
  caFile = tls.caFile;
  tlsRegistry = await startRegistry({ tls, basic: { user: USER, password: PASSWORD } });
  await pushImage(`docker-archive:${DEMO}`, tlsRegistry.host, 'demo:latest', `${USER}:${PASSWORD}`);
  tokens = await TokenServer.start(dir, USER, PASSWORD);
  tokenRegistry = await startRegistry({ token: { realm: tokens.realm, service: TOKEN_SERVICE, issuer: TOKEN_ISSUER, certFile: tokens.certFile } });
  await pushImage(`docker-archive:${DEMO}`, tokenRegistry.host, 'demo:latest', `${USER}:${PASSWORD}`);
  emptyAuth = join(dir, 'empty-auth.json');
  writeFileSync(emptyAuth, '{"auths":{}}');
});

afterAll(async () => {
  await tlsRegistry?.stop();
  await tokenRegistry?.stop();
  await tokens?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('TLS with a test CA and htpasswd Basic auth (CLI)', () => {
  const env = (): Record<string, string> => ({ NODE_EXTRA_CA_CERTS: caFile, REGISTRY_AUTH_FILE: emptyAuth, XDG_RUNTIME_DIR: dir, HOME: dir });

  it('cat with --creds, the CA trusted through NODE_EXTRA_CA_CERTS', async () => {
    const local = await imgfs(['cat', DEMO, '/etc/os-release']);
    const remote = await imgfs(['cat', '--creds', `${USER}:${PASSWORD}`, `docker://${tlsRegistry.host}/demo:latest`, '/etc/os-release'], env());
    expect(remote.stderr).toBe('');
    expect(remote.code).toBe(0);
    expect(remote.raw.equals(local.raw)).toBe(true);
  });

  it('credentials from an auth file ($REGISTRY_AUTH_FILE), as podman writes it', async () => {
    const authFile = join(dir, 'auth.json');
    writeFileSync(authFile, JSON.stringify({ auths: { [tlsRegistry.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }));
    const result = await imgfs(['ls', `docker://${tlsRegistry.host}/demo:latest`, '/etc'], { ...env(), REGISTRY_AUTH_FILE: authFile });
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')).toContain('os-release');
  });

  it('a wrong password is EUNAUTHORIZED on one line, exit 2, and the password is not printed', async () => {
    const result = await imgfs(['ls', '--creds', `${USER}:wrong-${PASSWORD}`, `docker://${tlsRegistry.host}/demo:latest`], env());
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/EUNAUTHORIZED: manifest latest: HTTP 401/);
    expect(result.stderr).toContain(`docker://${tlsRegistry.host}/demo:latest`);
    expect(result.stderr).not.toContain(PASSWORD);
  });

  it('an unknown CA is ENETWORK unless --tls-verify=false', async () => {
    const untrusted = { REGISTRY_AUTH_FILE: emptyAuth, XDG_RUNTIME_DIR: dir, HOME: dir };
    const refused = await imgfs(['ls', '--creds', `${USER}:${PASSWORD}`, `docker://${tlsRegistry.host}/demo:latest`], untrusted);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/ENETWORK: registry: .*(certificate|self-signed|issuer)/i);
    const allowed = await imgfs(['ls', '--tls-verify=false', '--creds', `${USER}:${PASSWORD}`, `docker://${tlsRegistry.host}/demo:latest`, '/'], untrusted);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout.split('\n')).toContain('etc');
  });
});

describe('bearer tokens from a token server', () => {
  it('reads the image with one token, reused for every request while it is valid', async () => {
    const before = tokens.issued;
    const fs = await openImage(`docker://${tokenRegistry.host}/demo:latest`, { cache: false, auth: { username: USER, password: PASSWORD } });
    try {
      expect((await fs.readFile('/etc/os-release')).length).toBeGreaterThan(0);
      expect(fs.layers.length).toBe(4);
    } finally {
      await fs.close();
    }
    expect(tokens.issued - before).toBe(1);
  });

  it('a token is renewed when it expires, and when a 401 says it is no longer good', async () => {
    const transport = new HttpTransport();
    let clock = 1_000_000;
    const auth = new Authenticator(
      tokenRegistry.host,
      'demo',
      async () => ({ username: USER, password: PASSWORD }),
      (url, headers) => transport.send(url, { headers }),
      () => clock,
    );
    const challenge = { scheme: 'bearer' as const, params: { realm: tokens.realm, service: TOKEN_SERVICE } };
    try {
      await auth.challenged(challenge, false);
      const before = tokens.issued;
      const first = await auth.header();
      expect(await auth.header()).toBe(first);
      expect(tokens.issued - before).toBe(1);
      clock += 300_000; // the token's lifetime
      const second = await auth.header();
      expect(second).not.toBe(first);
      expect(tokens.issued - before).toBe(2);
      // A 401 on a request that carried the token: worth asking again, with a new one.
      expect(await auth.challenged(challenge, true)).toBe(true);
      expect(await auth.header()).not.toBe(second);
      expect(tokens.issued - before).toBe(3);
    } finally {
      transport.close();
    }
  });

  it('credentials the token server refuses are EUNAUTHORIZED without the secret', async () => {
    const error = await openImage(`docker://${tokenRegistry.host}/demo:latest`, { cache: false, auth: `${USER}:nope-${PASSWORD}` }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'EUNAUTHORIZED', message: expect.stringContaining('refused the credentials (HTTP 401)') });
    expect((error as Error).message).not.toContain(PASSWORD);
  });
});
