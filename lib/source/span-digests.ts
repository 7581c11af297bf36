/**
 * A sha256 per fixed-size span of a stored blob, recorded while the whole blob is streamed and checked
 * against its digest, then kept in the index cache beside the layer's table. Every later ranged read
 * of the blob is checked span by span against them: a server that answers a range with other bytes than
 * it sent for the whole blob cannot change what imgfs serves.
 */
import { createHash } from '../lazy-crypto.js';
import { ImgfsError } from '../errors.js';

const MAGIC = Buffer.from('IMGFSPN1');
const HEADER = MAGIC.length + 4 + 8;
const HASH = 32;

export class SpanDigests {
  readonly count: number;

  private constructor(
    readonly spanSize: number,
    readonly blobSize: number,
    private readonly hashes: Buffer,
  ) {
    this.count = spanCount(blobSize, spanSize);
  }

  static empty(spanSize: number, blobSize: number): SpanDigests {
    return new SpanDigests(spanSize, blobSize, Buffer.alloc(spanCount(blobSize, spanSize) * HASH));
  }

  /** Reads what `export` wrote; ECACHE when it is not that, or is for another blob size or span size. */
  static import(bytes: Buffer, spanSize: number, blobSize: number, name: string): SpanDigests {
    const count = spanCount(blobSize, spanSize);
    const ok =
      bytes.length === HEADER + count * HASH &&
      bytes.subarray(0, MAGIC.length).equals(MAGIC) &&
      bytes.readUInt32LE(MAGIC.length) === spanSize &&
      Number(bytes.readBigUInt64LE(MAGIC.length + 4)) === blobSize;
    if (!ok) throw new ImgfsError('ECACHE', 'unusable span digests', { archive: name });
    return new SpanDigests(spanSize, blobSize, Buffer.from(bytes.subarray(HEADER)));
  }

  export(): Buffer {
    const header = Buffer.alloc(HEADER);
    MAGIC.copy(header);
    header.writeUInt32LE(this.spanSize, MAGIC.length);
    header.writeBigUInt64LE(BigInt(this.blobSize), MAGIC.length + 4);
    return Buffer.concat([header, this.hashes]);
  }

  record(span: number, bytes: Buffer): void {
    this.recordDigest(span, createHash('sha256').update(bytes).digest());
  }

  /** Records the sha256 of span `span`, computed by the caller (piece by piece, say). */
  recordDigest(span: number, digest: Buffer): void {
    if (digest.length !== HASH) throw new RangeError(`a span digest is ${HASH} bytes, got ${digest.length}`);
    digest.copy(this.hashes, span * HASH);
  }

  /** Whether `bytes` are span `span` as recorded. */
  matches(span: number, bytes: Buffer): boolean {
    if (bytes.length !== this.lengthOf(span)) return false;
    return createHash('sha256').update(bytes).digest().equals(this.hashes.subarray(span * HASH, (span + 1) * HASH));
  }

  lengthOf(span: number): number {
    return Math.min(this.spanSize, this.blobSize - span * this.spanSize);
  }
}

function spanCount(blobSize: number, spanSize: number): number {
  return Math.ceil(blobSize / spanSize);
}
