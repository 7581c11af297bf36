import type { LoadOptions } from '../image/loaded-image.js';
import { parseCreds } from '../registry/credentials.js';
import type { OpenOptions } from './types.js';

/** OpenOptions for `docker://` images, as the loader takes them. */
export function registryOptions(options: OpenOptions): Pick<LoadOptions, 'auth' | 'network'> {
  const auth = typeof options.auth === 'string' ? parseCreds(options.auth) : options.auth;
  return { auth, network: { ...options.network, tlsVerify: options.tlsVerify, signal: options.signal } };
}
