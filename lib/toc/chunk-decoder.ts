import { createHash } from '../lazy-crypto.js';
import { zlib } from '../lazy-zlib.js';
import type { Transform } from 'node:stream';
import type { ByteSource } from '../source/byte-source.js';
import { ImgfsError, isImgfsError } from '../errors.js';
import type { TocChunk, TocFormat } from './toc-model.js';

/** Compressed bytes fed to the decoder per read of the blob. */
const READ_SIZE = 256 * 1024;

/**
 * Decodes one run of a file: the frame (zstd:chunked) or gzip member (eStargz) at the chunk's offset,
 * from its start (both formats start a fresh frame or member there, so no earlier state is needed),
 * skipping `innerOffset` bytes and stopping as soon as the run's bytes are out: nothing of the layer
 * before or after is decoded. The run is hashed on the way; when the TOC states its digest, a mismatch
 * is EDIGEST naming the file. Returns the bytes of `[from, to)` of the run.
 */
export async function decodeRun(
  blob: ByteSource,
  format: TocFormat,
  chunk: TocChunk,
  path: string,
  from = 0,
  to = chunk.size,
): Promise<Buffer> {
  const decoder: Transform = format === 'zstd:chunked' ? zlib().createZstdDecompress() : zlib().createGunzip();
  const hash = chunk.digest === undefined ? undefined : createHash('sha256');
  const wanted = chunk.innerOffset + chunk.size;
  const kept: Buffer[] = [];
  let produced = 0;
  let fed = chunk.compressedOffset;
  const pump = async (): Promise<void> => {
    while (fed < chunk.compressedEnd && !decoder.destroyed) {
      const bytes = await blob.read(fed, Math.min(READ_SIZE, chunk.compressedEnd - fed));
      if (bytes.length === 0) break;
      fed += bytes.length;
      // A decoder destroyed by the reader (it has its bytes) never drains: 'close' ends the wait too.
      if (!decoder.write(bytes)) {
        await new Promise<void>((resolve) => {
          decoder.once('drain', resolve);
          decoder.once('close', resolve);
        });
      }
    }
    if (!decoder.destroyed) decoder.end();
  };
  const feeding = pump().catch((error: unknown) => decoder.destroy(error as Error));
  try {
    for await (const piece of decoder as AsyncIterable<Buffer>) {
      // The run is [innerOffset, innerOffset + size) of the decoded frame or member.
      const start = Math.max(produced, chunk.innerOffset);
      const end = Math.min(produced + piece.length, wanted);
      if (end > start) {
        const slice = piece.subarray(start - produced, end - produced);
        hash?.update(slice);
        const runStart = start - chunk.innerOffset;
        const keepFrom = Math.max(from, runStart);
        const keepTo = Math.min(to, runStart + slice.length);
        if (keepTo > keepFrom) kept.push(slice.subarray(keepFrom - runStart, keepTo - runStart));
      }
      produced += piece.length;
      if (produced >= wanted) break;
    }
  } catch (error) {
    if (isImgfsError(error)) throw error;
    throw new ImgfsError('ECOMPRESSION', `data of ${path} at ${chunk.compressedOffset} does not decode: ${(error as Error).message}`, {
      offset: chunk.compressedOffset,
      cause: error,
    });
  } finally {
    decoder.destroy();
    await feeding;
  }
  if (produced < wanted) {
    throw new ImgfsError('ETRUNCATED', `data of ${path} at ${chunk.compressedOffset} decodes to ${Math.max(0, produced - chunk.innerOffset)} of the ${chunk.size} bytes the TOC states`, {
      offset: chunk.compressedOffset,
    });
  }
  if (hash !== undefined && chunk.digest !== undefined) {
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== chunk.digest) {
      throw new ImgfsError('EDIGEST', `content of ${path} [${chunk.fileOffset}, ${chunk.fileOffset + chunk.size}) hashes to ${actual}, the TOC says ${chunk.digest}`, {
        offset: chunk.compressedOffset,
      });
    }
  }
  return Buffer.concat(kept);
}
