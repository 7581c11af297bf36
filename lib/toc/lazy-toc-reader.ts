import type { SelfVerifyingBlob } from '../image/loaded-image.js';
import type { LayerReader, LayerReaderContext } from '../layer/layer-reader.js';
import type { ByteSource } from '../source/byte-source.js';
import { DecompressedSource } from '../source/decompressed-source.js';
import { gzipInflater } from '../source/gzip-inflater.js';
import { zstdInflater } from '../source/zstd-inflater.js';
import { UNCOMPRESSED_SIZE_ANNOTATION } from './estargz-footer.js';
import { annotatedTocFormat } from './read-toc.js';
import { TocLayer } from './toc-layer.js';
import { TocReader } from './toc-reader.js';

/**
 * A lazy pull of a registry layer that carries a table of contents, as the stargz snapshotter does it:
 * the footer and the TOC are fetched by range, the TOC must match the digest its (verified) manifest
 * states, the table is built from it, and a file is served by fetching just its chunks by range, each
 * checked against its digest in the TOC (EDIGEST otherwise). Those digests are what make a ranged read
 * trustworthy without the whole-blob pass that an ordinary registry layer needs first.
 *
 * Only a layer whose descriptor announces a TOC and states its digest, and whose every chunk has a
 * digest, is read so; for any other (or a TOC that does not hold) this gives undefined and the layer
 * is read the ordinary way (the whole-blob pass, where an unusable TOC is a warning). `ranged` is the
 * blob by unchecked ranged requests; `verified` the same blob through its verifying pass, which only
 * `verify` reads (the whole tar stream against the diff_id, the TOC against the tar).
 */
export async function openLazyTocReader(
  ranged: ByteSource,
  verified: ByteSource,
  blob: SelfVerifyingBlob,
  context: LayerReaderContext,
): Promise<LayerReader | undefined> {
  if (annotatedTocFormat(context.annotations) === undefined) return undefined;
  const opening = await TocLayer.open(ranged, ranged.size ?? context.storedSize, context.annotations, { maxTocSize: context.limits.maxTocSize });
  const toc = opening.layer;
  if (toc === undefined) return undefined;
  const inflater = toc.format === 'zstd:chunked' ? zstdInflater : gzipInflater;
  const tar = new DecompressedSource(verified, inflater, { maxRatio: context.limits.maxRatio, cacheBytes: context.cacheBytes });
  const stated = Number(context.annotations[UNCOMPRESSED_SIZE_ANNOTATION]);
  const reader = new VerifyingTocReader(ranged, tar, toc, toc.tarSize ?? (Number.isSafeInteger(stated) && stated > 0 ? stated : undefined), blob);
  if (reader.checksItself) return reader;
  await reader.close();
  return undefined;
}

/** `verify` of a lazily pulled layer also reads the blob to its end, against its digest. */
class VerifyingTocReader extends TocReader {
  constructor(
    stored: ByteSource,
    tar: ByteSource,
    toc: TocLayer,
    uncompressedSize: number | undefined,
    private readonly blob: SelfVerifyingBlob,
  ) {
    super(stored, tar, toc, uncompressedSize);
  }

  override async verify(): Promise<void> {
    await super.verify();
    await this.blob.finishVerification();
  }
}
