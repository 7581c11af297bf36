/**
 * Hostile compressed layers: gzip and zstd streams that are cut, corrupt, bombs, frames that ask for
 * gigabytes of window, and media types that lie about the compression. Each gives one ImgfsError
 * naming the layer (index and digest), or, where the bytes are honest and only the label lies, the
 * right view.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ImgfsError } from '../../lib/errors.js';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { compressLayer, sha256Digest } from '../helpers/image-builder.js';
import { checkImgfsError, expectOpenFails, heapUsed, open, patch, put, rejection, tempDir } from './hostile-helpers.js';
import { writeOciArchive, writeOciDir } from './oci-writer.js';
import { rawBlocks, windowDescriptor, zeroBlocks, zstdFrame } from './zstd-frames.js';

const content = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
const layer = buildLayer([file('etc/hostname', 'imgfs\n'), file('big.bin', content), file('z', 'last')]);
const lower = buildLayer([file('base', 'lower')]);
const MiB = 1024 * 1024;

const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const TAR = 'application/vnd.oci.image.layer.v1.tar';

/** An OCI archive whose layer 1 is stored as `bytes`; returns its path and layer 1's digest. */
async function ociWithLayer(bytes: Buffer, mediaType: string): Promise<{ path: string; digest: string; tmp: string }> {
  const tmp = tempDir();
  const path = join(tmp, 'image.tar');
  const oci = await writeOciArchive(path, { layers: [{ bytes: lower }, { bytes, mediaType, diffId: undefined }] });
  return { path, digest: oci.layerDigests[1] as string, tmp };
}

describe('truncated and corrupt streams', () => {
  for (const [codec, mediaType] of [
    ['gzip', GZIP],
    ['zstd', ZSTD],
  ] as const) {
    it(`${codec}: a stream cut in half is ETRUNCATED naming layer, digest and offset`, async () => {
      const compressed = compressLayer(layer, codec);
      const { path, digest } = await ociWithLayer(compressed.subarray(0, compressed.length >> 1), mediaType);
      const error = await expectOpenFails(path, { code: 'ETRUNCATED', layer: 1, digest, offset: true, archive: path });
      expect(error.message).toContain(`${codec} stream truncated`);
      // The offset is where the decompressed bytes ran out: no further than the layer's tar.
      expect(error.offset).toBeLessThanOrEqual(layer.length);
    });

    it(`${codec}: a stream cut right after its header is ETRUNCATED`, async () => {
      const compressed = compressLayer(layer, codec);
      const { path, digest } = await ociWithLayer(compressed.subarray(0, 12), mediaType);
      await expectOpenFails(path, { code: 'ETRUNCATED', layer: 1, digest, offset: 0 });
    });
  }

  it('gzip: a flipped byte in the deflate data is ECOMPRESSION naming the compressed offset', async () => {
    const compressed = gzipSync(layer, { level: 9 });
    const damaged = patch(compressed, compressed.length >> 1, Buffer.from([compressed[compressed.length >> 1]! ^ 0xff]));
    const { path, digest } = await ociWithLayer(damaged, GZIP);
    const error = await expectOpenFails(path, { code: 'ECOMPRESSION', layer: 1, digest, offset: true });
    expect(error.message).toMatch(/corrupt gzip data: .* \(near compressed offset \d+\)/);
  });

  it('gzip: a wrong CRC at the end is ECOMPRESSION', async () => {
    const compressed = gzipSync(layer);
    const damaged = patch(compressed, compressed.length - 8, Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    const { path, digest } = await ociWithLayer(damaged, GZIP);
    await expectOpenFails(path, { code: 'ECOMPRESSION', layer: 1, digest, message: 'incorrect data check' });
  });

  it('gzip: garbage after the last member is ECOMPRESSION, not ignored', async () => {
    const { path } = await ociWithLayer(Buffer.concat([gzipSync(layer), Buffer.from('trailing garbage!')]), GZIP);
    const error = await rejection(open(path));
    if (error !== undefined) checkImgfsError(error, { code: 'ECOMPRESSION', layer: 1 });
  });

  it('zstd: corrupt compressed blocks are ECOMPRESSION naming layer, digest and offset', async () => {
    const compressed = compressLayer(layer, 'zstd');
    const damaged = Buffer.from(compressed);
    for (let i = 20; i < damaged.length - 8; i += 97) damaged[i] = (damaged[i] ?? 0) ^ 0x55;
    const { path, digest } = await ociWithLayer(damaged, ZSTD);
    await expectOpenFails(path, { code: 'ECOMPRESSION', layer: 1, digest, offset: true });
  });

  it('zstd: a changed byte that still decodes fails the content checksum: ECOMPRESSION', async () => {
    // Incompressible file data lands verbatim in raw blocks: change one byte of it and the frame still
    // decodes, to other bytes; only the frame's content checksum (zstd writes one by default) tells.
    const noise = Buffer.concat(Array.from({ length: 2048 }, (_, i) => createHash('sha256').update(String(i)).digest()));
    const noisy = buildLayer([file('noise', noise)]);
    const compressed = execFileSync('zstd', ['-q', '-c', '--check'], { input: noisy });
    const at = compressed.indexOf(noise.subarray(1000, 1032));
    expect(at).toBeGreaterThan(0);
    const { path, digest } = await ociWithLayer(patch(compressed, at, Buffer.from([(compressed[at] ?? 0) ^ 1])), ZSTD);
    await expectOpenFails(path, { code: 'ECOMPRESSION', layer: 1, digest, message: 'checksum' });
  });

  it('zstd: a block larger than its frame says is ECOMPRESSION', async () => {
    // A single-segment frame of 10 bytes whose one RLE block produces 100 KiB.
    const frame = zstdFrame({ singleSegmentSize: 10, blocks: [{ type: 'rle', byte: 0x41, size: 100 * 1024 }] });
    const { path, digest } = await ociWithLayer(frame, ZSTD);
    await expectOpenFails(path, { code: 'ECOMPRESSION', layer: 1, digest });
  });

  it('a stream whose magic says gzip but holds nothing else is ETRUNCATED', async () => {
    const { path } = await ociWithLayer(Buffer.from([0x1f, 0x8b]), GZIP);
    await expectOpenFails(path, { code: 'ETRUNCATED', layer: 1 });
  });
});

describe('bombs', () => {
  it('zstd: a 1 GiB layer in 32 KiB stops at the default ratio limit, with bounded memory', async () => {
    const header = buildLayer([file('zeros', Buffer.alloc(0))]).subarray(0, 512);
    // Patch the size of 'zeros' to 1 GiB: the header says so, the RLE blocks deliver it.
    const big = Buffer.from(header);
    big.write('10000000000\0', 124, 'latin1');
    const { writeChecksum } = await import('../helpers/layer-tar.js');
    writeChecksum(big);
    const bomb = zstdFrame({ blocks: [...rawBlocks(big), ...zeroBlocks(1024 * MiB)] });
    expect(bomb.length).toBeLessThan(40_000);
    const { path, digest } = await ociWithLayer(bomb, ZSTD);
    const before = heapUsed();
    const error = await expectOpenFails(path, { code: 'ELIMIT', layer: 1, digest, offset: true, message: 'maxRatio' });
    expect(error.message).toContain('raise with option maxRatio');
    // Stopped after about 1100 × 32 KiB + 64 MiB, not 1 GiB.
    expect(error.offset).toBeLessThan(110 * MiB);
    expect(heapUsed() - before).toBeLessThan(32 * MiB);
  });

  it('gzip: a deflate bomb stops at limits.maxRatio', async () => {
    const header = Buffer.from(buildLayer([file('zeros', Buffer.alloc(0))]).subarray(0, 512));
    header.write('00500000000\0', 124, 'latin1'); // 80 MiB
    const { writeChecksum } = await import('../helpers/layer-tar.js');
    writeChecksum(header);
    const bomb = gzipSync(Buffer.concat([header, Buffer.alloc(80 * MiB)]), { level: 9 });
    const tmp = tempDir();
    const paths = [put(tmp, 'l0.tar', lower), put(tmp, 'l1.tar.gz', bomb)];
    const error = await expectOpenFails(paths, { code: 'ELIMIT', layer: 1, offset: true, message: 'maxRatio' }, { limits: { maxRatio: 2 } });
    expect(error.offset).toBeLessThanOrEqual(2 * bomb.length + 64 * MiB);
    // The default (above deflate's own 1032:1 ceiling) lets the honest-looking stream through; it is
    // then only cut short, since the tar has no end.
    const opened = await rejection(open(paths));
    if (opened !== undefined) expect((opened as ImgfsError).code).not.toBe('ELIMIT');
  });
});

describe('zstd frames that ask for a huge window', () => {
  it('a 1 GiB window descriptor is ELIMIT before the decoder allocates it', async () => {
    const frame = zstdFrame({ windowDescriptor: windowDescriptor(30), blocks: rawBlocks(layer) });
    const { path, digest } = await ociWithLayer(frame, ZSTD);
    const rss = process.memoryUsage().rss;
    const error = await expectOpenFails(path, { code: 'ELIMIT', layer: 1, digest, message: 'zstd frame at compressed offset 0 needs a 1024 MiB window' });
    expect(error.message).toContain('128 MiB');
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * MiB);
  });

  it('a single-segment frame declaring a 2 GiB content size is ELIMIT', async () => {
    const frame = zstdFrame({ singleSegmentSize: 2 ** 31 - 1, blocks: rawBlocks(layer) });
    const { path } = await ociWithLayer(frame, ZSTD);
    await expectOpenFails(path, { code: 'ELIMIT', layer: 1, message: 'window' });
  });

  it('a huge window in a later frame is caught too, at that frame’s offset', async () => {
    const first = zstdFrame({ blocks: rawBlocks(layer.subarray(0, 1024)) });
    const second = zstdFrame({ windowDescriptor: windowDescriptor(31), blocks: rawBlocks(layer.subarray(1024)) });
    const { path } = await ociWithLayer(Buffer.concat([first, second]), ZSTD);
    await expectOpenFails(path, { code: 'ELIMIT', layer: 1, message: `zstd frame at compressed offset ${first.length} needs a 2048 MiB window` });
  });

  it('zstd --long=28 from a pipe (256 MiB window) is refused; --long=27 is read', async () => {
    const long28 = execFileSync('zstd', ['-q', '-c', '--long=28'], { input: layer });
    const { path } = await ociWithLayer(long28, ZSTD);
    await expectOpenFails(path, { code: 'ELIMIT', layer: 1, message: '256 MiB window' });

    const long27 = execFileSync('zstd', ['-q', '-c', '--long=27'], { input: layer });
    const ok = await ociWithLayer(long27, ZSTD);
    const fs = await open(ok.path);
    expect((await fs.readFile('/big.bin')).equals(content)).toBe(true);
  });

  it('hand-made frames, skippable frames and several frames read correctly', async () => {
    const skippable = Buffer.alloc(8 + 5);
    skippable.writeUInt32LE(0x184d2a53, 0);
    skippable.writeUInt32LE(5, 4);
    const stream = Buffer.concat([
      skippable,
      zstdFrame({ blocks: rawBlocks(layer.subarray(0, 4096)) }),
      zstdFrame({ singleSegmentSize: layer.length - 4096, blocks: rawBlocks(layer.subarray(4096)) }),
      skippable,
    ]);
    const { path } = await ociWithLayer(stream, ZSTD);
    const fs = await open(path);
    expect(await fs.readFile('/etc/hostname', 'utf8')).toBe('imgfs\n');
    expect((await fs.readFile('/big.bin')).equals(content)).toBe(true);
  });
});

describe('zstd blocks crafted against a decoder', () => {
  /**
   * One compressed block of 9 bytes: no literals, 32 512 sequences, every table in RLE mode with the
   * largest literal-length and match-length codes (65 536 bytes each), far more than a 128 KiB block
   * may hold. (It kept the pure-JavaScript decoder imgfs used before node:zlib busy for most of a minute.)
   */
  it('an 18-byte frame whose sequences overrun the block is ECOMPRESSION', async () => {
    const block = Buffer.from([0x00, 0xff, 0x00, 0x00, 0x54, 35, 1, 52, 0x01]);
    const header = 1 | (2 << 1) | (block.length << 3);
    const frame = Buffer.concat([
      Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]),
      Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]),
      block,
    ]);
    const { path, digest } = await ociWithLayer(frame, ZSTD);
    await expectOpenFails(path, { code: 'ECOMPRESSION', layer: 1, digest, offset: 0, message: 'corrupt zstd data' });
  });

  it('a layer of 100 such blocks is ECOMPRESSION at the first', async () => {
    const block = Buffer.from([0x00, 0x80 | (872 >> 8), 872 & 0xff, 0x54, 35, 1, 52, 0x01]);
    const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38])];
    for (let i = 0; i < 100; i += 1) {
      const header = (i === 99 ? 1 : 0) | (2 << 1) | (block.length << 3);
      parts.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]), block);
    }
    const { path, digest } = await ociWithLayer(Buffer.concat(parts), ZSTD);
    await expectOpenFails(path, { code: 'ECOMPRESSION', layer: 1, digest, message: 'corrupt zstd data' });
  });
});

describe('media types that lie about compression: the magic bytes decide', () => {
  it.each([
    ['gzip bytes labelled uncompressed', 'gzip', TAR],
    ['zstd bytes labelled gzip', 'zstd', GZIP],
    ['plain tar labelled zstd', 'none', ZSTD],
    ['plain tar labelled gzip (docker media type)', 'none', 'application/vnd.docker.image.rootfs.diff.tar.gzip'],
  ] as const)('%s', async (_name, codec, mediaType) => {
    const tmp = tempDir();
    const root = join(tmp, 'oci');
    await writeOciDir(root, { layers: [{ bytes: lower }, { bytes: compressLayer(layer, codec), mediaType, diffId: undefined }] });
    const fs = await open(root);
    expect(fs.layers[1]?.compression).toBe(codec);
    expect(fs.layers[1]?.mediaType).toBe(mediaType);
    expect((await fs.readFile('/big.bin')).equals(content)).toBe(true);
    expect(await fs.readFile('/base', 'utf8')).toBe('lower');
  });

  it('a layer that is not a tar in any compression is one ETARCORRUPT at offset 0', async () => {
    const { path, digest } = await ociWithLayer(Buffer.from('{"this": "is json, not a layer"}\n'.repeat(40)), GZIP);
    await expectOpenFails(path, { code: 'ETARCORRUPT', layer: 1, digest, offset: 0 });
  });
});
