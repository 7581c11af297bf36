/**
 * A fault-injecting proxy (fault-proxy.ts) between imgfs and a real registry: every misbehaviour ends
 * in the right bytes (the tree equals the local archive's) or the right typed error, within its
 * timeout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openImage, type OpenOptions } from '../../lib/index.js';
import { repoRoot } from '../cli/run-cli.js';
import { FaultProxy, type Fault } from './fault-proxy.js';
import { imageTree } from './image-tree.js';
import { pushImage, startRegistry, type RunningRegistry } from './registry-server.js';

const DEMO = join(repoRoot, 'fixtures/demo/demo.tar');
const FAST: OpenOptions['network'] = { backoffMs: 5, idleTimeoutMs: 3000, retries: 3 };

let registry: RunningRegistry;
let proxy: FaultProxy;
let expected: string[];
let scratch: string;

beforeAll(async () => {
  registry = await startRegistry();
  await pushImage(`docker-archive:${DEMO}`, registry.host, 'demo:latest');
  proxy = await FaultProxy.start(registry.port);
  const local = await openImage(DEMO, { cache: false });
  expected = await imageTree(local);
  await local.close();
  scratch = mkdtempSync(join(tmpdir(), 'imgfs-faults-'));
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

beforeEach(() => proxy.reset());

async function remoteTree(options: OpenOptions = {}): Promise<string[]> {
  const fs = await openImage(`docker://${proxy.host}/demo:latest`, { cache: false, network: FAST, ...options });
  try {
    return await imageTree(fs);
  } finally {
    await fs.close();
  }
}

/** The first `times` blob GETs get `fault`. */
const firstBlobs = (fault: Fault, times = 1) => (n: number) => (n <= times ? fault : undefined);
/** Every layer read (a ranged GET; a config is fetched whole) gets `fault`. */
const layerReads = (fault: Fault) => (_n: number, incoming: IncomingMessage) => (incoming.headers.range !== undefined ? fault : undefined);

describe('recovering from a misbehaving registry', () => {
  it('a connection dropped mid-body resumes with Range from the byte reached', async () => {
    let layerDropped = false;
    proxy.reset((n, incoming) => {
      if (n === 1) return { kind: 'drop-mid-body' }; // the config, fetched whole: asked for again
      if (incoming.headers.range === undefined || layerDropped) return undefined;
      layerDropped = true;
      return { kind: 'drop-mid-body' };
    });
    expect(await remoteTree()).toEqual(expected);
    const dropped = proxy.log.find((entry) => entry.range !== undefined && entry.fault === 'drop-mid-body');
    expect(dropped?.bytes).toBeGreaterThan(0);
    // Asked again for the rest, from the byte reached (its Range starts where the first one stopped).
    const start = Number(/^bytes=(\d+)-/.exec(dropped?.range ?? '')?.[1]);
    expect(proxy.log.some((entry) => entry.path === dropped?.path && entry.range?.startsWith(`bytes=${start + (dropped?.bytes ?? 0)}-`))).toBe(true);
  });

  it('a body shorter than its Content-Length is completed by a ranged request', async () => {
    let cut = 0;
    proxy.reset((n, incoming) => (cut < 2 ? layerReads({ kind: 'short-body' })(n, incoming) : undefined));
    proxy.rule = ((rule) => (n: number, incoming: IncomingMessage) => {
      const fault = rule(n, incoming);
      if (fault !== undefined) cut += 1;
      return fault;
    })(proxy.rule);
    expect(await remoteTree()).toEqual(expected);
    expect(proxy.log.some((entry) => entry.range !== undefined && !entry.range.startsWith('bytes=0-'))).toBe(true);
  });

  it('500 twice, then success', async () => {
    proxy.reset(firstBlobs({ kind: 'status', status: 500 }, 2));
    expect(await remoteTree()).toEqual(expected);
    expect(proxy.log.filter((entry) => entry.status === 500)).toHaveLength(2);
  });

  it('429 with Retry-After is waited for, then retried', async () => {
    proxy.reset(firstBlobs({ kind: 'status', status: 429, retryAfter: '1' }));
    expect(await remoteTree()).toEqual(expected);
    const limited = proxy.log.findIndex((entry) => entry.status === 429);
    expect(limited).toBeGreaterThanOrEqual(0);
    expect(proxy.log[limited + 1]?.path).toBe(proxy.log[limited]?.path);
  });

  it('a slow trickle still delivers the right bytes', async () => {
    proxy.reset(() => ({ kind: 'trickle', chunk: 512 }));
    expect(await remoteTree()).toEqual(expected);
  });

  it('a redirect to another host gets no credentials there', async () => {
    proxy.requireBasic = true;
    try {
      proxy.reset(() => ({ kind: 'redirect' }));
      expect(await remoteTree({ auth: 'someone:secret' })).toEqual(expected);
      const atBlobHost = proxy.log.filter((entry) => entry.server === 'blob-host');
      expect(atBlobHost.length).toBeGreaterThan(0);
      expect(atBlobHost.every((entry) => !entry.authorization)).toBe(true);
      expect(proxy.log.filter((entry) => entry.server === 'proxy' && entry.status === 307).every((entry) => entry.authorization)).toBe(true);
    } finally {
      proxy.requireBasic = false;
    }
  });
});

describe('refusing what a registry must not be trusted with', () => {
  it('a blob whose bytes do not match its digest is EDIGEST naming the digest', async () => {
    proxy.reset(layerReads({ kind: 'corrupt' }));
    const error = await remoteTree().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'EDIGEST', message: expect.stringMatching(/blob digest mismatch: expected sha256:[a-f0-9]{64}/) });
  });

  it('a range answered with other bytes than the verified full read is EDIGEST', async () => {
    const cache = join(scratch, 'range-cache');
    // First open: the layers are streamed whole, verified, and their span digests cached.
    expect(await remoteTree({ cache })).toEqual(expected);
    proxy.reset(layerReads({ kind: 'corrupt' }));
    await expect(remoteTree({ cache })).rejects.toMatchObject({ code: 'EDIGEST', message: expect.stringContaining('differ from those verified') });
    // No layer was streamed whole again: the indexes came from the cache, the failed read was a range.
    expect(proxy.log.filter((entry) => entry.range !== undefined).length).toBeGreaterThan(0);
  });

  it('a registry that stops answering is ENETWORK within the idle timeout', async () => {
    proxy.reset(() => ({ kind: 'hang' }));
    await expect(remoteTree({ network: { idleTimeoutMs: 200, retries: 1, backoffMs: 5 } })).rejects.toMatchObject({
      code: 'ENETWORK',
      message: expect.stringContaining('sent nothing for 200 ms'),
    });
    // The config (fetched whole, without Range): one try and one retry.
    expect(proxy.log.filter((entry) => entry.path.includes('/blobs/') && entry.range === undefined).length).toBe(2);
  });

  it('options.signal aborts a request that hangs', async () => {
    proxy.reset(() => ({ kind: 'hang' }));
    const controller = new AbortController();
    const pending = remoteTree({ signal: controller.signal, network: { idleTimeoutMs: 60_000 } });
    // Aborted once the hanging request has reached the proxy.
    await proxy.recorded((entry) => entry.path.includes('/blobs/'));
    controller.abort(new Error('stop now'));
    await expect(pending).rejects.toThrow('stop now');
  });
});
