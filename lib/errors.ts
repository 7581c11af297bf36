/**
 * Errors about the image itself (as opposed to a path inside it, which get Node-style fs errors from
 * lib/fs/fs-errors.ts). Every layer of the pipeline throws these, so they live below all of them: the
 * byte sources know the archive and the offset, the image loader adds which layer it was.
 */

/** Stable codes; callers switch on them, so they never change meaning. */
export type ImgfsErrorCode =
  | 'EIMGFORMAT' // not an image we recognise, or a manifest/index/config that is not what the spec says
  | 'ETARCORRUPT' // a tar header that fails its checksum or holds impossible values
  | 'ETRUNCATED' // a tar, gzip or zstd stream that ends before it should
  | 'ECOMPRESSION' // a compressed stream that cannot be decoded
  | 'EDIGEST' // content whose sha256 is not the one its descriptor names
  | 'ELIMIT' // a configured safety limit was exceeded
  | 'ENOREF' // the requested --ref / platform is not in the image
  | 'ECLOSED' // the image was closed
  | 'ENOTINDEXED' // a Sync method of a lazily opened image needed a layer that is not indexed yet
  | 'ECACHE' // the index cache could not be used
  // With `strict`, the warnings about the image (lib/warnings.ts) are these errors:
  | 'EUNSUPPORTED' // a tar member of a type imgfs does not serve
  | 'ECONFLICT' // a member that cannot exist beside another of the same layer
  | 'EHARDLINK' // a hard link whose target cannot be found, or that forms a cycle
  // A registry (docker://):
  | 'ENOTFOUND' // no such repository, tag or blob (HTTP 404)
  | 'EUNAUTHORIZED' // credentials refused, or asked for and none found (HTTP 401/403)
  | 'ENETWORK' // could not be reached, stopped answering, or kept failing (5xx, 429) past the retries
  | 'EPROTOCOL'; // answered against the distribution spec (wrong Content-Range, no token)

export interface LayerRef {
  /** 0 = bottom layer. */
  index: number;
  digest?: string | undefined;
}

export interface ImgfsErrorDetails {
  /** The file on disk the problem is in (the outer archive or directory). */
  archive?: string | undefined;
  /** Member of the archive (e.g. `blobs/sha256/ab…`, `abc/layer.tar`), when the problem is inside one. */
  member?: string | undefined;
  layer?: LayerRef | undefined;
  /** Byte offset of the problem, in the layer's (decompressed) tar stream unless said otherwise. */
  offset?: number | undefined;
  cause?: unknown;
}

export class ImgfsError extends Error {
  override readonly name = 'ImgfsError';
  readonly code: ImgfsErrorCode;
  archive: string | undefined;
  member: string | undefined;
  layer: LayerRef | undefined;
  offset: number | undefined;
  /** The bare reason, without the location that `message` appends. */
  readonly reason: string;

  constructor(code: ImgfsErrorCode, reason: string, details: ImgfsErrorDetails = {}) {
    super(reason, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.reason = reason;
    this.archive = details.archive;
    this.member = details.member;
    this.layer = details.layer;
    this.offset = details.offset;
    this.message = this.describe();
  }

  /**
   * Adds what an outer stage knows (typically the layer) to an error raised deeper down, keeping
   * whatever the deeper stage already said. Returns the same object so it can be rethrown.
   */
  locate(details: ImgfsErrorDetails): this {
    this.archive ??= details.archive;
    this.member ??= details.member;
    this.layer ??= details.layer;
    this.offset ??= details.offset;
    this.message = this.describe();
    return this;
  }

  private describe(): string {
    const where: string[] = [];
    if (this.layer !== undefined) {
      where.push(`layer ${this.layer.index}${this.layer.digest ? ` (${this.layer.digest})` : ''}`);
    }
    if (this.member !== undefined) where.push(`member ${this.member}`);
    if (this.offset !== undefined) where.push(`offset ${this.offset}`);
    if (this.archive !== undefined) where.push(`in ${this.archive}`);
    return where.length === 0 ? `${this.code}: ${this.reason}` : `${this.code}: ${this.reason} (${where.join(', ')})`;
  }
}

export function isImgfsError(error: unknown): error is ImgfsError {
  return error instanceof ImgfsError;
}
