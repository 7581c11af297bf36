import type { ImgfsErrorCode } from '../errors.js';
import type { SelfVerifyingBlob } from '../image/loaded-image.js';
import type { LayerReader, LayerReaderContext } from '../layer/layer-reader.js';
import type { ByteSource } from '../source/byte-source.js';
import { DecompressedSource } from '../source/decompressed-source.js';
import { gzipInflater } from '../source/gzip-inflater.js';
import { zstdInflater } from '../source/zstd-inflater.js';
import { annotatedTocFormat } from './read-toc.js';
import { TocContentSource } from './toc-content-source.js';
import { TocLayer } from './toc-layer.js';
import { reopen, TocReader } from './toc-reader.js';
import { annotatedTocDigest, loadSummary, storeSummary, summarize, type TocSummary } from './toc-summary.js';

const REGISTRY_FAILURES: ReadonlySet<ImgfsErrorCode> = new Set(['ENETWORK', 'ENOTFOUND', 'EUNAUTHORIZED', 'EPROTOCOL', 'ECLOSED']);

/**
 * A lazy pull of a registry layer that carries a table of contents, as the stargz snapshotter does it:
 * the footer and the TOC are fetched by range, the TOC must match the digest its (verified) manifest
 * states, the table is built from it, and a file is served by fetching just its chunks by range, each
 * checked against its digest in the TOC (EDIGEST otherwise). Those digests are what make a ranged read
 * trustworthy without the whole-blob pass that an ordinary registry layer needs first.
 *
 * The TOC's summary (its runs) is kept in the index cache, so a warm open fetches neither footer nor
 * TOC. Only a layer whose descriptor announces a TOC and states its digest, and whose every chunk has a
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
  const digest = annotatedTocDigest(context.annotations);
  if (annotatedTocFormat(context.annotations) === undefined || digest === undefined) return undefined;
  const blobSize = ranged.size ?? context.storedSize;
  const options = { maxTocSize: context.limits.maxTocSize };
  const readFull = (): Promise<TocLayer> => reopen(ranged, blobSize, context.annotations, options);
  // A warm open: the summary of the TOC with the digest the manifest states, from the index cache;
  // not even the footer is fetched.
  const cached = await loadSummary(context.sidecar, { digest });
  if (cached?.checksItself === true) {
    return new VerifyingTocReader(ranged, decoded(verified, cached, context), cached, new TocContentSource(ranged, cached.format, cached.layout), undefined, readFull, context, blob);
  }
  const opening = await TocLayer.open(ranged, blobSize, context.annotations, options);
  // The registry failing (after its retries) is not a TOC problem: the whole-blob pass would fail too.
  if (opening.problem !== undefined && REGISTRY_FAILURES.has(opening.problem.code)) throw opening.problem;
  const toc = opening.layer;
  if (toc === undefined) return undefined;
  const summary = summarize(toc);
  if (!summary.checksItself) {
    await toc.content.close();
    return undefined;
  }
  await storeSummary(context.sidecar, summary);
  return new VerifyingTocReader(ranged, decoded(verified, summary, context), summary, toc.content, toc, () => Promise.resolve(toc), context, blob);
}

/** The tar stream, through the blob's verifying pass: read by `verify` only, so nothing is fetched until then. */
function decoded(verified: ByteSource, summary: TocSummary, context: LayerReaderContext): ByteSource {
  const inflater = summary.format === 'zstd:chunked' ? zstdInflater : gzipInflater;
  return new DecompressedSource(verified, inflater, { maxRatio: context.limits.maxRatio, cacheBytes: context.cacheBytes });
}

/** `verify` of a lazily pulled layer also reads the blob to its end, against its digest. */
class VerifyingTocReader extends TocReader {
  constructor(
    stored: ByteSource,
    tar: ByteSource,
    summary: TocSummary,
    content: TocContentSource,
    opened: TocLayer | undefined,
    readFull: () => Promise<TocLayer>,
    context: LayerReaderContext,
    private readonly blob: SelfVerifyingBlob,
  ) {
    super(stored, tar, summary, content, opened, readFull, context);
  }

  override async verify(): Promise<void> {
    await super.verify();
    await this.blob.finishVerification();
  }
}
