/**
 * Which proxy a request goes through, by the environment, with the rules of Go's
 * `http.ProxyFromEnvironment` (golang.org/x/net/http/httpproxy), so that imgfs goes where docker, podman
 * and skopeo go: `HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http ones (upper case first, then lower
 * case; `HTTP_PROXY` is ignored under CGI, where a request header can set it); a proxy without a scheme
 * is `http://`; `NO_PROXY` is a comma-separated list of `*`, IP addresses, CIDR ranges and domain names
 * (`example.com` also matches its subdomains, `.example.com` and `*.example.com` only them), each
 * optionally with `:port`. As in Go, `localhost` and loopback addresses are never proxied.
 */
// node:net is handed in (the transport loads the network modules on its first request only).
type Net = Pick<typeof import('node:net'), 'BlockList' | 'isIP'>;

/** A proxy to send requests through: an `http:` URL (the credentials in its userinfo, if any). */
export interface ProxyChoice {
  url: URL;
  /** `Proxy-Authorization` for the proxy, from the URL's userinfo; never printed. */
  authorization: string | undefined;
  /** How messages name the proxy: host and port, never the userinfo. */
  display: string;
}

export type ProxyEnv = Readonly<Record<string, string | undefined>>;

/** The proxy for `target`, or undefined to connect directly. A proxy URL that cannot be used is an Error. */
export function proxyFor(target: URL, env: ProxyEnv, net: Net): ProxyChoice | undefined {
  const secure = target.protocol === 'https:';
  const configured = secure ? first(env, 'HTTPS_PROXY', 'https_proxy') : env['REQUEST_METHOD'] !== undefined ? undefined : first(env, 'HTTP_PROXY', 'http_proxy');
  if (configured === undefined) return undefined;
  const host = hostOf(target);
  if (host === 'localhost' || isLoopback(host, net)) return undefined;
  const port = target.port !== '' ? target.port : secure ? '443' : '80';
  if (!useProxy(host, port, first(env, 'NO_PROXY', 'no_proxy') ?? '', net)) return undefined;
  return parseProxy(configured);
}

function first(env: ProxyEnv, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/** A URL's host, lower case, an IPv6 address without its brackets. */
function hostOf(url: URL): string {
  return url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
}

function isLoopback(host: string, { isIP }: Net): boolean {
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./.test(host);
  return false;
}

/** Whether NO_PROXY lets `host:port` go through the proxy. */
function useProxy(host: string, port: string, noProxy: string, net: Net): boolean {
  const { isIP } = net;
  for (const raw of noProxy.split(',')) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return false;
    if (entry.includes('/')) {
      if (isIP(host) !== 0 && inCidr(host, entry, net)) return false;
      continue;
    }
    let entryPort = '';
    const portMatch = /^(.*[^:\]]|\[.*\]):(\d+)$/.exec(entry);
    if (portMatch !== null && isIP(entry) === 0) {
      entry = portMatch[1] as string;
      entryPort = portMatch[2] as string;
    }
    entry = entry.replace(/^\[(.*)\]$/, '$1');
    if (entryPort !== '' && entryPort !== port) continue;
    if (isIP(entry) !== 0) {
      if (entry === host) return false;
      continue;
    }
    // `*.example.com` is `.example.com`: subdomains only; `example.com`: itself and its subdomains.
    if (entry.startsWith('*.')) entry = entry.slice(1);
    const matchesItself = !entry.startsWith('.');
    const suffix = matchesItself ? `.${entry}` : entry;
    if (host.endsWith(suffix) || (matchesItself && host === entry)) return false;
  }
  return true;
}

function inCidr(host: string, cidr: string, { BlockList, isIP }: Net): boolean {
  const [network, bits] = cidr.split('/');
  const family = isIP(network ?? '');
  const prefix = Number(bits);
  if (family === 0 || !Number.isInteger(prefix)) return false;
  const list = new BlockList();
  try {
    list.addSubnet(network as string, prefix, family === 4 ? 'ipv4' : 'ipv6');
    return list.check(host, isIP(host) === 4 ? 'ipv4' : 'ipv6');
  } catch {
    return false;
  }
}

/** The proxy URL as Go reads it: no scheme means `http://`. Only HTTP proxies are supported. */
function parseProxy(value: string): ProxyChoice {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    // The value is not quoted: it may hold credentials.
    throw new Error('the proxy set in HTTPS_PROXY/HTTP_PROXY is not a URL');
  }
  const display = url.port === '' ? url.hostname : `${url.hostname}:${url.port}`;
  if (url.protocol !== 'http:') throw new Error(`the proxy ${display} is a ${url.protocol.slice(0, -1)} proxy; only http:// proxies are supported`);
  const authorization =
    url.username === '' && url.password === ''
      ? undefined
      : `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  return { url, authorization, display };
}
