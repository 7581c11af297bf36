/**
 * `docker://` image names as skopeo and Docker spell them: `[HOST[:PORT]/]REPO[:TAG][@DIGEST]`, with
 * Docker's defaults (no host is Docker Hub, a one-part Hub name lives under `library/`, no tag is
 * `latest`). Parsed strictly, so that nothing in a name can reach a URL path other than its own.
 */
import { ImgfsError } from '../errors.js';

/** Docker Hub as users name it, and the host its API actually answers on. */
export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API = 'registry-1.docker.io';

export interface ImageReference {
  /** `host[:port]` the API is asked on (Docker Hub's API host, not `docker.io`). */
  registry: string;
  /** `library/nginx`, `org/app`. */
  repository: string;
  /** The tag, when the name gives no digest (then `latest` by default). */
  tag: string | undefined;
  /** `sha256:…` when the name pins one; it is then what is fetched (the tag is only a label). */
  digest: string | undefined;
  /** What is fetched from `/v2/<repository>/manifests/…`: the digest, else the tag. */
  readonly reference: string;
  /** The name in full, `docker://host/repo:tag`, for messages. */
  readonly display: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;

/** Parses what follows `docker://`; EIMGFORMAT naming the problem when it is not an image name. */
export function parseImageReference(name: string): ImageReference {
  const bad = (why: string): ImgfsError => new ImgfsError('EIMGFORMAT', `invalid image name '${name}': ${why}`, { archive: `docker://${name}` });
  let rest = name.startsWith('//') ? name.slice(2) : name;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`'${digest}' is not a digest`);
    if (digest.startsWith('sha256:') && !/^sha256:[a-f0-9]{64}$/.test(digest)) throw bad('a sha256 digest is 64 lower-case hex digits');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`'${tag}' is not a tag`);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  let host = DOCKER_HUB;
  let path = rest;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    host = first;
    path = rest.slice(slash + 1);
  }
  if (!HOST.test(host)) throw bad(`'${host}' is not a registry host`);
  if (host === DOCKER_HUB || host === 'index.docker.io') {
    host = DOCKER_HUB_API;
    if (!path.includes('/')) path = `library/${path}`;
  }
  if (path === '') throw bad('no repository');
  for (const component of path.split('/')) {
    if (!COMPONENT.test(component)) throw bad(`'${component}' is not a repository name component (lower case letters, digits, . _ -)`);
  }
  if (path.length > 255) throw bad('repository name longer than 255 characters');
  if (digest === undefined) tag ??= 'latest';
  const reference = digest ?? (tag as string);
  const display = `docker://${host}/${path}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
  return { registry: host, repository: path, tag, digest, reference, display };
}
