import { zlib } from '../lazy-zlib.js';
import type { ByteSource } from '../source/byte-source.js';
import { readSmall } from '../source/read-small.js';
import { checkDigest } from '../image/digest.js';
import { isImgfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { BLOCK_SIZE, cString, decodeHeader, isZeroBlock } from '../tar/header.js';
import { ESTARGZ_FOOTER_SIZE, parseEstargzFooter, TOC_DIGEST_ANNOTATION } from './estargz-footer.js';
import { tocError } from './toc-errors.js';
import { tocEntries } from './toc-entries.js';
import { parseTocJson } from './toc-json.js';
import type { TocEntry, TocFormat, TocLocation } from './toc-model.js';
import { parseTarSplit, type TarSplit } from './tar-split.js';
import {
  CHECKSUM_KEYS,
  firstOf,
  parseZstdChunkedFooter,
  POSITION_KEYS,
  SKIPPABLE_FRAME_MAGIC,
  TARSPLIT_CHECKSUM_KEY,
  ZSTD_CHUNKED_TAIL,
  zstdChunkedFromAnnotations,
  type ZstdChunkedLocation,
} from './zstd-chunked-footer.js';

export const ESTARGZ_TOC_NAME = 'stargz.index.json';

export interface ReadTocOptions {
  /** Largest TOC accepted, stored or decompressed, in bytes (default 150 MiB); larger is ELIMIT. */
  maxTocSize?: number | undefined;
}

/** A layer's table of contents, read and checked. */
export interface TableOfContents {
  readonly location: TocLocation;
  readonly entries: readonly TocEntry[];
  /** The digest the descriptor named and the TOC matched, when it named one. */
  readonly checkedDigest: string | undefined;
  /** zstd:chunked: the tar-split stream, when the layer has one and its digest is known and holds. */
  readonly tarSplit: TarSplit | undefined;
}

/**
 * Which TOC format the blob's footer (or, failing that, its descriptor's annotations) announces, and
 * where the TOC lies: one read of the blob's last 72 bytes. Undefined for an ordinary layer.
 */
export async function locateToc(blob: ByteSource, blobSize: number, annotations: Readonly<Record<string, string>>): Promise<TocLocation | ZstdChunkedLocation | undefined> {
  const tailLength = Math.min(blobSize, Math.max(ZSTD_CHUNKED_TAIL, ESTARGZ_FOOTER_SIZE));
  const tail = await readSmall(blob, blobSize - tailLength, tailLength);
  const zstdFooter = parseZstdChunkedFooter(tail, blobSize);
  const found = zstdFooter ?? parseEstargzFooter(tail, blobSize);
  const annotated = zstdChunkedFromAnnotations(annotations, blobSize);
  if (found !== undefined && annotated !== undefined && (found.tocOffset !== annotated.tocOffset || found.tocLength !== annotated.tocLength)) {
    throw tocError(`the footer puts the TOC at ${found.tocOffset} (+${found.tocLength}), the annotations at ${annotated.tocOffset} (+${annotated.tocLength})`);
  }
  // The 40- and 56-byte footers have no tar-split position; the annotations may.
  if (zstdFooter !== undefined && zstdFooter.tarSplit === undefined && annotated?.tarSplit !== undefined) return { ...zstdFooter, tarSplit: annotated.tarSplit };
  return found ?? annotated;
}

/** True when the descriptor's annotations say the layer has a TOC (even if its footer is gone). */
export function annotatedTocFormat(annotations: Readonly<Record<string, string>>): TocFormat | undefined {
  // stargz-snapshotter's zstd:chunked layers carry both; the zstd:chunked keys decide.
  if (firstOf(annotations, CHECKSUM_KEYS) !== undefined || firstOf(annotations, POSITION_KEYS) !== undefined) return 'zstd:chunked';
  return annotations[TOC_DIGEST_ANNOTATION] !== undefined ? 'estargz' : undefined;
}

/**
 * Reads, checks and parses the TOC at `location`: one read of its stored bytes. The descriptor's
 * digest is checked when it names one (zstd:chunked `manifest-checksum`: the stored, compressed bytes;
 * `toc.digest`: the JSON). Every problem is an ImgfsError; the caller falls back to a plain read.
 */
export async function readToc(
  blob: ByteSource,
  location: TocLocation,
  annotations: Readonly<Record<string, string>>,
  options: ReadTocOptions = {},
): Promise<TableOfContents> {
  const limit = options.maxTocSize ?? LIMITS.maxTocSize.default;
  const tooLarge = (what: string, size: number): Error =>
    tocError(`${what} is ${size} bytes, over the limit of ${limit} (limits.maxTocSize)`, location.tocOffset, 'ELIMIT');
  if (location.tocLength > limit) throw tooLarge('the stored TOC', location.tocLength);
  if (location.tocUncompressedLength !== undefined && location.tocUncompressedLength > limit) throw tooLarge('the TOC', location.tocUncompressedLength);
  let checkedDigest: string | undefined;
  let json: Buffer;
  try {
    if (location.format === 'zstd:chunked') {
      const framed = await readExactly(blob, location.tocOffset - 8, location.tocLength + 8);
      if (!framed.subarray(0, 4).equals(SKIPPABLE_FRAME_MAGIC) || framed.readUInt32LE(4) !== location.tocLength) {
        throw tocError(`no ${location.tocLength}-byte skippable frame holds the TOC`, location.tocOffset - 8);
      }
      const stored = framed.subarray(8);
      checkedDigest = firstOf(annotations, CHECKSUM_KEYS);
      if (checkedDigest !== undefined) checkDigest(stored, checkedDigest, 'zstd:chunked TOC (manifest-checksum)', { offset: location.tocOffset });
      json = decompress(() => zlib().zstdDecompressSync(stored, { maxOutputLength: limit }), limit, location);
      if (location.tocUncompressedLength !== undefined && json.length !== location.tocUncompressedLength) {
        throw tocError(`the TOC decompresses to ${json.length} bytes, the footer says ${location.tocUncompressedLength}`, location.tocOffset);
      }
    } else {
      const stored = await readExactly(blob, location.tocOffset, location.tocLength);
      json = estargzTocJson(decompress(() => zlib().gunzipSync(stored, { maxOutputLength: limit + 3 * BLOCK_SIZE }), limit + 3 * BLOCK_SIZE, location), limit, location);
    }
    // stargz-snapshotter states the JSON's digest for eStargz and for its own zstd:chunked layers.
    const jsonDigest = annotations[TOC_DIGEST_ANNOTATION];
    if (jsonDigest !== undefined) {
      checkDigest(json, jsonDigest, `${location.format} TOC (toc.digest)`, { offset: location.tocOffset });
      checkedDigest ??= jsonDigest;
    }
  } catch (error) {
    if (isImgfsError(error)) throw error;
    throw tocError(`cannot read it: ${(error as Error).message}`, location.tocOffset);
  }
  const document = parseTocJson(json);
  const entries = tocEntries(document.records, location.contentEnd);
  const tarSplit = location.format === 'zstd:chunked' ? await readTarSplit(blob, location as ZstdChunkedLocation, document.tarSplitDigest ?? annotations[TARSPLIT_CHECKSUM_KEY], limit) : undefined;
  return { location, entries, checkedDigest, tarSplit };
}

/**
 * The tar-split frame, checked against its digest (in the TOC, or in the annotation that older
 * writers used). Without a digest it cannot be trusted and is left alone, as containers/storage does.
 */
async function readTarSplit(blob: ByteSource, location: ZstdChunkedLocation, digest: string | undefined, limit: number): Promise<TarSplit | undefined> {
  const position = location.tarSplit;
  if (position === undefined || digest === undefined) return undefined;
  if (position.length > limit || position.uncompressedLength > limit) {
    throw tocError(`the tar-split is ${Math.max(position.length, position.uncompressedLength)} bytes, over the limit of ${limit} (limits.maxTocSize)`, position.offset, 'ELIMIT');
  }
  const stored = await readExactly(blob, position.offset, position.length);
  checkDigest(stored, digest, 'zstd:chunked tar-split', { offset: position.offset });
  return parseTarSplit(decompress(() => zlib().zstdDecompressSync(stored, { maxOutputLength: limit }), limit, location));
}

async function readExactly(blob: ByteSource, offset: number, length: number): Promise<Buffer> {
  const bytes = await blob.read(offset, length);
  if (bytes.length !== length) throw tocError(`the blob ends ${length - bytes.length} bytes short of the TOC`, offset);
  return bytes;
}

/** zlib's own errors (corrupt data, output over the limit) as TOC errors. */
function decompress(run: () => Buffer, limit: number, location: TocLocation): Buffer {
  try {
    return run();
  } catch (error) {
    if (error instanceof RangeError || (error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw tocError(`the TOC decompresses to more than ${limit} bytes (limits.maxTocSize)`, location.tocOffset, 'ELIMIT');
    }
    throw tocError(`the TOC does not decompress: ${(error as Error).message}`, location.tocOffset, 'ECOMPRESSION');
  }
}

/** The TOC member holds a tar whose first entry is `stargz.index.json`; its data is the JSON. */
function estargzTocJson(tar: Buffer, limit: number, location: TocLocation): Buffer {
  const block = tar.subarray(0, BLOCK_SIZE);
  if (block.length < BLOCK_SIZE || isZeroBlock(block)) throw tocError('the TOC member holds no tar entry', location.tocOffset);
  const header = decodeHeader(block, { archive: 'eStargz TOC', offset: 0 });
  if (cString(Buffer.from(header.name)) !== ESTARGZ_TOC_NAME) {
    throw tocError(`the TOC member's entry is ${JSON.stringify(header.name)}, not ${ESTARGZ_TOC_NAME}`, location.tocOffset);
  }
  if (header.size > limit) throw tocError(`the TOC is ${header.size} bytes, over the limit of ${limit} (limits.maxTocSize)`, location.tocOffset, 'ELIMIT');
  const json = tar.subarray(BLOCK_SIZE, BLOCK_SIZE + header.size);
  if (json.length !== header.size) throw tocError(`the TOC member ends ${header.size - json.length} bytes into its JSON`, location.tocOffset);
  return json;
}
