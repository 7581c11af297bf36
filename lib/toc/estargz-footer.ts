import { tocError } from './toc-errors.js';
import type { TocLocation } from './toc-model.js';

/**
 * eStargz (stargz-snapshotter `estargz`): the blob ends with an empty gzip member whose header carries
 * an extra field. Current layout, 51 bytes: gzip header with FEXTRA (`1f 8b 08 04`, mtime 0, XFL 0,
 * OS 255), XLEN 26, subfield `S` `G` of length 22 holding `%016xSTARGZ` (the TOC member's offset in
 * hex), an empty stored deflate block (`01 00 00 ff ff`) and an all-zero trailer. The legacy layout
 * (47 bytes) puts `%016xSTARGZ` straight into an extra field of length 22, without the subfield header.
 * The TOC is a gzip member from that offset to the footer, holding a tar with one entry,
 * `stargz.index.json`.
 */
export const ESTARGZ_FOOTER_SIZE = 51;
export const ESTARGZ_LEGACY_FOOTER_SIZE = 47;
export const TOC_DIGEST_ANNOTATION = 'containerd.io/snapshot/stargz/toc.digest';
export const UNCOMPRESSED_SIZE_ANNOTATION = 'io.containers.estargz.uncompressed-size';

const GZIP_FEXTRA_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x04]);
const EMPTY_STORED_BLOCK = Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]);

/** The footer at the end of `tail`, or undefined when the blob does not end with one. */
export function parseEstargzFooter(tail: Buffer, blobSize: number): TocLocation | undefined {
  for (const size of [ESTARGZ_FOOTER_SIZE, ESTARGZ_LEGACY_FOOTER_SIZE]) {
    if (tail.length < size || blobSize < size) continue;
    const footer = tail.subarray(tail.length - size);
    const offsetHex = footerOffsetField(footer, size);
    if (offsetHex === undefined) continue;
    const footerStart = blobSize - size;
    if (!/^[0-9a-f]{16}$/.test(offsetHex)) throw tocError(`eStargz footer offset ${JSON.stringify(offsetHex)} is not 16 hex digits`, footerStart);
    const tocOffset = Number.parseInt(offsetHex, 16);
    if (!Number.isSafeInteger(tocOffset) || tocOffset >= footerStart) {
      throw tocError(`eStargz TOC offset ${tocOffset} lies outside the blob's first ${footerStart} bytes`, footerStart);
    }
    return {
      format: 'estargz',
      tocOffset,
      tocLength: footerStart - tocOffset,
      tocUncompressedLength: undefined,
      contentEnd: tocOffset,
      footer: `eStargz ${size}-byte footer`,
    };
  }
  return undefined;
}

/** The `%016x` part of the footer's extra field, when the bytes have the footer's shape. */
function footerOffsetField(footer: Buffer, size: number): string | undefined {
  if (!footer.subarray(0, 4).equals(GZIP_FEXTRA_HEADER)) return undefined;
  const xlen = footer.readUInt16LE(10);
  let field: Buffer;
  if (size === ESTARGZ_FOOTER_SIZE) {
    if (xlen !== 26 || footer[12] !== 0x53 || footer[13] !== 0x47 || footer.readUInt16LE(14) !== 22) return undefined;
    field = footer.subarray(16, 38);
  } else {
    if (xlen !== 22) return undefined;
    field = footer.subarray(12, 34);
  }
  if (field.subarray(16).toString('latin1') !== 'STARGZ') return undefined;
  const after = 12 + xlen;
  if (!footer.subarray(after, after + 5).equals(EMPTY_STORED_BLOCK)) return undefined;
  return field.subarray(0, 16).toString('latin1');
}
