/**
 * A small token server for distribution's `auth: token:` set-up, written for the tests: it checks
 * Basic credentials, and answers a JWT (RS256, signed with a key whose self-signed certificate is the
 * registry's `rootcertbundle`, carried in the `x5c` header) granting what the scope asks for. It
 * counts the tokens it issued, so that a test can see them cached and renewed. It also takes the
 * OAuth2 exchange of the distribution token spec: a POST of `grant_type=refresh_token` with the refresh
 * token set in `refreshToken` (and `service`, `scope`, `client_id`), answered with an `access_token`
 * and, when `rotateTo` is set, a new refresh token that replaces the old one.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export const TOKEN_SERVICE = 'imgfs-test-registry';
export const TOKEN_ISSUER = 'imgfs-test-token-server';

export class TokenServer {
  issued = 0;
  /** Lifetime of the tokens issued, in seconds. */
  expiresIn = 300;
  /** Requests refused for bad or missing credentials. */
  refused = 0;
  /** The refresh token the OAuth2 exchange accepts; undefined: that exchange is refused. */
  refreshToken: string | undefined;
  /** A refresh token to hand back in place of the one used (rotation), once. */
  rotateTo: string | undefined;
  /** The OAuth2 requests received: their form fields but the refresh token. */
  readonly oauthRequests: Array<Record<string, string>> = [];

  private constructor(
    private readonly server: Server,
    readonly certFile: string,
  ) {}

  /** Makes its key and certificate under `dir` (openssl) and listens on 127.0.0.1. */
  static async start(dir: string, user: string, password: string): Promise<TokenServer> {
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'token.key', '-out', 'token.pem', '-days', '2', '-subj', '/CN=imgfs token signer'], {
      cwd: dir,
      encoding: 'utf8',
    });
    if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
    const key = createPrivateKey(readFileSync(join(dir, 'token.key')));
    const certDer = new X509Certificate(readFileSync(join(dir, 'token.pem'))).raw;
    const server = createServer();
    const instance = new TokenServer(server, join(dir, 'token.pem'));
    server.on('request', (incoming, response) => {
      if (incoming.method === 'POST') {
        const body: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => body.push(chunk));
        incoming.on('end', () => instance.oauth(Buffer.concat(body).toString(), incoming.headers['content-type'], response, signToken));
        return;
      }
      const url = new URL(incoming.url ?? '/', 'http://localhost');
      const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      if (incoming.headers.authorization !== expected) {
        instance.refused += 1;
        response.writeHead(401, { 'content-type': 'application/json' });
        response.end('{"details":"bad credentials"}');
        return;
      }
      instance.issued += 1;
      response.writeHead(200, { 'content-type': 'application/json' });
      const token = signToken(url.searchParams.getAll('scope'), url.searchParams.get('service'));
      response.end(JSON.stringify({ token, expires_in: instance.expiresIn, issued_at: new Date().toISOString() }));
    });
    /** A JWT granting `scopes` for `service`. */
    const signToken = (scopes: string[], service: string | null): string => {
      const access = scopes.flatMap((scope) => {
        const [type, name, actions] = scope.split(':');
        return type === undefined || name === undefined || actions === undefined ? [] : [{ type, name, actions: actions.split(',') }];
      });
      const now = Math.floor(Date.now() / 1000);
      const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer.toString('base64')] };
      const claims = { iss: TOKEN_ISSUER, sub: user, aud: service, exp: now + instance.expiresIn, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
      const unsigned = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
      return `${unsigned}.${sign('sha256', Buffer.from(unsigned), key).toString('base64url')}`;
    };
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return instance;
  }

  /** The OAuth2 exchange: a refresh token for an access token (and maybe a new refresh token). */
  private oauth(body: string, contentType: string | undefined, response: ServerResponse, signJwt: (scopes: string[], service: string | null) => string): void {
    const form = new URLSearchParams(body);
    const { refresh_token: given, ...rest } = Object.fromEntries(form);
    this.oauthRequests.push({ ...rest, 'content-type': contentType ?? '' });
    const valid = form.get('grant_type') === 'refresh_token' && (form.get('client_id') ?? '') !== '' && given !== undefined && given === this.refreshToken;
    if (!valid) {
      this.refused += 1;
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end('{"error":"invalid_grant"}');
      return;
    }
    this.issued += 1;
    const answer: Record<string, unknown> = { access_token: signJwt(form.getAll('scope').flatMap((scope) => scope.split(' ')), form.get('service')), expires_in: this.expiresIn };
    if (this.rotateTo !== undefined) {
      answer['refresh_token'] = this.rotateTo;
      this.refreshToken = this.rotateTo;
      this.rotateTo = undefined;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(answer));
  }

  get realm(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/token`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}
