/**
 * Matching a user's `ref` against the names an archive stores. Docker stores familiar names
 * (`alpine:latest`), containerd full ones (`docker.io/library/alpine:latest`); a user may type either,
 * or leave the tag out. Both sides are expanded to the full form before comparing.
 */

/**
 * The full form of a docker reference: registry, path and tag (`:latest` when none is given), with a
 * trailing `@digest` kept. `alpine` → `docker.io/library/alpine:latest`.
 */
export function expandDockerRef(ref: string): string {
  let name = ref.trim();
  let digest = '';
  const at = name.indexOf('@');
  if (at >= 0) {
    digest = name.slice(at);
    name = name.slice(0, at);
  }
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon <= slash && digest === '') name += ':latest';
  const first = name.indexOf('/');
  const head = first < 0 ? '' : name.slice(0, first);
  const isRegistry = head !== '' && (head.includes('.') || head.includes(':') || head === 'localhost');
  if (!isRegistry) name = `docker.io/${name}`;
  const rest = name.slice(name.indexOf('/') + 1);
  if (name.startsWith('docker.io/') && !rest.includes('/')) name = `docker.io/library/${rest}`;
  return name + digest;
}

/** True when `stored` and `wanted` name the same image: verbatim, or once both are expanded. */
export function sameDockerRef(stored: string, wanted: string): boolean {
  if (stored === wanted) return true;
  if (stored === '' || wanted === '') return false;
  return expandDockerRef(stored) === expandDockerRef(wanted);
}
