/**
 * An HTTP proxy written for the tests, between imgfs and a real registry, that misbehaves on command on
 * blob GETs: drops the connection mid-body, answers 500 or 429 (with Retry-After) a number of times,
 * trickles, sends less than Content-Length, redirects to another host (a second server that records
 * whether an Authorization header arrived), changes a byte of the body, or never answers. It logs
 * every request with the body bytes it sent, for counting.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { kind: 'drop-mid-body' }
  | { kind: 'status'; status: number; retryAfter?: string }
  | { kind: 'trickle'; chunk: number }
  | { kind: 'short-body' }
  | { kind: 'redirect' }
  | { kind: 'corrupt' }
  /** The body, changed by `change` (the same length: headers stay as the registry sent them). */
  | { kind: 'replace'; change: (body: Buffer) => Buffer }
  | { kind: 'hang' };

export interface LoggedRequest {
  server: 'proxy' | 'blob-host';
  method: string;
  path: string;
  range: string | undefined;
  authorization: boolean;
  status: number;
  /** Body bytes sent. */
  bytes: number;
  /** The fault injected, if any. */
  fault: Fault['kind'] | undefined;
}

/** Chooses the fault for a blob GET; `n` counts blob GETs so far, from 1. */
export type FaultRule = (n: number, incoming: IncomingMessage) => Fault | undefined;

export class FaultProxy {
  rule: FaultRule = () => undefined;
  /** When set, /v2/ requests without an Authorization header get a Basic challenge. */
  requireBasic = false;
  readonly log: LoggedRequest[] = [];
  /** Waiters of `recorded`, told of each request as it is logged. */
  private readonly watchers = new Set<(entry: LoggedRequest) => void>();
  private blobGets = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly upstreamPort: number,
    private readonly proxy: Server,
    private readonly blobHost: Server,
  ) {}

  static async start(upstreamPort: number): Promise<FaultProxy> {
    const proxy = createServer();
    const blobHost = createServer();
    const instance = new FaultProxy(upstreamPort, proxy, blobHost);
    proxy.on('request', (incoming, response) => instance.handle(incoming, response));
    blobHost.on('request', (incoming, response) => instance.forward(incoming, response, 'blob-host', undefined));
    for (const server of [proxy, blobHost]) {
      server.on('connection', (socket) => {
        instance.sockets.add(socket);
        socket.on('close', () => instance.sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    }
    return instance;
  }

  get host(): string {
    return `127.0.0.1:${(this.proxy.address() as AddressInfo).port}`;
  }

  /** The other host blobs are redirected to: `localhost`, another name and port than the registry's. */
  get blobHostOrigin(): string {
    return `http://localhost:${(this.blobHost.address() as AddressInfo).port}`;
  }

  reset(rule: FaultRule = () => undefined): void {
    this.rule = rule;
    this.log.length = 0;
    this.blobGets = 0;
  }

  /** Body bytes and requests sent for blobs, optionally for one digest. */
  blobTraffic(digest?: string): { requests: number; bytes: number } {
    const hits = this.log.filter((entry) => entry.path.includes('/blobs/') && (digest === undefined || entry.path.endsWith(digest)));
    return { requests: hits.length, bytes: hits.reduce((sum, entry) => sum + entry.bytes, 0) };
  }

  /** Resolves with the first request logged from now on (or already logged) that `matches`. */
  recorded(matches: (entry: LoggedRequest) => boolean): Promise<LoggedRequest> {
    const logged = this.log.find(matches);
    if (logged !== undefined) return Promise.resolve(logged);
    return new Promise((resolve) => {
      const watcher = (entry: LoggedRequest): void => {
        if (!matches(entry)) return;
        this.watchers.delete(watcher);
        resolve(entry);
      };
      this.watchers.add(watcher);
    });
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([this.proxy, this.blobHost].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }

  private handle(incoming: IncomingMessage, response: ServerResponse): void {
    const path = incoming.url ?? '/';
    if (this.requireBasic && incoming.headers.authorization === undefined) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="imgfs-proxy"', 'content-length': '0' });
      response.end();
      this.record('proxy', incoming, 401, 0, undefined);
      return;
    }
    const fault = incoming.method === 'GET' && path.includes('/blobs/') ? this.rule(++this.blobGets, incoming) : undefined;
    if (fault?.kind === 'status') {
      response.writeHead(fault.status, { 'content-length': '0', ...(fault.retryAfter !== undefined ? { 'retry-after': fault.retryAfter } : {}) });
      response.end();
      this.record('proxy', incoming, fault.status, 0, fault);
      return;
    }
    if (fault?.kind === 'hang') {
      this.record('proxy', incoming, 0, 0, fault);
      return; // never answered; the socket is destroyed by stop()
    }
    if (fault?.kind === 'redirect') {
      response.writeHead(307, { location: `${this.blobHostOrigin}${path}`, 'content-length': '0' });
      response.end();
      this.record('proxy', incoming, 307, 0, fault);
      return;
    }
    this.forward(incoming, response, 'proxy', fault);
  }

  /** Passes the request to the registry (without the proxy's own credentials) and the answer back, faulted. */
  forward(incoming: IncomingMessage, response: ServerResponse, server: LoggedRequest['server'], fault: Fault | undefined): void {
    const headers = { ...incoming.headers, host: `127.0.0.1:${this.upstreamPort}` };
    if (this.requireBasic || server === 'blob-host') delete headers.authorization;
    const upstream = request({ host: '127.0.0.1', port: this.upstreamPort, method: incoming.method, path: incoming.url, headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => void this.reply(incoming, response, server, answer, Buffer.concat(chunks), fault));
    });
    upstream.on('error', () => response.destroy());
    upstream.end();
  }

  private async reply(
    incoming: IncomingMessage,
    response: ServerResponse,
    server: LoggedRequest['server'],
    answer: IncomingMessage,
    body: Buffer,
    fault: Fault | undefined,
  ): Promise<void> {
    const status = answer.statusCode ?? 502;
    response.writeHead(status, answer.headers);
    let sent = body;
    if (fault?.kind === 'corrupt' && body.length > 0) {
      sent = Buffer.from(body);
      const at = Math.floor(body.length / 2);
      sent[at] = (sent[at] as number) ^ 0xff;
    }
    if (fault?.kind === 'replace') sent = fault.change(body);
    if (fault?.kind === 'drop-mid-body' || fault?.kind === 'short-body') {
      const cut = fault.kind === 'drop-mid-body' ? Math.floor(body.length / 2) : Math.max(0, body.length - 7);
      response.write(body.subarray(0, cut));
      this.record(server, incoming, status, cut, fault);
      // Flushed, then the connection ends with the body incomplete.
      response.socket?.end();
      return;
    }
    if (fault?.kind === 'trickle') {
      for (let at = 0; at < sent.length; at += fault.chunk) {
        response.write(sent.subarray(at, at + fault.chunk));
        await new Promise((resolve) => setImmediate(resolve));
      }
      response.end();
    } else {
      response.end(sent);
    }
    this.record(server, incoming, status, sent.length, fault);
  }

  private record(server: LoggedRequest['server'], incoming: IncomingMessage, status: number, bytes: number, fault: Fault | undefined): void {
    const entry: LoggedRequest = {
      server,
      method: incoming.method ?? 'GET',
      path: incoming.url ?? '/',
      range: incoming.headers.range,
      authorization: incoming.headers.authorization !== undefined,
      status,
      bytes,
      fault: fault?.kind,
    };
    this.log.push(entry);
    for (const watcher of this.watchers) watcher(entry);
  }
}
