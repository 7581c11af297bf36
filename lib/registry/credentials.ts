/**
 * Where credentials for a registry come from, in podman's and docker's order: what the caller gives
 * (`--creds`, `options.auth`), else `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
 * `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`): their `auths` entry for the host (or a
 * repository path under it, most specific first), else a `credHelpers` entry or the `credsStore`, run
 * as `docker-credential-NAME get`. An `identitytoken` (or a helper's `<token>` user) is an OAuth2 refresh
 * token (authenticator.ts). Secrets stay in memory: never logged, never in a message.
 */
import { fsPromises } from '../lazy-fs-promises.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ImgfsError } from '../errors.js';
import { DOCKER_HUB_API } from './image-reference.js';

export interface Credentials {
  username: string;
  password: string;
  /**
   * An OAuth2 refresh token (docker's `identitytoken`, or a helper's answer with the user name
   * `<token>`): exchanged at the registry's token realm for access tokens, never sent to the registry.
   */
  identityToken?: string | undefined;
}

/** How long a credential helper may take before it is killed. */
const HELPER_TIMEOUT_MS = 10_000;
const HUB_KEYS = ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/'];

/** `USER[:PASS]` as skopeo's `--creds` takes it (a password may hold colons). */
export function parseCreds(creds: string): Credentials {
  const colon = creds.indexOf(':');
  return colon < 0 ? { username: creds, password: '' } : { username: creds.slice(0, colon), password: creds.slice(colon + 1) };
}

/** The auth files to look in, first match wins. */
export function authFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const files: string[] = [];
  if (env['REGISTRY_AUTH_FILE']) files.push(env['REGISTRY_AUTH_FILE']);
  if (env['XDG_RUNTIME_DIR']) files.push(join(env['XDG_RUNTIME_DIR'], 'containers', 'auth.json'));
  files.push(join(env['DOCKER_CONFIG'] ?? join(env['HOME'] ?? homedir(), '.docker'), 'config.json'));
  return files;
}

/** Credentials for `registry` (`host[:port]`) and `repository`, or undefined: then anonymous. */
export async function findCredentials(registry: string, repository: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  for (const file of authFiles(env)) {
    const config = await readAuthFile(file);
    if (config === undefined) continue;
    const found = fromAuths(config, registry, repository, file);
    if (found !== undefined) return found;
    const helper = helperFor(config, registry);
    if (helper !== undefined) return runHelper(helper, registry, env);
  }
  return undefined;
}

interface AuthsEntry {
  auth?: string;
  identitytoken?: string;
}

interface AuthFile {
  auths?: Record<string, AuthsEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

async function readAuthFile(file: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await fsPromises().readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null ? (parsed as AuthFile) : undefined;
  } catch (error) {
    throw new ImgfsError('EUNAUTHORIZED', `auth file is not JSON: ${(error as Error).message}`, { archive: file });
  }
}

/** The keys an auths entry may use for this host: `host`, `https://host`, `https://host/v1/`, Hub aliases. */
function hostKeys(registry: string): string[] {
  return registry === DOCKER_HUB_API ? HUB_KEYS : [registry];
}

function normaliseKey(key: string): string {
  return key.replace(/^https?:\/\//, '').replace(/\/+$/, '').replace(/\/v[12]$/, '');
}

function fromAuths(config: AuthFile, registry: string, repository: string, file: string): Credentials | undefined {
  const auths = config.auths ?? {};
  const hosts = new Set(hostKeys(registry).map(normaliseKey));
  let best: { length: number; entry: AuthsEntry } | undefined;
  for (const [key, entry] of Object.entries(auths)) {
    const name = normaliseKey(key);
    const slash = name.indexOf('/');
    const host = slash < 0 ? name : name.slice(0, slash);
    const path = slash < 0 ? '' : name.slice(slash + 1);
    if (!hosts.has(host)) continue;
    // podman: `host/namespace` matches repositories under it; the longest match wins.
    if (path !== '' && repository !== path && !repository.startsWith(`${path}/`)) continue;
    if (best === undefined || path.length > best.length) best = { length: path.length, entry };
  }
  if (best === undefined) return undefined;
  const { auth, identitytoken } = best.entry;
  // docker login against an OAuth2 token server stores a refresh token (`identitytoken`), often with no
  // password: that token is what authenticates.
  const identityToken = typeof identitytoken === 'string' && identitytoken !== '' ? identitytoken : undefined;
  if (auth === undefined || auth === '') return identityToken === undefined ? undefined : { username: '', password: '', identityToken };
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new ImgfsError('EUNAUTHORIZED', `the auths entry for ${registry} is not base64 of USER:PASS`, { archive: file });
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), identityToken };
}

function helperFor(config: AuthFile, registry: string): string | undefined {
  const helpers = config.credHelpers ?? {};
  for (const key of hostKeys(registry)) {
    const helper = helpers[key];
    if (helper !== undefined) return helper;
  }
  return config.credsStore;
}

/**
 * `docker-credential-NAME get` with the server on stdin; `{"Username","Secret"}` on stdout. A helper
 * that knows no credentials for the server exits non-zero: anonymous then, as docker does.
 */
async function runHelper(name: string, registry: string, env: NodeJS.ProcessEnv): Promise<Credentials | undefined> {
  if (!/^[\w.-]+$/.test(name)) throw new ImgfsError('EUNAUTHORIZED', `invalid credential helper name '${name}'`, { archive: registry });
  const server = registry === DOCKER_HUB_API ? 'https://index.docker.io/v1/' : registry;
  // Loaded here, not at start-up: node:child_process costs every command ~5 ms to load.
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${name}`, ['get'], { stdio: ['pipe', 'pipe', 'ignore'], timeout: HELPER_TIMEOUT_MS, env });
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.on('error', (error) => {
      reject(new ImgfsError('EUNAUTHORIZED', `credential helper docker-credential-${name} could not run: ${error.message}`, { archive: registry }));
    });
    child.on('close', (code) => {
      if (code !== 0) return resolve(undefined);
      try {
        const parsed = JSON.parse(Buffer.concat(out).toString('utf8')) as { Username?: unknown; Secret?: unknown };
        if (typeof parsed.Username !== 'string' || typeof parsed.Secret !== 'string') throw new Error('no Username and Secret');
        // `<token>` as the user name marks an OAuth2 identity (refresh) token, as docker's helpers store it.
        resolve(parsed.Username === '<token>' ? { username: '', password: '', identityToken: parsed.Secret } : { username: parsed.Username, password: parsed.Secret });
      } catch {
        // The helper's output is never quoted: it may hold the secret.
        reject(new ImgfsError('EUNAUTHORIZED', `credential helper docker-credential-${name} answered something other than its JSON`, { archive: registry }));
      }
    });
    child.stdin.on('error', () => {}); // a helper that exits without reading
    child.stdin.end(server);
  });
}
