/**
 * A registry's refusal as an ImgfsError naming the registry, the repository, what was asked for and
 * the HTTP status, with the registry's own error code (`MANIFEST_UNKNOWN`) when it sent one. Never a
 * credential or a token: neither is ever part of what these messages quote.
 */
import { ImgfsError, type ImgfsErrorCode } from '../errors.js';
import { readSmall } from './authenticator.js';
import { ConnectionError, type HttpResponse } from './http-transport.js';

/** The error for a response that is not the success the caller needed. */
export async function statusError(response: HttpResponse, display: string, what: string, member: string | undefined): Promise<ImgfsError> {
  const status = response.status;
  const body = await readSmall(response, 16 * 1024).catch(() => Buffer.alloc(0));
  const registryCode = errorCodeOf(body);
  const code: ImgfsErrorCode =
    status === 404 ? 'ENOTFOUND' : status === 401 || status === 403 ? 'EUNAUTHORIZED' : status === 429 || status >= 500 ? 'ENETWORK' : 'EPROTOCOL';
  const said = registryCode === undefined ? '' : ` ${registryCode}`;
  const hint = status === 401 ? ' (credentials missing or refused; see --creds)' : '';
  return new ImgfsError(code, `${what}: HTTP ${status}${said}${hint}`, { archive: display, member });
}

/** A connection that could not be made or kept, after the retries. */
export function networkError(error: unknown, display: string, what: string, member: string | undefined): unknown {
  if (!(error instanceof ConnectionError)) return error;
  return new ImgfsError('ENETWORK', `${what}: ${error.message}`, { archive: display, member, cause: error });
}

/** `{"errors":[{"code":"MANIFEST_UNKNOWN",…}]}` → `MANIFEST_UNKNOWN`, if the body is that and the code is plain. */
function errorCodeOf(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown }> };
    const code = parsed.errors?.[0]?.code;
    return typeof code === 'string' && /^[A-Z_]{1,64}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}
