/**
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY with Go's rules (ProxyFromEnvironment), against real registries
 * through connect-proxy.ts. The registries listen on 127.0.0.1, which Go (and so imgfs) never proxies:
 * the tests name them `registry.imgfs.test:PORT` (the reserved .test domain: no resolver knows it), a
 * name only the proxy can reach (it routes the name to the registry's port), so a request that bypassed
 * the proxy would fail. HTTPS goes through a CONNECT tunnel with TLS end to end; plain HTTP in absolute
 * form; proxy credentials from the URL's userinfo are sent as Proxy-Authorization and never printed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { proxyFor } from '../../lib/registry/proxy-from-environment.js';
import { imgfs, repoRoot } from '../cli/run-cli.js';
import { ConnectProxy } from './connect-proxy.js';
import { makeTls, pushImage, startRegistry, type RunningRegistry } from './registry-server.js';

const DEMO = join(repoRoot, 'fixtures/demo/demo.tar');
const NAME = 'registry.imgfs.test';
const USER = 'tester';
const PASSWORD = 'registry-Pa55';
const PROXY_USER = 'proxy-user';
const PROXY_PASSWORD = 'proxy-Pa55-secret';

let dir: string;
let tlsRegistry: RunningRegistry;
let plainRegistry: RunningRegistry;
let proxy: ConnectProxy;
let caFile: string;
let osRelease: Buffer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imgfs-proxy-'));
  const tls = makeTls(dir, [NAME]);
  caFile = tls.caFile;
  tlsRegistry = await startRegistry({ tls, basic: { user: USER, password: PASSWORD } });
  await pushImage(`docker-archive:${DEMO}`, tlsRegistry.host, 'demo:latest', `${USER}:${PASSWORD}`);
  plainRegistry = await startRegistry();
  await pushImage(`docker-archive:${DEMO}`, plainRegistry.host, 'demo:latest');
  proxy = await ConnectProxy.start();
  proxy.route(`${NAME}:${tlsRegistry.port}`, tlsRegistry.port);
  proxy.route(`${NAME}:${plainRegistry.port}`, plainRegistry.port);
  osRelease = (await imgfs(['cat', DEMO, '/etc/os-release'])).raw;
});

afterAll(async () => {
  await proxy?.stop();
  await tlsRegistry?.stop();
  await plainRegistry?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  proxy.log.length = 0;
  proxy.credentials = undefined;
});

/** No auth files of the user's, no proxy settings but those given. */
function env(extra: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = { REGISTRY_AUTH_FILE: join(dir, 'none.json'), XDG_RUNTIME_DIR: dir, HOME: dir, NODE_EXTRA_CA_CERTS: caFile };
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy']) base[name] = '';
  return { ...base, ...extra };
}

describe('through a proxy (CLI)', () => {
  it('HTTPS through a CONNECT tunnel with the proxy credentials of the URL, which are never printed', async () => {
    proxy.credentials = `${PROXY_USER}:${PROXY_PASSWORD}`;
    const result = await imgfs(
      ['cat', '--creds', `${USER}:${PASSWORD}`, `docker://${NAME}:${tlsRegistry.port}/demo:latest`, '/etc/os-release'],
      env({ HTTPS_PROXY: proxy.url(`${PROXY_USER}:${PROXY_PASSWORD}`) }),
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.raw.equals(osRelease)).toBe(true);
    expect(proxy.log.length).toBeGreaterThan(0);
    // Only tunnels: the proxy saw no request, so neither the registry's credentials nor its paths.
    for (const entry of proxy.log) expect(entry).toMatchObject({ method: 'CONNECT', target: `${NAME}:${tlsRegistry.port}`, proxyUser: `${PROXY_USER}:${PROXY_PASSWORD}`, status: 200 });
  });

  it('plain HTTP in absolute form through HTTP_PROXY (lower case too)', async () => {
    const result = await imgfs(['cat', '--tls-verify=false', `docker://${NAME}:${plainRegistry.port}/demo:latest`, '/etc/os-release'], env({ http_proxy: proxy.url(), https_proxy: proxy.url() }));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.raw.equals(osRelease)).toBe(true);
    const plain = proxy.log.filter((entry) => entry.method === 'GET');
    expect(plain.length).toBeGreaterThan(0);
    for (const entry of plain) expect(entry.target.startsWith(`http://${NAME}:${plainRegistry.port}/v2/`), entry.target).toBe(true);
    expect(plain.some((entry) => entry.target.includes('/manifests/latest'))).toBe(true);
  });

  it('wrong proxy credentials: exit 2 naming the proxy, its password not printed', async () => {
    proxy.credentials = `${PROXY_USER}:${PROXY_PASSWORD}`;
    const result = await imgfs(['ls', '--creds', `${USER}:${PASSWORD}`, `docker://${NAME}:${tlsRegistry.port}/demo:latest`], env({ HTTPS_PROXY: proxy.url(`${PROXY_USER}:wrong-${PROXY_PASSWORD}`), IMGFS_DEBUG: '1' }));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`the proxy ${proxy.url().slice('http://'.length)} refused to tunnel to ${NAME}:${tlsRegistry.port} (HTTP 407)`);
    expect(result.stderr).not.toContain(PROXY_PASSWORD);
    expect(result.stderr).not.toContain(PASSWORD);
    expect(proxy.log.every((entry) => entry.status === 407)).toBe(true);
    // Refused credentials are not a network fault: asking again with the same ones cannot help.
    expect(proxy.log).toHaveLength(1);
  });

  it('a registry on 127.0.0.1 is never proxied (Go: loopback), whatever HTTPS_PROXY says', async () => {
    const result = await imgfs(['cat', `docker://${plainRegistry.host}/demo:latest`, '/etc/os-release'], env({ HTTPS_PROXY: proxy.url(), HTTP_PROXY: proxy.url() }));
    expect(result.code).toBe(0);
    expect(result.raw.equals(osRelease)).toBe(true);
    expect(proxy.log).toEqual([]);
  });
});

describe("proxyFor: Go's ProxyFromEnvironment rules", () => {
  const https = new URL('https://registry.example.com/v2/');
  const choose = (url: URL | string, environment: Record<string, string>): string | undefined => proxyFor(typeof url === 'string' ? new URL(url) : url, environment, net)?.url.href;

  it('HTTPS_PROXY for https, HTTP_PROXY for http; upper case before lower case; no scheme is http://', () => {
    expect(choose(https, { HTTPS_PROXY: 'http://upper:3128', https_proxy: 'http://lower:3128', HTTP_PROXY: 'http://plain:3128' })).toBe('http://upper:3128/');
    expect(choose(https, { https_proxy: 'lower:3128' })).toBe('http://lower:3128/');
    expect(choose(https, { HTTP_PROXY: 'http://plain:3128' })).toBeUndefined();
    expect(choose('http://registry.example.com/v2/', { HTTP_PROXY: 'http://plain:3128', HTTPS_PROXY: 'http://secure:3128' })).toBe('http://plain:3128/');
    // Under CGI a request header can set HTTP_PROXY (httpoxy): Go ignores it there.
    expect(choose('http://registry.example.com/v2/', { HTTP_PROXY: 'http://plain:3128', REQUEST_METHOD: 'GET' })).toBeUndefined();
  });

  it('never localhost or a loopback address', () => {
    for (const target of ['https://localhost:5000/', 'https://127.0.0.1/', 'https://127.8.9.10:443/', 'https://[::1]:5000/']) {
      expect(choose(target, { HTTPS_PROXY: 'http://proxy:3128' }), target).toBeUndefined();
    }
    expect(choose('https://10.1.2.3/', { HTTPS_PROXY: 'http://proxy:3128' })).toBe('http://proxy:3128/');
  });

  it('NO_PROXY: *, domains with and without a leading dot or *., ports, addresses and CIDR ranges', () => {
    const via = (target: string, noProxy: string): boolean => choose(target, { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: noProxy }) !== undefined;
    expect(via('https://registry.example.com/', '*')).toBe(false);
    expect(via('https://registry.example.com/', 'example.com')).toBe(false);
    expect(via('https://example.com/', 'example.com')).toBe(false);
    expect(via('https://notexample.com/', 'example.com')).toBe(true);
    expect(via('https://example.com/', '.example.com')).toBe(true);
    expect(via('https://registry.example.com/', '.example.com')).toBe(false);
    expect(via('https://registry.example.com/', '*.example.com')).toBe(false);
    expect(via('https://example.com/', '*.example.com')).toBe(true);
    expect(via('https://registry.example.com/', 'other.org, REGISTRY.example.com')).toBe(false);
    expect(via('https://registry.example.com:5000/', 'registry.example.com:5000')).toBe(false);
    expect(via('https://registry.example.com/', 'registry.example.com:5000')).toBe(true);
    expect(via('https://registry.example.com/', 'registry.example.com:443')).toBe(false);
    expect(via('https://10.1.2.3/', '10.1.2.3')).toBe(false);
    expect(via('https://10.1.2.3/', '10.0.0.0/8')).toBe(false);
    expect(via('https://11.1.2.3/', '10.0.0.0/8')).toBe(true);
    expect(via('https://[2001:db8::1]/', '2001:db8::/32')).toBe(false);
    expect(via('https://registry.example.com/', '')).toBe(true);
  });

  it('credentials of the URL become Proxy-Authorization; messages show the host only; only http:// proxies', () => {
    const choice = proxyFor(https, { HTTPS_PROXY: 'http://us%40er:p%3Ass@proxy:3128' }, net);
    expect(choice?.authorization).toBe(`Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
    expect(choice?.display).toBe('proxy:3128');
    expect(() => proxyFor(https, { HTTPS_PROXY: 'socks5://user:secret@proxy:1080' }, net)).toThrow(/only http:\/\/ proxies/);
    expect(() => proxyFor(https, { HTTPS_PROXY: 'socks5://user:secret@proxy:1080' }, net)).not.toThrow(/secret/);
  });
});
