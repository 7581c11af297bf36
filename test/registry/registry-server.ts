/**
 * A real registry for the tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 at a free
 * port with its storage in a temp dir, in one of three set-ups (plain HTTP; TLS with a CA made here and
 * htpasswd Basic auth; bearer tokens from token-server.ts), filled with skopeo. Started and stopped by
 * the tests; readiness is polled with a bounded loop, never a fixed sleep.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Tls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface RegistrySetup {
  tls?: Tls;
  /** htpasswd Basic auth with this user. */
  basic?: { user: string; password: string };
  /** Token auth: the token server's realm and the certificate its tokens are signed with. */
  token?: { realm: string; service: string; issuer: string; certFile: string };
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A CA and a server certificate for 127.0.0.1, localhost and `names`, signed by it, made with openssl. */
export function makeTls(dir: string, names: readonly string[] = []): Tls {
  const run = (args: string[]): void => {
    const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`);
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=imgfs test CA']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=IP:127.0.0.1,DNS:localhost${names.map((name) => `,DNS:${name}`).join('')}\n`);
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext']);
  return { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') };
}

export async function startRegistry(setup: RegistrySetup = {}): Promise<RunningRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'imgfs-registry-'));
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: imgfs-test',
  ];
  if (setup.tls) lines.push('  tls:', `    certificate: ${setup.tls.certFile}`, `    key: ${setup.tls.keyFile}`);
  if (setup.basic) {
    const result = spawnSync('htpasswd', ['-Bbn', setup.basic.user, setup.basic.password], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`htpasswd: ${result.stderr}`);
    writeFileSync(join(dir, 'htpasswd'), result.stdout);
    lines.push('auth:', '  htpasswd:', '    realm: imgfs-test', `    path: ${join(dir, 'htpasswd')}`);
  }
  if (setup.token) {
    const { realm, service, issuer, certFile } = setup.token;
    lines.push('auth:', '  token:', `    realm: ${realm}`, `    service: ${service}`, `    issuer: ${issuer}`, `    rootcertbundle: ${certFile}`);
  }
  writeFileSync(join(dir, 'config.yml'), `${lines.join('\n')}\n`);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  const stop = async (): Promise<void> => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(port, setup.tls !== undefined, child);
  } catch (error) {
    await stop();
    throw new Error(`docker-registry did not start: ${(error as Error).message}\n${Buffer.concat(stderr).toString()}`);
  }
  return { host: `127.0.0.1:${port}`, port, dir, stop };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killed = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
  if (!killed) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Polls `/v2/` until the server answers anything (bounded: 20 s). */
async function waitForHttp(port: number, tls: boolean, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (let delay = 20; Date.now() < deadline; delay = Math.min(delay * 2, 250)) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const send = tls ? httpsRequest : httpRequest;
      const request = send({ host: '127.0.0.1', port, path: '/v2/', rejectUnauthorized: false, timeout: 1000 }, (response) => {
        response.resume();
        resolve(true);
      });
      request.on('error', () => resolve(false));
      request.on('timeout', () => request.destroy());
      request.end();
    });
    if (ok) return;
    await sleep(delay);
  }
  throw new Error('no answer within 20 s');
}

/**
 * `skopeo copy SOURCE docker://HOST/DEST` into a test registry (no TLS check: its CA is the test's).
 * Asynchronous: a token server in this process must go on answering while skopeo pushes. `all`
 * pushes every image of an index (skopeo's --all). `preserveDigests` stops skopeo's blob-info cache from
 * pushing another blob it once saw with the same content (say plain zstd for zstd:chunked).
 */
export async function pushImage(source: string, host: string, dest: string, creds?: string, all = false, preserveDigests = false): Promise<void> {
  const args = ['copy', '--quiet', '--dest-tls-verify=false', ...(all ? ['--all'] : []), ...(preserveDigests ? ['--preserve-digests'] : []), ...(creds ? ['--dest-creds', creds] : []), source, `docker://${host}/${dest}`];
  const child = spawn('skopeo', args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, REGISTRY_AUTH_FILE: join(tmpdir(), 'imgfs-no-auth.json') } });
  const stderr: Buffer[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`skopeo ${args.join(' ')}: ${Buffer.concat(stderr).toString()}`);
}
