/** The footers and annotations that announce a TOC, byte by byte, and the TOC's RFC 3339 times. */
import { describe, expect, it } from 'vitest';
import { parseEstargzFooter } from '../../lib/toc/estargz-footer.js';
import { rfc3339Ms } from '../../lib/toc/toc-json.js';
import { parseZstdChunkedFooter, zstdChunkedFromAnnotations } from '../../lib/toc/zstd-chunked-footer.js';
import { estargzFooter, zstdChunkedFooterFrame } from './toc-writer.js';

const SIZE = 100_000;
/** A blob tail: filler, then `footer` at the very end. */
const tail = (footer: Buffer, filler = 32): Buffer => Buffer.concat([Buffer.alloc(filler, 0x41), footer]);

describe('zstd:chunked footer', () => {
  it('reads the 40-byte layout (GnUlInUx) and the 64-byte one (GNUlInUx, with the tar-split)', () => {
    expect(parseZstdChunkedFooter(tail(zstdChunkedFooterFrame(5000, 300, 2000)), SIZE)).toMatchObject({
      tocOffset: 5000,
      tocLength: 300,
      tocUncompressedLength: 2000,
      contentEnd: 4992,
      tarSplit: undefined,
      footer: 'zstd:chunked 40-byte footer',
    });
    const split = { offset: 5308, length: 100, uncompressedLength: 900 };
    expect(parseZstdChunkedFooter(tail(zstdChunkedFooterFrame(5000, 300, 2000, split)), SIZE)).toMatchObject({ tarSplit: split, footer: 'zstd:chunked 64-byte footer' });
  });

  it('is absent without the magic, and an error when the magic sits in the wrong frame or the offsets leave the blob', () => {
    expect(parseZstdChunkedFooter(tail(Buffer.alloc(72)), SIZE)).toBeUndefined();
    const badFrame = zstdChunkedFooterFrame(5000, 300, 2000);
    badFrame.writeUInt32LE(41, 4);
    expect(() => parseZstdChunkedFooter(tail(badFrame), SIZE)).toThrow(/not in a 40-byte skippable frame/);
    expect(() => parseZstdChunkedFooter(tail(zstdChunkedFooterFrame(SIZE - 10, 300, 2000)), SIZE)).toThrow(/outside the blob/);
    const badType = zstdChunkedFooterFrame(5000, 300, 2000);
    badType.writeBigUInt64LE(7n, 8 + 24);
    expect(() => parseZstdChunkedFooter(tail(badType), SIZE)).toThrow(/manifest type 7/);
    expect(() => parseZstdChunkedFooter(zstdChunkedFooterFrame(5000, 300, 2000).subarray(10), 38)).toThrow(/cut short/);
  });

  it('reads the position annotations, new and old keys, and rejects malformed ones', () => {
    expect(zstdChunkedFromAnnotations({ 'io.containers.zstd-chunked.manifest-position': '5000:300:2000:1' }, SIZE)).toMatchObject({ tocOffset: 5000, tarSplit: undefined });
    expect(
      zstdChunkedFromAnnotations(
        { 'io.github.containers.zstd-chunked.manifest-position': '5000:300:2000:1', 'io.github.containers.zstd-chunked.tarsplit-position': '5308:100:900' },
        SIZE,
      ),
    ).toMatchObject({ tarSplit: { offset: 5308, length: 100, uncompressedLength: 900 } });
    expect(zstdChunkedFromAnnotations({}, SIZE)).toBeUndefined();
    expect(() => zstdChunkedFromAnnotations({ 'io.containers.zstd-chunked.manifest-position': '5000:300' }, SIZE)).toThrow(/4 decimal numbers/);
  });
});

describe('eStargz footer', () => {
  it('reads the 51-byte layout and the legacy 47-byte one', () => {
    const footer = estargzFooter(0x1234);
    expect(footer.length).toBe(51);
    expect(parseEstargzFooter(tail(footer), SIZE)).toMatchObject({ tocOffset: 0x1234, tocLength: SIZE - 51 - 0x1234, contentEnd: 0x1234 });
    // Legacy: the extra field is `%016xSTARGZ` itself, without the SG subfield header.
    const legacy = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 22, 0]),
      Buffer.from('0000000000001234STARGZ', 'latin1'),
      Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]),
      Buffer.alloc(8),
    ]);
    expect(legacy.length).toBe(47);
    expect(parseEstargzFooter(tail(legacy), SIZE)).toMatchObject({ tocOffset: 0x1234, footer: 'eStargz 47-byte footer' });
  });

  it('is absent for an ordinary gzip ending, an error for an offset past the footer', () => {
    expect(parseEstargzFooter(tail(Buffer.alloc(51)), SIZE)).toBeUndefined();
    expect(() => parseEstargzFooter(tail(estargzFooter(SIZE)), SIZE)).toThrow(/outside the blob/);
    const notHex = estargzFooter(0);
    notHex.write('zz', 16, 'latin1');
    expect(() => parseEstargzFooter(tail(notHex), SIZE)).toThrow(/16 hex digits/);
  });
});

describe('RFC 3339 times of the TOC', () => {
  const fail = (reason: string): Error => new Error(reason);
  it('keeps fractions and offsets, and reads Go\'s zero time as 0', () => {
    expect(rfc3339Ms('2024-03-01T12:00:00Z', fail)).toBe(Date.UTC(2024, 2, 1, 12));
    expect(rfc3339Ms('2024-03-01T12:00:00.123456789Z', fail)).toBeCloseTo(Date.UTC(2024, 2, 1, 12) + 123.456789, 6);
    expect(rfc3339Ms('2024-03-01T14:00:00+02:00', fail)).toBe(Date.UTC(2024, 2, 1, 12));
    expect(rfc3339Ms('0001-01-01T00:00:00Z', fail)).toBe(0);
    expect(() => rfc3339Ms('yesterday', fail)).toThrow(/not RFC 3339/);
  });
});

it('zstd:chunked: reads the 56-byte layout of containers/storage 1.47–1.49 (GnUlInUx, then 16 zero bytes)', () => {
  const frame40 = zstdChunkedFooterFrame(5000, 300, 2000);
  const data = Buffer.concat([frame40.subarray(8), Buffer.alloc(16)]);
  const header = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 56, 0, 0, 0]);
  expect(parseZstdChunkedFooter(tail(Buffer.concat([header, data])), SIZE)).toMatchObject({ tocOffset: 5000, tocLength: 300, footer: 'zstd:chunked 56-byte footer' });
});
