/**
 * Damaged layer tars, in every container imgfs reads: each damage gives one ImgfsError with a stable
 * code that names the archive, the layer (index, and digest where the format states one) and the exact
 * byte offset in the layer's tar stream, whether the layer is stored plain, gzip or zstd.
 */
import { describe, expect, it } from 'vitest';
import { buildLayer, dir, file, writeChecksum } from '../helpers/layer-tar.js';
import { writeImage, type ImageKind, type LayerCompression } from '../helpers/image-builder.js';
import { expectOpenFails, patch, tempDir, type ExpectedImgfsError } from './hostile-helpers.js';

// Layout of the damaged layer: 'a' header at 0, its 600 bytes of data at 512 (padded to 1536);
// 'b' header at 1536, data at 2048; 'd/' header at 2560; end blocks at 3072; 4096 bytes in all.
const A = 0;
const B = 1536;
const D = 2560;
const goodLayer = buildLayer([file('a', 'x'.repeat(600)), file('b', 'hello'), dir('d/')]);
const lowerLayer = buildLayer([file('base', 'lower layer')]);

/** A copy of the layer with header `at` changed by `edit`, checksum recomputed. */
function editHeader(at: number, edit: (header: Buffer) => void): Buffer {
  const copy = Buffer.from(goodLayer);
  const header = copy.subarray(at, at + 512);
  edit(header);
  writeChecksum(header);
  return copy;
}

interface Damage {
  name: string;
  layer: Buffer;
  expected: Omit<ExpectedImgfsError, 'layer' | 'digest' | 'archive'>;
}

const paxLayer = buildLayer([file('a', 'x'.repeat(600)), file('b', 'hello', { pax: { comment: 'hostile' } })]);

const damages: Damage[] = [
  {
    name: 'a header whose checksum does not match',
    layer: patch(goodLayer, B + 1, 'Z'),
    expected: { code: 'ETARCORRUPT', offset: B, message: 'header checksum mismatch' },
  },
  {
    name: 'a data block read as a header (size field too small)',
    layer: editHeader(A, (h) => h.write('00000000100\0', 124, 'latin1')),
    expected: { code: 'ETARCORRUPT', offset: 1024, message: 'header checksum mismatch' },
  },
  {
    name: 'a size that runs past the end of the layer',
    layer: editHeader(B, (h) => h.write('77777777777\0', 124, 'latin1')),
    expected: { code: 'ETRUNCATED', offset: 4096, message: "data of 'b' needs 8589934591 bytes from offset 2048" },
  },
  {
    name: 'a PAX record whose length does not fit its extended header',
    layer: patch(paxLayer, B + 512, '99'),
    expected: { code: 'ETARCORRUPT', offset: B + 512, message: 'malformed PAX record' },
  },
  {
    name: 'a PAX record with an absurd (20-digit) length',
    layer: (() => {
      const records = Buffer.from('99999999999999999999 path=x\n');
      const layer = buildLayer([file('a', 'x'.repeat(600)), file('b', 'hello', { pax: { comment: 'c'.repeat(40) } })]);
      const copy = patch(layer, B + 512, records);
      return copy;
    })(),
    expected: { code: 'ETARCORRUPT', offset: B + 512, message: 'absurd length' },
  },
  {
    name: 'a mode field that is not octal',
    layer: editHeader(B, (h) => h.write('0009999\0', 100, 'latin1')),
    expected: { code: 'ETARCORRUPT', offset: B, message: 'invalid octal number in mode field' },
  },
  {
    name: 'a base-256 uid beyond 2^53',
    layer: editHeader(B, (h) => Buffer.from([0x80, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).copy(h, 108)),
    expected: { code: 'ETARCORRUPT', offset: B, message: 'uid field exceeds the largest exact integer' },
  },
  {
    name: 'a negative base-256 size',
    layer: editHeader(B, (h) => Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]).copy(h, 124)),
    expected: { code: 'ETARCORRUPT', offset: B, message: 'negative size' },
  },
  {
    name: 'a PAX size that is not a number',
    layer: buildLayer([file('a', 'x'.repeat(600)), file('b', 'hello', { pax: { size: '12e3' } })]),
    expected: { code: 'ETARCORRUPT', offset: B, message: 'invalid PAX size value' },
  },
  {
    name: 'a tar cut inside a header',
    layer: goodLayer.subarray(0, D + 100),
    expected: { code: 'ETRUNCATED', offset: D + 100, message: `tar truncated at offset ${D + 100}: header at offset ${D} is cut short` },
  },
  {
    name: 'a tar cut inside file data',
    layer: goodLayer.subarray(0, 700),
    expected: { code: 'ETRUNCATED', offset: 700, message: "tar truncated at offset 700: data of 'a' needs 600 bytes from offset 512" },
  },
  {
    name: 'a PAX header with no entry after it',
    layer: paxLayer.subarray(0, B + 1024),
    expected: { code: 'ETRUNCATED', offset: B + 1024, message: `extension header at offset ${B} has no entry after it` },
  },
];

interface Container {
  format: ImageKind;
  compression: LayerCompression;
  /** Whether the format states a digest for the layer. */
  digest: boolean;
}

const containers: Container[] = [
  { format: 'layers', compression: 'none', digest: false },
  { format: 'layers', compression: 'gzip', digest: false },
  { format: 'oci-archive', compression: 'none', digest: true },
  { format: 'oci-dir', compression: 'gzip', digest: true },
  { format: 'oci-archive', compression: 'zstd', digest: true },
  { format: 'docker-archive', compression: 'none', digest: false },
];

describe.each(containers)('a damaged layer 1 in $format ($compression)', ({ format, compression, digest }) => {
  it.each(damages)('$name', async ({ layer, expected }) => {
    const tmp = tempDir();
    const image = await writeImage(tmp, [lowerLayer, layer], { format, compression });
    await expectOpenFails(image, { ...expected, layer: 1, archive: tmp, ...(digest ? { digest: true } : {}) });
  });
});

describe('the same damage in layer 0 names layer 0', () => {
  it('bare layers', async () => {
    const tmp = tempDir();
    const paths = await writeImage(tmp, [patch(goodLayer, B + 1, 'Z'), lowerLayer], { format: 'layers' });
    const error = await expectOpenFails(paths, { code: 'ETARCORRUPT', layer: 0, offset: B, archive: paths[0] as string });
    expect(error.message).toBe(`ETARCORRUPT: header checksum mismatch (layer 0, member ${paths[0]}, offset ${B}, in ${paths[0]})`);
  });
});
