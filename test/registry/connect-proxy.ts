/**
 * A small HTTP proxy written for the tests, on 127.0.0.1: `CONNECT host:port` tunnels and absolute-form
 * requests (`GET http://host:port/…`), with Basic proxy credentials when `credentials` is set (407
 * otherwise). Names it is told of (`route`) lead to a port on 127.0.0.1, so that a test can use a
 * registry name that is not loopback (Go's rules, and imgfs's, never proxy localhost or 127.0.0.1) and
 * that nothing but the proxy could reach: a request that did not go through the proxy fails. It records
 * what passed through it.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

export interface ProxiedRequest {
  method: string;
  /** `host:port` of a CONNECT, or the absolute URL of a plain request. */
  target: string;
  /** The Proxy-Authorization header, decoded (`user:pass`), if any. */
  proxyUser: string | undefined;
  status: number;
  /** Request headers of a plain request (after the proxy's own were taken off). */
  headers: IncomingMessage['headers'];
}

export class ConnectProxy {
  readonly log: ProxiedRequest[] = [];
  /** `user:pass` the proxy demands; undefined: none. */
  credentials: string | undefined;
  private readonly routes = new Map<string, number>();
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<ConnectProxy> {
    const server = createServer();
    const proxy = new ConnectProxy(server);
    server.on('connection', (socket) => {
      proxy.sockets.add(socket);
      socket.on('close', () => proxy.sockets.delete(socket));
    });
    server.on('connect', (incoming: IncomingMessage, client: Socket, head: Buffer) => proxy.tunnel(incoming, client, head));
    server.on('request', (incoming, response) => {
      const target = incoming.url ?? '';
      const status = proxy.refusal(incoming);
      let url: URL | undefined;
      try {
        url = new URL(target);
      } catch {
        url = undefined;
      }
      const port = url === undefined ? undefined : proxy.routes.get(url.host);
      const headers = { ...incoming.headers };
      delete headers['proxy-authorization'];
      if (status !== 0 || url === undefined || port === undefined) {
        const code = status !== 0 ? status : 502;
        proxy.record(incoming, target, code, headers);
        response.writeHead(code, code === 407 ? { 'proxy-authenticate': 'Basic realm="imgfs-test-proxy"', 'content-length': '0' } : { 'content-length': '0' });
        response.end();
        return;
      }
      const upstream = request({ host: '127.0.0.1', port, method: incoming.method, path: `${url.pathname}${url.search}`, headers }, (answer) => {
        proxy.record(incoming, target, answer.statusCode ?? 0, headers);
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      });
      upstream.on('error', () => response.destroy());
      incoming.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** `http://127.0.0.1:PORT`, with `userinfo@` when given. */
  url(userinfo?: string): string {
    return `http://${userinfo === undefined ? '' : `${userinfo}@`}127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Sends what is addressed to `name` (`host:port`) to 127.0.0.1:`port`. */
  route(name: string, port: number): void {
    this.routes.set(name, port);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private tunnel(incoming: IncomingMessage, client: Socket, head: Buffer): void {
    const target = incoming.url ?? '';
    const status = this.refusal(incoming);
    const port = this.routes.get(target);
    if (status !== 0 || port === undefined) {
      const code = status !== 0 ? status : 502;
      this.record(incoming, target, code, {});
      client.end(`HTTP/1.1 ${code} ${code === 407 ? 'Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="imgfs-test-proxy"' : 'Bad Gateway'}\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const upstream = connect(port, '127.0.0.1', () => {
      this.record(incoming, target, 200, {});
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    this.sockets.add(upstream);
    upstream.on('close', () => this.sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  }

  /** 407 when credentials are demanded and not given; 0 to go ahead. */
  private refusal(incoming: IncomingMessage): number {
    if (this.credentials === undefined) return 0;
    return proxyUser(incoming) === this.credentials ? 0 : 407;
  }

  private record(incoming: IncomingMessage, target: string, status: number, headers: IncomingMessage['headers']): void {
    this.log.push({ method: incoming.method ?? '', target, proxyUser: proxyUser(incoming), status, headers });
  }
}

function proxyUser(incoming: IncomingMessage): string | undefined {
  const header = incoming.headers['proxy-authorization'];
  const match = /^Basic (.+)$/.exec(header ?? '');
  return match === null ? undefined : Buffer.from(match[1] as string, 'base64').toString('utf8');
}
