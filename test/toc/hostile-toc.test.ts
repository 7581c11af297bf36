/**
 * Hostile and broken tables of contents (issue 12, "Trust"). A TOC that is malformed, too large, points
 * outside the blob, overlaps itself or fails its digest is an ImgfsError; imgfs then reads the layer
 * as a plain stream with a warning, and still hides the format's metadata members. A TOC that lies
 * about what the tar stream holds passes unnoticed without `verify` (it is the layer's claim) and is
 * EDIGEST naming the path with it; a file whose bytes do not match its chunk digest is EDIGEST when read.
 * Layers are written per the specifications by toc-writer.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import type { OpenOptions } from '../../lib/fs/types.js';
import { writeEstargz, writeOciLayer, writeZstdChunked, type FixtureEntry, type TocJson, type WriteOptions, type WrittenLayer } from './toc-writer.js';

const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const root = mkdtempSync(join(tmpdir(), 'imgfs-toc-hostile-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ENTRIES: FixtureEntry[] = [
  { name: 'etc/', type: 'dir' },
  { name: 'etc/motd', data: 'welcome\n' },
  { name: 'etc/secret', data: 'the scanner must see this\n', mode: 0o600 },
  { name: 'srv/', type: 'dir' },
  { name: 'srv/big.bin', data: Buffer.alloc(300_000, 'abcdefgh') },
];

const FORMATS = [
  { format: 'estargz', write: (options: WriteOptions) => writeEstargz(ENTRIES, { chunkSize: 100_000, landmark: true, ...options }), mediaType: GZIP, plain: 'gzip' },
  // The 40-byte layout has no tar-split, so the TOC alone describes the layer (tar-split.test.ts covers the other).
  { format: 'zstd:chunked', write: (options: WriteOptions) => writeZstdChunked(ENTRIES, { chunkSize: 100_000, footer: 40, ...options }), mediaType: ZSTD, plain: 'zstd' },
] as const;

let counter = 0;
async function open(layer: WrittenLayer, mediaType: string, options: OpenOptions = {}): Promise<{ fs: Awaited<ReturnType<typeof openImage>>; warnings: string[] }> {
  const dir = writeOciLayer(join(root, String(counter++)), layer, mediaType);
  const warnings: string[] = [];
  const fs = await openImage(dir, { cache: false, onWarning: (warning) => warnings.push(warning.message), ...options });
  return { fs, warnings };
}

/** The TOC record for `name` (its first, for a chunked file). */
function recordOf(toc: TocJson, name: string): Record<string, unknown> {
  const record = toc.entries.find((entry) => entry.name === name && entry.type !== 'chunk');
  if (record === undefined) throw new Error(`no TOC record ${name}`);
  return record;
}

describe.each(FORMATS)('$format', ({ format, write, mediaType, plain }) => {
  it('is read through an honest TOC, the metadata members hidden', async () => {
    const { fs, warnings } = await open(write({}), mediaType, { verify: true });
    expect(fs.layers[0]?.compression).toBe(format);
    expect(await fs.readdir('/')).toEqual(['etc', 'srv']);
    expect((await fs.readFile('/srv/big.bin')).equals(Buffer.alloc(300_000, 'abcdefgh'))).toBe(true);
    expect(warnings).toEqual([]);
    await fs.close();
  });

  /** Expects a plain read of the layer, with a warning holding `words`, and the content intact. */
  async function expectFallback(layer: WrittenLayer, words: string[], options: OpenOptions = {}): Promise<void> {
    const { fs, warnings } = await open(layer, mediaType, options);
    try {
      expect(fs.layers[0]?.compression).toBe(plain);
      expect(warnings.length, JSON.stringify(warnings)).toBe(1);
      for (const word of words) expect(warnings[0]).toContain(word);
      expect(warnings[0]).toContain('reading the layer as a plain');
      expect(warnings[0]).toContain('layer 0');
      expect(await fs.readdir('/')).toEqual(['etc', 'srv']);
      expect((await fs.readFile('/etc/secret')).toString()).toBe('the scanner must see this\n');
    } finally {
      await fs.close();
    }
  }

  it('wrong digest: the TOC does not match the digest the descriptor names', async () => {
    const layer = write({ staleDigest: true, tamper: (toc) => toc.entries.splice(2, 1) });
    await expectFallback(layer, ['EDIGEST', 'TOC']);
  });

  it('an entry pointing past the blob', async () => {
    const layer = write({ tamper: (toc) => (recordOf(toc, 'etc/motd')['offset'] = 10_000_000) });
    await expectFallback(layer, ['EIMGFORMAT', 'etc/motd', 'outside']);
  });

  it('overlapping chunks: two files claim the same frame', async () => {
    const layer = write({
      tamper: (toc) => {
        const motd = recordOf(toc, 'etc/motd');
        const secret = recordOf(toc, 'etc/secret');
        secret['offset'] = motd['offset'];
        if (motd['endOffset'] !== undefined) secret['endOffset'] = motd['endOffset'];
      },
    });
    await expectFallback(layer, ['claim the same bytes']);
  });

  it('a huge TOC: over limits.maxTocSize', async () => {
    await expectFallback(write({}), ['ELIMIT', 'maxTocSize'], { limits: { maxTocSize: 256 } });
  });

  it('a malformed TOC: not what the schema says', async () => {
    const layer = write({ tamper: (toc) => (recordOf(toc, 'etc/motd')['size'] = -5) });
    await expectFallback(layer, ['EIMGFORMAT', '"size"']);
  });

  it('a truncated footer: the descriptor announces a TOC the blob no longer ends with', async () => {
    const layer = write({});
    // The last bytes hold nothing the tar stream needs: a gzip reader stops at the tar's end blocks.
    const cut = { ...layer, blob: layer.blob.subarray(0, layer.blob.length - 7) };
    if (format === 'zstd:chunked') {
      // zstd:chunked's annotations still say where the TOC lies: it is read from there.
      const { fs, warnings } = await open(cut, mediaType);
      expect(fs.layers[0]?.compression).toBe('zstd:chunked');
      expect(warnings).toEqual([]);
      await fs.close();
    } else {
      // No footer: read plainly, with a warning; and the plain gzip stream is cut short too, which is
      // ETRUNCATED (a gzip reader reads on past the tar's end into the cut footer member).
      const dir = writeOciLayer(join(root, String(counter++)), cut, mediaType);
      const warnings: string[] = [];
      await expect(openImage(dir, { cache: false, onWarning: (warning) => warnings.push(warning.message) })).rejects.toMatchObject({ code: 'ETRUNCATED' });
      expect(warnings.join('\n')).toContain('the descriptor announces estargz, but the blob ends with no estargz footer');
    }
  });

  it('a TOC naming a file the tar stream lacks: shown without verify, EDIGEST naming it with verify', async () => {
    const layer = write({ tamper: (toc) => toc.entries.push({ name: 'etc/ghost', type: 'dir', mode: 0o755 }) });
    const { fs } = await open(layer, mediaType);
    expect(await fs.exists('/etc/ghost')).toBe(true);
    await fs.close();
    await expect(open(layer, mediaType, { verify: true })).rejects.toMatchObject({
      code: 'EDIGEST',
      message: expect.stringContaining('/etc/ghost: the table of contents lists it, the tar stream does not have it') as unknown,
    });
  });

  it('a tar member the TOC hides: EDIGEST naming it with verify', async () => {
    const layer = write({ tamper: (toc) => toc.entries.splice(toc.entries.findIndex((entry) => entry.name === 'etc/secret'), 1) });
    const { fs } = await open(layer, mediaType);
    expect(await fs.exists('/etc/secret')).toBe(false);
    await fs.close();
    await expect(open(layer, mediaType, { verify: true })).rejects.toMatchObject({
      code: 'EDIGEST',
      message: expect.stringContaining('/etc/secret: the tar stream has it, the table of contents does not list it') as unknown,
    });
  });

  it('a TOC that changes a mode or an owner: EDIGEST naming the path with verify', async () => {
    const layer = write({ tamper: (toc) => (recordOf(toc, 'etc/secret')['mode'] = 0o644) });
    await expect(open(layer, mediaType, { verify: true })).rejects.toMatchObject({
      code: 'EDIGEST',
      message: expect.stringContaining('/etc/secret: mode: the table of contents says 644, the tar stream 600') as unknown,
    });
  });

  it("content that does not match its digest: EDIGEST when read, naming the file", async () => {
    const layer = write({ tamper: (toc) => (recordOf(toc, 'etc/motd')['digest'] = `sha256:${'0'.repeat(64)}`) });
    const { fs } = await open(layer, mediaType);
    await expect(fs.readFile('/etc/motd')).rejects.toMatchObject({ code: 'EDIGEST', message: expect.stringContaining('/etc/motd') as unknown });
    expect((await fs.readFile('/etc/secret')).toString()).toBe('the scanner must see this\n');
    await fs.close();
  });

  it('a chunk offset that points at another file: EDIGEST when read (chunk digest), and with verify', async () => {
    const layer = write({
      tamper: (toc) => {
        const chunks = toc.entries.filter((entry) => entry.name === 'srv/big.bin');
        const [first, second] = chunks as unknown as [Record<string, unknown>, Record<string, unknown>];
        second['offset'] = first['offset'];
      },
    });
    const { fs, warnings } = await open(layer, mediaType);
    // Both runs now start at one frame but claim different bytes of the file: the digest catches it.
    if (fs.layers[0]?.compression === format) {
      await expect(fs.readFile('/srv/big.bin')).rejects.toMatchObject({ code: expect.stringMatching(/EDIGEST|ETRUNCATED/) as unknown });
    } else {
      expect(warnings.join('\n')).toContain('claim the same bytes');
    }
    await fs.close();
  });
});

it('zstd:chunked: the 40-byte footer (io.containers.* keys) and the 64-byte one (io.github.containers.*) both read', async () => {
  for (const footer of [40, 64] as const) {
    const { fs, warnings } = await open(writeZstdChunked(ENTRIES, { footer }), ZSTD, { verify: true });
    expect(fs.layers[0]?.compression).toBe('zstd:chunked');
    expect((await fs.readFile('/etc/motd')).toString()).toBe('welcome\n');
    expect(warnings).toEqual([]);
    await fs.close();
  }
});

it('a footer-only eStargz layer (no annotations) is found by its footer, and a plain gzip layer is not', async () => {
  const layer = writeEstargz(ENTRIES, { landmark: true });
  const { fs } = await open({ ...layer, annotations: {} }, GZIP);
  expect(fs.layers[0]?.compression).toBe('estargz');
  await fs.close();
});

it('eStargz with shared gzip members (innerOffset, --estargz-min-chunk-size): each file read from inside its member', async () => {
  const small: FixtureEntry[] = Array.from({ length: 20 }, (_, i) => ({ name: `s/f${i}`, data: `small file ${i}\n`.repeat(i + 1) }));
  const layer = writeEstargz([{ name: 's/', type: 'dir' }, ...small], { shareMembers: true });
  const { fs, warnings } = await open(layer, GZIP, { verify: true });
  expect(warnings).toEqual([]);
  expect(fs.layers[0]?.compression).toBe('estargz');
  for (let i = 0; i < 20; i++) expect((await fs.readFile(`/s/f${i}`)).toString()).toBe(`small file ${i}\n`.repeat(i + 1));
  expect(warnings).toEqual([]);
  await fs.close();
});
