/**
 * What goes in the `Authorization` header of requests to one registry for one repository: nothing
 * (anonymous), Basic with the credentials, or a bearer token from the realm the registry's challenge
 * names, fetched with the credentials (or anonymously) for `repository:REPO:pull` and reused until it
 * expires. With an identity token (an OAuth2 refresh token, docker's `identitytoken`) the bearer token
 * is got by the distribution token spec's OAuth2 exchange instead: a POST to the realm of
 * `grant_type=refresh_token`, `service`, `scope`, `client_id` and the refresh token. A 401 on a request
 * that carried a token drops the token and asks for a new one once.
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

/** Sends a GET for the token server, or a POST of `body` (through the client's retrying transport). */
export type TokenFetch = (url: URL, headers: Record<string, string>, body?: Buffer) => Promise<HttpResponse>;

/** How imgfs names itself to an OAuth2 token server (`client_id`, required by the token spec). */
export const OAUTH_CLIENT_ID = 'imgfs';

export class Authenticator {
  private challenge: Challenge | undefined;
  private token: Token | undefined;
  private pending: Promise<Token> | undefined;
  /** A refresh token the token server handed back in place of the one it was given (rotation). */
  private rotatedRefreshToken: string | undefined;

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
    return (fresh || !hadAuthorization) && hasPassword(await this.credentials());
  }

  /** The Authorization header for the next request, if the registry asked for one. */
  async header(): Promise<string | undefined> {
    const challenge = this.challenge;
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') {
      const creds = await this.credentials();
      return creds === undefined || !hasPassword(creds) ? undefined : basic(creds);
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
    const service = challenge.params['service'];
    const scope = `repository:${this.repository}:pull`;
    const creds = await this.credentials();
    const headers: Record<string, string> = { accept: 'application/json' };
    const refreshToken = this.rotatedRefreshToken ?? creds?.identityToken;
    let form: Buffer | undefined;
    if (refreshToken !== undefined) {
      const fields = new URLSearchParams({ grant_type: 'refresh_token', service: service ?? '', scope, client_id: OAUTH_CLIENT_ID, refresh_token: refreshToken });
      form = Buffer.from(fields.toString());
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (service !== undefined) url.searchParams.set('service', service);
      url.searchParams.set('scope', scope);
      if (creds !== undefined && hasPassword(creds)) headers['authorization'] = basic(creds);
    }
    const started = this.now();
    const response = await this.fetchToken(url, headers, form);
    const body = await readSmall(response);
    if (response.status === 401 || response.status === 403) {
      const what = form !== undefined ? 'the identity token' : headers['authorization'] === undefined ? 'anonymous access' : 'the credentials';
      throw this.error('EUNAUTHORIZED', `the token server at ${url.host} refused ${what} (HTTP ${response.status})`);
    }
    if (response.status !== 200) throw this.error('EPROTOCOL', `the token server at ${url.host} answered HTTP ${response.status}`);
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw this.error('EPROTOCOL', `the token server at ${url.host} answered something other than JSON`);
    }
    const value = typeof parsed.token === 'string' ? parsed.token : typeof parsed.access_token === 'string' ? parsed.access_token : undefined;
    if (value === undefined || value === '' || /[\r\n]/.test(value)) throw this.error('EPROTOCOL', `the token server at ${url.host} sent no usable token`);
    if (form !== undefined && typeof parsed.refresh_token === 'string' && parsed.refresh_token !== '') this.rotatedRefreshToken = parsed.refresh_token;
    const seconds = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_SECONDS;
    return { value, expires: started + seconds * 1000 - Math.min(EXPIRY_MARGIN_MS, (seconds * 1000) / 2) };
  }

  private error(code: 'EPROTOCOL' | 'EUNAUTHORIZED', reason: string): ImgfsError {
    return new ImgfsError(code, reason, { archive: `docker://${this.registry}/${this.repository}` });
  }
}

/** Whether the credentials hold a user and password for Basic auth (not only an identity token). */
function hasPassword(creds: Credentials | undefined): creds is Credentials {
  return creds !== undefined && (creds.identityToken === undefined || creds.username !== '' || creds.password !== '');
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
