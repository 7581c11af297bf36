/**
 * HTTPS through an HTTP proxy: a keep-alive https.Agent whose every new connection is a `CONNECT
 * host:port` tunnel through the proxy (with `Proxy-Authorization` when the proxy URL has credentials),
 * TLS then spoken end to end inside it, so the proxy sees neither the requests nor the credentials sent
 * to the registry. Node's HTTP and TLS modules are handed in: the transport loads them on its first
 * request only.
 */
import type { Duplex } from 'node:stream';
import type { Agent as HttpsAgent, AgentOptions } from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import { ConnectionError, PROXY_REFUSED } from './http-transport.js';
import type { ProxyChoice } from './proxy-from-environment.js';

interface Modules {
  http: typeof import('node:http');
  https: typeof import('node:https');
  tls: typeof import('node:tls');
  net: typeof import('node:net');
}

type Created = (error: Error | null, socket?: Duplex) => void;

export function tunnelingAgent(modules: Modules, proxy: ProxyChoice, options: AgentOptions, timeoutMs: number): HttpsAgent {
  class TunnelingAgent extends modules.https.Agent {
    override createConnection(connection: ConnectionOptions, created: Created): undefined {
      const host = connection.host ?? 'localhost';
      const target = `${host.includes(':') ? `[${host}]` : host}:${connection.port ?? 443}`;
      const headers: Record<string, string> = { host: target };
      if (proxy.authorization !== undefined) headers['proxy-authorization'] = proxy.authorization;
      const request = modules.http.request({
        host: proxy.url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: Number(proxy.url.port === '' ? 80 : proxy.url.port),
        method: 'CONNECT',
        path: target,
        headers,
        agent: false,
        timeout: timeoutMs,
      });
      let done = false;
      const fail = (error: Error): void => {
        if (done) return;
        done = true;
        created(error);
      };
      request.once('connect', (response, socket, head) => {
        if (response.statusCode !== 200) {
          socket.destroy();
          // 407 (credentials refused) and 403 (not allowed) are the proxy's answer, not a fault to retry.
          const final = response.statusCode === 407 || response.statusCode === 403;
          fail(new ConnectionError(`the proxy ${proxy.display} refused to tunnel to ${target} (HTTP ${response.statusCode ?? 0})`, final ? PROXY_REFUSED : 'EPROXY'));
          return;
        }
        if (head.length > 0) socket.unshift(head);
        // The tunnel is the agent's connection now: its requests bound their own silences.
        socket.setTimeout(0);
        done = true;
        // SNI names the registry, never an IP address (as https.Agent does when it connects directly).
        const servername = connection.servername ?? (modules.net.isIP(host) === 0 ? host : undefined);
        created(null, modules.tls.connect({ ...connection, socket, ...(servername === undefined ? {} : { servername }) }));
      });
      request.once('timeout', () => request.destroy(new ConnectionError(`the proxy ${proxy.display} sent nothing for ${timeoutMs} ms`, 'ETIMEDOUT')));
      request.once('error', (error: NodeJS.ErrnoException) => {
        fail(error instanceof ConnectionError ? error : new ConnectionError(`the proxy ${proxy.display}: ${error.message}`, error.code ?? 'EPROXY', { cause: error }));
      });
      request.end();
      return undefined;
    }
  }
  return new TunnelingAgent(options);
}
