import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { openLayers } from '../helpers/open-layers.js';
import type { LayerEntrySpec } from '../helpers/layer-tar.js';
import { DecompressedSource } from '../../lib/source/decompressed-source.js';
import { Layer } from '../../lib/layer/layer.js';
import type { ScannedFile } from '../../lib/index.js';

const big = randomBytes(3 * 1024 * 1024);
const layers: LayerEntrySpec[][] = [
  [
    { type: 'dir', name: 'etc' },
    { type: 'file', name: 'etc/passwd', content: 'root:x:0:0\n' },
    { type: 'file', name: 'etc/shadow', content: 'secret-old' },
    { type: 'file', name: 'etc/fixed', content: 'vulnerable 1.0' },
    { type: 'dir', name: 'opt' },
    { type: 'file', name: 'opt/old', content: 'hidden by opaque' },
    { type: 'file', name: 'data.bin', content: big },
    { type: 'file', name: 'linked', content: 'kept by a hard link' },
  ],
  [
    { type: 'hardlink', name: 'keeper', target: 'linked' },
    { type: 'file', name: 'etc/.wh.shadow' },
    { type: 'file', name: 'etc/fixed', content: 'patched 1.1' },
    { type: 'file', name: 'opt/.wh..wh..opq' },
    { type: 'file', name: 'opt/new', content: 'fresh' },
    { type: 'symlink', name: 'etc/alias', target: 'passwd' },
  ],
  [{ type: 'file', name: '.wh.linked' }],
];

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

async function drain(file: ScannedFile): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of file.stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('scan', () => {
  for (const gzip of [false, true]) {
    it(`feeds every visible file once, with its bytes, in archive order (${gzip ? 'gzip' : 'plain'} layers)`, async () => {
      const { fs } = await openLayers(layers, { gzip });
      const seen: Array<[string, number, string]> = [];
      for await (const file of fs.scan()) seen.push([file.path, file.layer, sha(await drain(file))]);
      expect(seen).toEqual([
        ['/etc/passwd', 0, sha('root:x:0:0\n')],
        ['/data.bin', 0, sha(big)],
        ['/keeper', 0, sha('kept by a hard link')],
        ['/etc/fixed', 1, sha('patched 1.1')],
        ['/opt/new', 1, sha('fresh')],
      ]);
    });
  }

  for (const lazy of [false, true]) {
    it(`with hash, gives each file's digest of exactly its bytes (${lazy ? 'lazily opened: hashed while indexed' : 'indexed at open: hashed by reading'})`, async () => {
      const { fs } = await openLayers(layers, { gzip: true, lazy });
      const seen: Array<[string, string | undefined, string]> = [];
      for await (const file of fs.scan({ hash: 'sha256' })) seen.push([file.path, file.digest, sha(await drain(file))]);
      expect(seen.map(([path]) => path)).toEqual(['/etc/passwd', '/data.bin', '/keeper', '/etc/fixed', '/opt/new']);
      for (const [, digest, content] of seen) expect(digest).toBe(content);
    });
  }

  it('with hash, on a lazily opened image, decodes each gzip layer once: the pass that indexes it also hashes its files', async () => {
    const decoders = new Set<DecompressedSource>();
    const read = DecompressedSource.prototype.read;
    const spy = vi.spyOn(DecompressedSource.prototype, 'read').mockImplementation(function (this: DecompressedSource, offset, length) {
      decoders.add(this);
      return read.call(this, offset, length);
    });
    const streams = vi.spyOn(Layer.prototype, 'stream');
    try {
      const { fs, paths } = await openLayers(layers, { gzip: true, lazy: true });
      const digests = new Map<string, string | undefined>();
      for await (const file of fs.scan({ hash: 'sha256' })) digests.set(file.path, file.digest);
      expect(digests.get('/data.bin')).toBe(sha(big));
      expect(digests.get('/keeper')).toBe(sha('kept by a hard link'));
      const tarBytes = paths.reduce((sum, path) => sum + gunzipSync(readFileSync(path)).length, 0);
      const inflated = [...decoders].reduce((sum, source) => sum + source.stats.inflatedBytes, 0);
      expect(inflated).toBe(tarBytes);
      // A consumer that takes only the digests makes the scan open no stream at all.
      expect(streams).not.toHaveBeenCalled();
      // And lets go of each layer's decoded spans once its files are hashed: memory holds one layer's.
      expect([...decoders].map((source) => source.stats.cachedBytes)).toEqual([...decoders].map(() => 0));
    } finally {
      spy.mockRestore();
      streams.mockRestore();
    }
  });

  it('applies include, exclude, size limit and symlinks', async () => {
    const { fs } = await openLayers(layers);
    const paths = async (options: Parameters<typeof fs.scan>[0]): Promise<string[]> => {
      const out: string[] = [];
      for await (const file of fs.scan(options)) out.push(file.path);
      return out.sort();
    };
    expect(await paths({ include: ['/etc/**'] })).toEqual(['/etc/fixed', '/etc/passwd']);
    expect(await paths({ exclude: ['*.bin', '/opt/**'] })).toEqual(['/etc/fixed', '/etc/passwd', '/keeper']);
    expect(await paths({ maxFileSize: 1024, include: ['/etc/*', '/data.bin'] })).toEqual(['/etc/fixed', '/etc/passwd']);
    expect(await paths({ symlinks: true, include: ['/etc/a*'] })).toEqual(['/etc/alias']);
  });

  it('skips a stream the consumer leaves unread, and the next file still has the right bytes', async () => {
    const { fs } = await openLayers(layers, { gzip: true });
    const hashes = new Map<string, string>();
    for await (const file of fs.scan()) {
      if (file.path === '/data.bin') continue; // never read
      hashes.set(file.path, sha(await drain(file)));
    }
    expect(hashes.get('/keeper')).toBe(sha('kept by a hard link'));
    expect(hashes.get('/opt/new')).toBe(sha('fresh'));
  });

  it('stops with the abort reason', async () => {
    const { fs } = await openLayers(layers);
    const controller = new AbortController();
    const run = async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const file of fs.scan({ signal: controller.signal })) {
        out.push(file.path);
        controller.abort(new Error('enough'));
      }
      return out;
    };
    await expect(run()).rejects.toThrow('enough');
  });
});

describe('scan backpressure', () => {
  it('a consumer that pauses does not make memory grow: a 96 MiB file in a gzip layer is never buffered whole', async () => {
    const huge = Buffer.alloc(96 * 1024 * 1024);
    for (let i = 0; i < huge.length; i += 4096) huge.writeUInt32LE(i * 2654435761 >>> 0, i); // not all zeros
    const { fs } = await openLayers([[{ type: 'file', name: 'big.img', content: huge }, { type: 'file', name: 'after', content: 'next' }]], { gzip: true });
    global.gc?.();
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = 0;
    let chunks = 0;
    const hash = createHash('sha256');
    for await (const file of fs.scan()) {
      if (file.path !== '/big.img') continue;
      for await (const chunk of file.stream) {
        hash.update(chunk as Buffer);
        chunks++;
        // A slow consumer: every few chunks it gives the event loop (I/O included) a turn, letting any
        // eager producer run ahead; no fixed sleep.
        if (chunks % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
      }
    }
    expect(hash.digest('hex')).toBe(sha(huge));
    expect(chunks).toBeGreaterThan(40);
    // Only the decompressed-span cache (64 MiB by default) may hold the file's bytes: memory stays under
    // that bound plus a little, well below the 96 MiB file.
    expect(peak).toBeLessThan(80 * 1024 * 1024);
  });
});
