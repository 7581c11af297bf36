/**
 * What goes in the `Authorization` header of requests to one registry for one repository: nothing
 * (anonymous), Basic with the credentials, or a bearer token from the realm the registry's challenge
 * names, fetched with the credentials (or anonymously) for `repository:REPO:pull` and reused until it
 * expires. A 401 on a request that carried a token drops the token and asks for a new one once.
 */
import { ImgfsError } from '../errors.js';
import type { Challenge } from './auth-challenge.js';
import type { Credentials } from './credentials.js';
import type { HttpResponse } from './http-transport.js';

/** A token is renewed this long before the expiry its server states. */
const EXPIRY_MARGIN_MS = 10_000;
/** The spec's default lifetime when the token server states none. */
const DEFAULT_TOKEN_SECONDS = 60;
const MAX_TOKEN_RESPONSE = 1024 * 1024;

interface Token {
  value: string;
  expires: number;
}

/** Sends a GET for the token server (through the client's retrying transport). */
export type TokenFetch = (url: URL, headers: Record<string, string>) => Promise<HttpResponse>;

export class Authenticator {
  private challenge: Challenge | undefined;
  private token: Token | undefined;
  private pending: Promise<Token> | undefined;

  constructor(
    private readonly registry: string,
    private readonly repository: string,
    private readonly credentials: () => Promise<Credentials | undefined>,
    private readonly fetchToken: TokenFetch,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a challenge is known, i.e. requests need an Authorization header. */
  get required(): boolean {
    return this.challenge !== undefined;
  }

  /** Takes the challenge of a 401; returns whether asking again with new authorization can help. */
  async challenged(challenge: Challenge | undefined, hadAuthorization: boolean): Promise<boolean> {
    if (challenge === undefined) return false;
    const fresh = this.challenge === undefined || this.challenge.scheme !== challenge.scheme;
    this.challenge = challenge;
    if (challenge.scheme === 'bearer') {
      const hadToken = this.token !== undefined;
      this.token = undefined;
      return fresh || !hadAuthorization || hadToken;
    }
    return (fresh || !hadAuthorization) && (await this.credentials()) !== undefined;
  }

  /** The Authorization header for the next request, if the registry asked for one. */
  async header(): Promise<string | undefined> {
    const challenge = this.challenge;
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') {
      const creds = await this.credentials();
      return creds === undefined ? undefined : basic(creds);
    }
    if (this.token !== undefined && this.token.expires > this.now()) return `Bearer ${this.token.value}`;
    this.pending ??= this.requestToken(challenge).finally(() => {
      this.pending = undefined;
    });
    this.token = await this.pending;
    return `Bearer ${this.token.value}`;
  }

  private async requestToken(challenge: Challenge): Promise<Token> {
    const realm = challenge.params['realm'];
    if (realm === undefined) throw this.error('EPROTOCOL', 'the registry asked for a bearer token but named no realm');
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw this.error('EPROTOCOL', 'the bearer challenge names a realm that is not a URL');
    }
    if (challenge.params['service'] !== undefined) url.searchParams.set('service', challenge.params['service']);
    url.searchParams.set('scope', `repository:${this.repository}:pull`);
    const creds = await this.credentials();
    const headers: Record<string, string> = { accept: 'application/json' };
    if (creds !== undefined) headers['authorization'] = basic(creds);
    const started = this.now();
    const response = await this.fetchToken(url, headers);
    const body = await readSmall(response);
    if (response.status === 401 || response.status === 403) {
      throw this.error('EUNAUTHORIZED', `the token server at ${url.host} refused ${creds === undefined ? 'anonymous access' : 'the credentials'} (HTTP ${response.status})`);
    }
    if (response.status !== 200) throw this.error('EPROTOCOL', `the token server at ${url.host} answered HTTP ${response.status}`);
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw this.error('EPROTOCOL', `the token server at ${url.host} answered something other than JSON`);
    }
    const value = typeof parsed.token === 'string' ? parsed.token : typeof parsed.access_token === 'string' ? parsed.access_token : undefined;
    if (value === undefined || value === '' || /[\r\n]/.test(value)) throw this.error('EPROTOCOL', `the token server at ${url.host} sent no usable token`);
    const seconds = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_SECONDS;
    return { value, expires: started + seconds * 1000 - Math.min(EXPIRY_MARGIN_MS, (seconds * 1000) / 2) };
  }

  private error(code: 'EPROTOCOL' | 'EUNAUTHORIZED', reason: string): ImgfsError {
    return new ImgfsError(code, reason, { archive: `docker://${this.registry}/${this.repository}` });
  }
}

function basic(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}

/** A small response body, at most MAX_TOKEN_RESPONSE bytes (more is cut off, and then not JSON). */
export async function readSmall(response: HttpResponse, limit = MAX_TOKEN_RESPONSE): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    length += chunk.length;
    if (length > limit) {
      response.body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, limit);
}
