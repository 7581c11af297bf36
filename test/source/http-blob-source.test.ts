/**
 * HttpBlobSource over an in-memory "server" (a RangeReader that records what it was asked for): the
 * first pass verifies the blob, later reads fetch only the spans they need and check each one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HEAD_BYTES, HttpBlobSource, type RangeReader } from '../../lib/source/http-blob-source.js';

const SPAN = 1024;

function server(blob: Buffer, tamper?: (start: number, end: number, bytes: Buffer) => Buffer): { read: RangeReader; asked: Array<[number, number]> } {
  const asked: Array<[number, number]> = [];
  const read: RangeReader = async function* (start, end) {
    asked.push([start, end]);
    const bytes = tamper === undefined ? blob.subarray(start, end) : tamper(start, end, Buffer.from(blob.subarray(start, end)));
    // In odd-sized chunks, as a network delivers them.
    for (let at = 0; at < bytes.length; at += 700) yield bytes.subarray(at, at + 700);
  };
  return { read, asked };
}

const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function drain(source: HttpBlobSource, start = 0): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source.createReadStream(start)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('HttpBlobSource', () => {
  const blob = randomBytes(10 * SPAN + 300);
  const digest = digestOf(blob);

  it('serves reads through one verifying pass, reads behind it included, then records span digests', async () => {
    const { read, asked } = server(blob);
    const source = new HttpBlobSource('blob', blob.length, digest, read, { spanSize: SPAN, cacheBytes: 3 * SPAN });
    expect((await source.read(1500, 10)).equals(blob.subarray(1500, 1510))).toBe(true);
    expect((await source.read(3500, 100)).equals(blob.subarray(3500, 3600))).toBe(true);
    expect(asked).toEqual([[0, blob.length]]);
    // Behind the pass and evicted from the small cache: the pass is finished, then the span fetched.
    expect((await source.read(HEAD_BYTES + 10, 100)).equals(blob.subarray(HEAD_BYTES + 10, HEAD_BYTES + 110))).toBe(true);
    expect(asked).toEqual([[0, blob.length], [0, SPAN]]);
    expect(source.verified).toBe(true);
    // The verified blob's first bytes stay in memory (and go to the cache): reading them costs nothing.
    expect((await source.read(0, HEAD_BYTES)).equals(blob.subarray(0, HEAD_BYTES))).toBe(true);
    expect(source.exportHead()?.equals(blob.subarray(0, HEAD_BYTES))).toBe(true);
    expect(asked.length).toBe(2);
    expect(source.exportSpans()?.length).toBeGreaterThan(11 * 32);
  });

  it('after import, reads fetch only their spans; a stream from an offset reads to the end', async () => {
    const first = new HttpBlobSource('blob', blob.length, digest, server(blob).read, { spanSize: SPAN });
    await first.finishVerification();
    const spans = first.exportSpans() as Buffer;
    const { read, asked } = server(blob);
    const later = new HttpBlobSource('blob', blob.length, digest, read, { spanSize: SPAN });
    later.deferSpanImport(async () => spans);
    expect((await later.read(2 * SPAN + 10, 20)).equals(blob.subarray(2 * SPAN + 10, 2 * SPAN + 30))).toBe(true);
    expect(asked).toEqual([[2 * SPAN, 3 * SPAN]]);
    expect((await drain(later, 4000)).equals(blob.subarray(4000))).toBe(true);
    expect(asked[1]).toEqual([3 * SPAN, blob.length]);
  });

  it('a whole blob that is not its digest is EDIGEST, and stays so', async () => {
    const { read } = server(blob, (_start, _end, bytes) => {
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
      return bytes;
    });
    const source = new HttpBlobSource('blob', blob.length, digest, read, { spanSize: SPAN });
    await expect(drain(source)).rejects.toMatchObject({ code: 'EDIGEST', message: expect.stringContaining('blob digest mismatch') });
    await expect(source.read(0, 10)).rejects.toMatchObject({ code: 'EDIGEST' });
  });

  it('a range with other bytes than the verified pass is EDIGEST', async () => {
    const first = new HttpBlobSource('blob', blob.length, digest, server(blob).read, { spanSize: SPAN });
    await first.finishVerification();
    const spans = first.exportSpans() as Buffer;
    const { read } = server(blob, (start, _end, bytes) => {
      if (start > 0) bytes[0] = (bytes[0] as number) ^ 1;
      return bytes;
    });
    const later = new HttpBlobSource('blob', blob.length, digest, read, { spanSize: SPAN });
    later.deferSpanImport(async () => spans);
    expect((await later.read(0, 10)).equals(blob.subarray(0, 10))).toBe(true);
    await expect(later.read(5 * SPAN, 10)).rejects.toMatchObject({ code: 'EDIGEST', offset: 5 * SPAN });
  });

  it('span digests of another blob size are ignored: the first read verifies again', async () => {
    const { read, asked } = server(blob);
    const source = new HttpBlobSource('blob', blob.length, digest, read, { spanSize: SPAN });
    source.deferSpanImport(async () => Buffer.from('not span digests'));
    expect((await source.read(100, 10)).equals(blob.subarray(100, 110))).toBe(true);
    expect(asked).toEqual([[0, blob.length]]);
  });

  it('a probe far ahead of the pass (a TOC footer) is fetched alone, then checked when the pass gets there', async () => {
    const big = randomBytes(40 * SPAN);
    const { read, asked } = server(big);
    const source = new HttpBlobSource('blob', big.length, digestOf(big), read, { spanSize: SPAN, cacheBytes: 4 * SPAN });
    expect((await source.read(big.length - 50, 50)).equals(big.subarray(big.length - 50))).toBe(true);
    expect(asked).toEqual([[39 * SPAN, 40 * SPAN]]);
    expect((await drain(source)).equals(big)).toBe(true);
    // The walk from the start is one pass: nothing fetched twice.
    expect(asked).toEqual([[39 * SPAN, 40 * SPAN], [0, big.length]]);
    expect(source.verified).toBe(true);
  });

  it('a probe answered with other bytes than the full read is EDIGEST when the pass gets there', async () => {
    const big = randomBytes(40 * SPAN);
    const { read } = server(big, (start, _end, bytes) => {
      if (start > 0) bytes[0] = (bytes[0] as number) ^ 1;
      return bytes;
    });
    const source = new HttpBlobSource('blob', big.length, digestOf(big), read, { spanSize: SPAN, cacheBytes: 4 * SPAN });
    await source.read(big.length - 50, 50);
    await expect(drain(source)).rejects.toMatchObject({ code: 'EDIGEST', message: expect.stringContaining('served differently') });
  });
});
