/**
 * The OCI distribution API for one repository: manifests (by tag or digest, OCI and Docker schema 2),
 * blobs whole (configs) or by byte range (layers). Every exchange goes through `exchange`, which
 * authenticates (see authenticator.ts), retries connection errors, 429 (honouring Retry-After) and 5xx
 * with backoff, and follows a blob's redirect to another host without sending it the credentials. A
 * ranged read that loses its connection mid-body resumes with `Range` from where it stopped.
 */
import { createHash } from '../lazy-crypto.js';
import { ImgfsError } from '../errors.js';
import { parseChallenge } from './auth-challenge.js';
import { Authenticator, readSmall } from './authenticator.js';
import { findCredentials, type Credentials } from './credentials.js';
import { ConnectionError, HttpTransport, PROXY_REFUSED, isCertificateError, isTlsMismatch, type HttpResponse, type NetworkOptions } from './http-transport.js';
import type { ImageReference } from './image-reference.js';
import { networkError, statusError } from './registry-errors.js';

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Manifests, indexes and configs larger than this are refused (as json-document.ts does locally). */
export const MAX_DOCUMENT_BYTES = 8 * 1024 * 1024;
const MAX_REDIRECTS = 5;
const MAX_BACKOFF_MS = 10_000;
/** A Retry-After longer than this is not waited for: the registry is reported as unavailable. */
const MAX_RETRY_AFTER_MS = 60_000;
/** How long a ranged response may wait for its reader to pull before it is dropped (see `range`). */
const PARK_MS = 5000;
const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

export interface RegistryClientOptions {
  /** Credentials to use; otherwise looked up in the auth files (credentials.ts). */
  auth?: Credentials | undefined;
  network?: NetworkOptions | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}

export interface FetchedManifest {
  bytes: Buffer;
  /** From Content-Type (without parameters), or the document's own `mediaType`. */
  mediaType: string | undefined;
  digest: string;
}

export class RegistryClient {
  readonly transport: HttpTransport;
  private readonly authenticator: Authenticator;
  private base: Promise<URL> | undefined;
  private readonly retries: number;
  private readonly backoffMs: number;
  private credentials: Promise<Credentials | undefined> | undefined;

  constructor(
    readonly ref: ImageReference,
    private readonly options: RegistryClientOptions = {},
  ) {
    this.transport = new HttpTransport(options.network);
    this.retries = options.network?.retries ?? 4;
    this.backoffMs = options.network?.backoffMs ?? 200;
    this.authenticator = new Authenticator(
      ref.registry,
      ref.repository,
      () => (this.credentials ??= options.auth !== undefined ? Promise.resolve(options.auth) : findCredentials(ref.registry, ref.repository, options.env)),
      (url, headers, body) => this.exchange(url, headers, { authorize: false, redirects: false, body }),
    );
  }

  get display(): string {
    return this.ref.display;
  }

  /** A manifest or index, checked against the digest asked for or the one the registry states. */
  async manifest(reference: string): Promise<FetchedManifest> {
    return this.retryingBody(() => this.fetchManifest(reference));
  }

  private async fetchManifest(reference: string): Promise<FetchedManifest> {
    const member = reference;
    const response = await this.get(`manifests/${reference}`, { accept: MANIFEST_ACCEPT }, 'manifest', member);
    const declared = Number(response.headers['content-length']);
    if (declared > MAX_DOCUMENT_BYTES) {
      response.body.destroy();
      throw new ImgfsError('ELIMIT', `manifest of ${declared} bytes is larger than ${MAX_DOCUMENT_BYTES}`, { archive: this.display, member });
    }
    const bytes = await this.readDocument(response, 'manifest', member);
    const stated = headerValue(response.headers['docker-content-digest']);
    const expected = reference.includes(':') ? reference : stated;
    const digest = expected !== undefined ? checkBytes(bytes, expected, 'manifest digest', this.display, member) : `sha256:${sha256(bytes)}`;
    const contentType = headerValue(response.headers['content-type'])?.split(';')[0]?.trim();
    return { bytes, mediaType: contentType === '' ? undefined : contentType, digest };
  }

  /** A small blob (a config) whole, checked against its digest. */
  async blob(digest: string): Promise<Buffer> {
    return this.retryingBody(async () => {
      const response = await this.get(`blobs/${digest}`, {}, 'blob', digest);
      const bytes = await this.readDocument(response, 'blob', digest);
      checkBytes(bytes, digest, 'blob digest', this.display, digest);
      return bytes;
    });
  }

  /** A small document whose body was cut off (ETRUNCATED) is asked for again, with backoff. */
  private async retryingBody<T>(fetch: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fetch();
      } catch (error) {
        if (!(error instanceof ImgfsError && error.code === 'ETRUNCATED') || attempt > this.retries) throw error;
        await this.backoff(attempt);
      }
    }
  }

  /**
   * Bytes `[start, end)` of a blob of `size` bytes, as they arrive. A 206 must name exactly that range
   * (and `size`); a 200 is accepted for a range that starts at 0. A connection lost mid-body resumes
   * from the byte reached, within the retry budget; a body that ends short is ETRUNCATED after them.
   */
  async *range(digest: string, start: number, end: number, size: number): AsyncGenerator<Buffer> {
    let position = start;
    let failures = 0;
    while (position < end) {
      const response = await this.get(`blobs/${digest}`, { range: `bytes=${position}-${end - 1}` }, 'blob', digest);
      if (response.status === 206) {
        const got = headerValue(response.headers['content-range']);
        const want = `bytes ${position}-${end - 1}/${size}`;
        if (got !== want) {
          response.body.destroy();
          throw new ImgfsError('EPROTOCOL', `blob range: asked for ${want}, the registry sent Content-Range ${got ?? '(none)'}`, {
            archive: this.display,
            member: digest,
            offset: position,
          });
        }
      } else {
        // 200: the whole blob. Usable only when what was asked for starts at its beginning.
        const length = Number(response.headers['content-length']);
        if (position !== 0 || (Number.isFinite(length) && length !== size)) {
          response.body.destroy();
          throw new ImgfsError('EPROTOCOL', `blob range: the registry ignored Range and sent ${length} bytes from offset 0`, {
            archive: this.display,
            member: digest,
            offset: position,
          });
        }
      }
      // A reader that stops pulling (a decoder that has what it wanted) must not hold a socket: after
      // PARK_MS (5 s) the response is dropped, and the next pull asks again from where it stopped.
      let parked = false;
      try {
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          let piece = chunk;
          if (piece.length > end - position) piece = piece.subarray(0, end - position);
          this.transport.stats.bytes += chunk.length;
          if (piece.length === 0) continue;
          position += piece.length;
          failures = 0;
          const park = setTimeout(() => {
            parked = true;
            response.body.destroy();
          }, PARK_MS);
          park.unref();
          try {
            yield piece;
          } finally {
            clearTimeout(park);
          }
          if (position >= end) break;
        }
      } catch (error) {
        this.options.network?.signal?.throwIfAborted();
        if (parked) continue;
        if (++failures > this.retries) throw networkError(asConnection(error), this.display, 'blob read', digest);
        await this.backoff(failures);
        continue;
      } finally {
        response.body.destroy();
      }
      if (parked) continue;
      if (position < end) {
        // The body ended early on a connection that looked healthy: ask again for the rest.
        if (++failures > this.retries) {
          throw new ImgfsError('ETRUNCATED', `blob body ended at byte ${position} of ${end}`, { archive: this.display, member: digest, offset: position });
        }
        await this.backoff(failures);
      }
    }
  }

  close(): void {
    this.transport.close();
  }

  /** GET `/v2/<repository>/<path>`; anything but 200/206 is an ImgfsError naming it. */
  private async get(path: string, headers: Record<string, string>, what: string, member: string): Promise<HttpResponse> {
    const base = await this.baseUrl();
    const url = new URL(`/v2/${this.ref.repository}/${path}`, base);
    let response: HttpResponse;
    // Named in the reason (`manifest latest: HTTP 404 …`), not as an archive member.
    const asked = `${what} ${member}`;
    try {
      response = await this.exchange(url, headers, { authorize: true, redirects: true });
    } catch (error) {
      throw networkError(error, this.display, asked, undefined);
    }
    if (response.status === 200 || response.status === 206) return response;
    throw await statusError(response, this.display, asked, undefined);
  }

  /**
   * `https://host/`, or `http://host/` for a registry that does not speak TLS when that is allowed (a
   * loopback host, or tlsVerify false). Found by asking `/v2/`, which also brings the auth challenge.
   */
  private baseUrl(): Promise<URL> {
    this.base ??= (async () => {
      const host = this.ref.registry;
      const plainAllowed = this.options.network?.tlsVerify === false || isLoopback(host);
      const secure = new URL(`https://${host}/`);
      try {
        await this.ping(secure, plainAllowed ? 1 : undefined);
        return secure;
      } catch (error) {
        if (!plainAllowed || !isTlsMismatch(error)) throw networkError(error, this.display, 'registry', undefined);
      }
      const plain = new URL(`http://${host}/`);
      try {
        await this.ping(plain);
      } catch (error) {
        throw networkError(error, this.display, 'registry', undefined);
      }
      return plain;
    })();
    return this.base;
  }

  private async ping(base: URL, tries?: number): Promise<void> {
    const response = await this.exchange(new URL('/v2/', base), {}, { authorize: false, redirects: false, tries });
    response.body.destroy();
    if (response.status === 401) await this.authenticator.challenged(parseChallenge(response.headers['www-authenticate']), false);
  }

  /**
   * One request, as many times as it takes: authorization added for the registry's own origin (and
   * renewed once on a 401), redirects followed (credentials dropped for another origin), connection
   * errors, 429 and 5xx retried from the original URL with backoff.
   */
  private async exchange(
    url: URL,
    headers: Record<string, string>,
    how: { authorize: boolean; redirects: boolean; tries?: number | undefined; body?: Buffer | undefined },
  ): Promise<HttpResponse> {
    const tries = how.tries ?? this.retries + 1;
    let attempt = 0;
    let reauthorized = false;
    for (;;) {
      attempt += 1;
      let current = url;
      let response: HttpResponse | undefined;
      let failure: unknown;
      for (let hops = 0; ; hops++) {
        const sent = { ...headers };
        if (how.authorize && current.origin === url.origin) {
          const authorization = await this.authenticator.header();
          if (authorization !== undefined) sent['authorization'] = authorization;
        }
        try {
          response = await this.transport.send(current, how.body === undefined ? { headers: sent } : { method: 'POST', headers: sent, body: how.body });
        } catch (error) {
          failure = error;
          break;
        }
        if (response.status === 401 && how.authorize && current.origin === url.origin && !reauthorized) {
          reauthorized = true;
          const challenge = parseChallenge(response.headers['www-authenticate']);
          if (await this.authenticator.challenged(challenge, sent['authorization'] !== undefined)) {
            response.body.destroy();
            hops -= 1;
            continue;
          }
          break;
        }
        if (!how.redirects || !REDIRECTS.has(response.status)) break;
        const location = headerValue(response.headers['location']);
        response.body.destroy();
        if (location === undefined || hops >= MAX_REDIRECTS) {
          throw new ImgfsError('EPROTOCOL', `HTTP ${response.status} ${location === undefined ? 'without a Location' : `more than ${MAX_REDIRECTS} times`}`, {
            archive: this.display,
          });
        }
        current = new URL(location, current);
      }
      if (response !== undefined && failure === undefined) {
        const status = response.status;
        if (!(status === 429 || status >= 500) || attempt >= tries) return response;
        const after = retryAfterMs(headerValue(response.headers['retry-after']));
        if (after !== undefined && after > MAX_RETRY_AFTER_MS) return response;
        response.body.destroy();
        await this.backoff(attempt, after);
        continue;
      }
      if (!(failure instanceof ConnectionError) || isCertificateError(failure) || failure.code === PROXY_REFUSED || attempt >= tries) throw failure;
      await this.backoff(attempt);
    }
  }

  private async backoff(attempt: number, retryAfterMs?: number): Promise<void> {
    const delay = retryAfterMs ?? Math.min(MAX_BACKOFF_MS, this.backoffMs * 2 ** (attempt - 1));
    const signal = this.options.network?.signal;
    // node:timers/promises taken here, not imported: only a retry waits, and every command would load it.
    await process.getBuiltinModule('node:timers/promises').setTimeout(delay, undefined, signal === undefined ? {} : { signal });
  }

  /** Reads a manifest or config body, at most MAX_DOCUMENT_BYTES. */
  private async readDocument(response: HttpResponse, what: string, member: string): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await readSmall(response, MAX_DOCUMENT_BYTES + 1);
      this.transport.stats.bytes += bytes.length;
    } catch (error) {
      const cause = asConnection(error);
      if (!(cause instanceof ConnectionError)) throw cause;
      throw new ImgfsError('ETRUNCATED', `${what}: the body was cut off (${cause.message})`, { archive: this.display, member, cause });
    }
    if (bytes.length > MAX_DOCUMENT_BYTES) {
      throw new ImgfsError('ELIMIT', `${what} larger than ${MAX_DOCUMENT_BYTES} bytes`, { archive: this.display, member });
    }
    const declared = Number(headerValue(response.headers['content-length']));
    if (Number.isFinite(declared) && declared !== bytes.length) {
      throw new ImgfsError('ETRUNCATED', `${what}: got ${bytes.length} bytes of the ${declared} announced`, { archive: this.display, member });
    }
    return bytes;
  }
}

function asConnection(error: unknown): unknown {
  if (error instanceof ConnectionError || error instanceof ImgfsError) return error;
  if (error instanceof Error && error.name === 'AbortError') return error;
  const code = (error as NodeJS.ErrnoException).code;
  return new ConnectionError(error instanceof Error ? error.message : String(error), typeof code === 'string' ? code : 'ECONNRESET', { cause: error });
}

/** Retry-After as seconds or an HTTP date, in milliseconds from now. */
export function retryAfterMs(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** EDIGEST unless `bytes` hash to `expected` (sha256 or sha512); returns the digest. */
function checkBytes(bytes: Buffer, expected: string, what: string, display: string, member: string): string {
  const algorithm = expected.slice(0, expected.indexOf(':'));
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new ImgfsError('EDIGEST', `cannot check ${what} ${expected}: unsupported algorithm`, { archive: display, member });
  }
  const actual = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
  if (actual !== expected) {
    throw new ImgfsError('EDIGEST', `${what} mismatch: expected ${expected}, content hashes to ${actual}`, { archive: display, member });
  }
  return actual;
}

/** Hosts Docker talks plain HTTP to without being told: this machine. */
export function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '');
  return name === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(name) || name === '[::1]';
}
