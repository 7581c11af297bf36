/**
 * Image names with skopeo's transport prefixes: `docker://HOST/REPO[:TAG|@DIGEST]` for a registry, and
 * for local images `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE[:REF]`, so that a
 * path is never mistaken for something else. A name without a prefix is a path, as before.
 */
import type { ImageFormat } from './loaded-image.js';

export type TransportName =
  | { transport: 'docker'; name: string }
  | { transport: 'oci' | 'oci-archive' | 'docker-archive'; path: string; ref: string | undefined };

const LOCAL = ['oci-archive', 'docker-archive', 'oci'] as const;

/** The transport and its operand, or undefined for a plain path. */
export function parseTransportName(source: string): TransportName | undefined {
  if (source.startsWith('docker://')) return { transport: 'docker', name: source.slice('docker://'.length) };
  for (const transport of LOCAL) {
    if (!source.startsWith(`${transport}:`)) continue;
    const rest = source.slice(transport.length + 1);
    // As skopeo: the path ends at the first colon, the rest is the reference (`demo:latest` keeps its own).
    const colon = rest.indexOf(':');
    return colon < 0 ? { transport, path: rest, ref: undefined } : { transport, path: rest.slice(0, colon), ref: rest.slice(colon + 1) || undefined };
  }
  return undefined;
}

/** The formats each local transport accepts. */
export function formatsOf(transport: 'oci' | 'oci-archive' | 'docker-archive'): ReadonlySet<ImageFormat> {
  return new Set<ImageFormat>(transport === 'oci' ? ['oci-dir'] : transport === 'oci-archive' ? ['oci-archive'] : ['docker-archive', 'docker-legacy']);
}

/** Whether `source` is written with a transport prefix (the CLI then never splits it at colons). */
export function hasTransportPrefix(source: string): boolean {
  return parseTransportName(source) !== undefined;
}
