import { tocError } from './toc-errors.js';
import type { TocLocation } from './toc-model.js';

/**
 * zstd:chunked (containers/storage pkg/chunked): the blob ends with a zstd skippable frame
 * (`50 2a 4d 18`, little-endian 32-bit length) whose payload is the footer, little-endian 64-bit words:
 *
 *   40-byte layout (containers/storage before 1.50, podman 4.x): TOC offset, TOC compressed length,
 *     TOC uncompressed length, manifest type (1 = CRFS), magic `GnUlInUx`;
 *   64-byte layout (1.50 and later): the same four words, then tar-split offset, compressed and
 *     uncompressed length, magic `GNUlInUx`;
 *   56-byte layout (1.47–1.49, podman 4.6–4.7): the 40-byte layout's words and magic followed by 16
 *     zero bytes (the tar-split was meant to be there; its position is in the annotations only).
 *
 * The TOC offset points just past the 8-byte header of the skippable frame holding the zstd-compressed
 * TOC JSON. A zstd decoder skips all of this, which is why the layer is still an ordinary tar+zstd.
 */
export const SKIPPABLE_FRAME_MAGIC = Buffer.from([0x50, 0x2a, 0x4d, 0x18]);
const MAGIC_40 = Buffer.from('GnUlInUx', 'latin1');
const MAGIC_64 = Buffer.from('GNUlInUx', 'latin1');
const SKIPPABLE_HEADER = 8;
const MANIFEST_TYPE_CRFS = 1;
/** Bytes of the blob's tail that hold either footer with its frame header. */
export const ZSTD_CHUNKED_TAIL = 64 + SKIPPABLE_HEADER;

export interface ZstdChunkedLocation extends TocLocation {
  readonly format: 'zstd:chunked';
  /** The tar-split stream (64-byte footer, or the tarsplit-position annotation), when there is one. */
  readonly tarSplit: { offset: number; length: number; uncompressedLength: number } | undefined;
}

/** Annotation keys, newest first; `io.containers.*` is what podman 4.x writes. */
export const POSITION_KEYS = ['io.github.containers.zstd-chunked.manifest-position', 'io.containers.zstd-chunked.manifest-position'];
export const CHECKSUM_KEYS = ['io.github.containers.zstd-chunked.manifest-checksum', 'io.containers.zstd-chunked.manifest-checksum'];
export const TARSPLIT_POSITION_KEY = 'io.github.containers.zstd-chunked.tarsplit-position';
/** Written by containers/storage 1.47–1.53, before the tar-split digest moved into the TOC. */
export const TARSPLIT_CHECKSUM_KEY = 'io.github.containers.zstd-chunked.tarsplit-checksum';

/**
 * The footer at the end of `tail` (the blob's last bytes), or undefined when there is none. A footer
 * that is there but impossible (wrong frame length, unknown manifest type, offsets outside the blob)
 * is an error: the blob claims to be zstd:chunked and is not.
 */
export function parseZstdChunkedFooter(tail: Buffer, blobSize: number): ZstdChunkedLocation | undefined {
  const magic = tail.subarray(tail.length - 8);
  const dataLength = magic.equals(MAGIC_64) ? 64 : magic.equals(MAGIC_40) ? 40 : isFooter56(tail) ? 56 : undefined;
  if (dataLength === undefined) return undefined;
  const frameStart = blobSize - dataLength - SKIPPABLE_HEADER;
  const at = tail.length - dataLength - SKIPPABLE_HEADER;
  if (at < 0 || frameStart < 0) throw tocError(`zstd:chunked footer is cut short (${blobSize} bytes in the blob)`, Math.max(0, frameStart));
  const header = tail.subarray(at, at + SKIPPABLE_HEADER);
  if (!header.subarray(0, 4).equals(SKIPPABLE_FRAME_MAGIC) || header.readUInt32LE(4) !== dataLength) {
    throw tocError(`zstd:chunked footer magic found, but not in a ${dataLength}-byte skippable frame`, frameStart);
  }
  const data = tail.subarray(at + SKIPPABLE_HEADER);
  const word = (i: number): number => safeWord(data, i, frameStart);
  const manifestType = word(3);
  if (manifestType !== MANIFEST_TYPE_CRFS) throw tocError(`unknown zstd:chunked manifest type ${manifestType}`, frameStart);
  const tarSplit = dataLength === 64 && word(4) > 0 ? { offset: word(4), length: word(5), uncompressedLength: word(6) } : undefined;
  return checkZstdChunkedLocation(
    {
      format: 'zstd:chunked',
      tocOffset: word(0),
      tocLength: word(1),
      tocUncompressedLength: word(2),
      contentEnd: word(0) - SKIPPABLE_HEADER,
      footer: `zstd:chunked ${dataLength}-byte footer`,
      tarSplit,
    },
    frameStart,
  );
}

/** The 56-byte layout ends with `GnUlInUx` and 16 zero bytes. */
function isFooter56(tail: Buffer): boolean {
  if (tail.length < 24) return false;
  return tail.subarray(tail.length - 24, tail.length - 16).equals(MAGIC_40) && tail.subarray(tail.length - 16).every((byte) => byte === 0);
}

/**
 * The TOC position from the layer descriptor's annotations (`offset:length:uncompressed:type`), for a
 * blob whose footer is missing, or to check against the footer; undefined when not annotated.
 */
export function zstdChunkedFromAnnotations(annotations: Readonly<Record<string, string>>, blobSize: number): ZstdChunkedLocation | undefined {
  const position = firstOf(annotations, POSITION_KEYS);
  if (position === undefined) return undefined;
  const fields = decimals(position, 4, 'manifest-position');
  if (fields[3] !== MANIFEST_TYPE_CRFS) throw tocError(`unknown zstd:chunked manifest type ${fields[3]} in the manifest-position annotation`);
  const tarSplitText = annotations[TARSPLIT_POSITION_KEY];
  const split = tarSplitText === undefined ? undefined : decimals(tarSplitText, 3, 'tarsplit-position');
  const [offset, length, uncompressed] = fields as [number, number, number];
  return checkZstdChunkedLocation(
    {
      format: 'zstd:chunked',
      tocOffset: offset,
      tocLength: length,
      tocUncompressedLength: uncompressed,
      contentEnd: offset - SKIPPABLE_HEADER,
      footer: 'zstd:chunked annotations',
      tarSplit: split === undefined || split[0] === 0 ? undefined : { offset: split[0] as number, length: split[1] as number, uncompressedLength: split[2] as number },
    },
    blobSize,
  );
}

/** The first of `keys` that the annotations have. */
export function firstOf(annotations: Readonly<Record<string, string>>, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = annotations[key];
    if (value !== undefined) return value;
  }
  return undefined;
}

/** The TOC (and tar-split) must lie inside the blob, before `limit`, after the 8-byte frame header. */
function checkZstdChunkedLocation(location: ZstdChunkedLocation, limit: number): ZstdChunkedLocation {
  const { tocOffset, tocLength, tarSplit } = location;
  if (tocOffset < SKIPPABLE_HEADER || tocLength <= 0 || tocOffset + tocLength > limit) {
    throw tocError(`zstd:chunked TOC at ${tocOffset} (+${tocLength} bytes) lies outside the blob's first ${limit} bytes`, tocOffset);
  }
  if (tarSplit !== undefined && (tarSplit.offset < tocOffset + tocLength || tarSplit.length <= 0 || tarSplit.offset + tarSplit.length > limit)) {
    throw tocError(`zstd:chunked tar-split at ${tarSplit.offset} (+${tarSplit.length} bytes) lies outside the blob or over the TOC`, tarSplit.offset);
  }
  return location;
}

function safeWord(data: Buffer, index: number, at: number): number {
  const value = data.readBigUInt64LE(index * 8);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw tocError(`zstd:chunked footer word ${index} is out of range (${value})`, at);
  return Number(value);
}

function decimals(text: string, count: number, what: string): number[] {
  const parts = text.split(':');
  if (parts.length !== count || parts.some((part) => !/^[0-9]{1,15}$/.test(part))) {
    throw tocError(`the ${what} annotation is not ${count} decimal numbers separated by ':' (${JSON.stringify(text.slice(0, 80))})`);
  }
  return parts.map(Number);
}
