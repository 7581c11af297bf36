import { ImgfsError } from '../errors.js';

/**
 * Above deflate's own ceiling (about 1032:1), so no honest gzip layer, not even one holding a huge
 * file of zeros (a sparse /var/log/lastlog), can trip it; zstd reaches 30 000:1 and more, which is
 * where a bomb comes from.
 */
export const DEFAULT_MAX_RATIO = 1100;
/** Allowed on top of `maxRatio × compressed size`, so small streams are not judged by their ratio. */
export const DEFAULT_RATIO_SLACK = 64 * 1024 * 1024;

/**
 * The bound on decompressed size that stops a compression bomb: at most `maxRatio` times the compressed
 * size plus `ratioSlack`. Checked on every decoded chunk before it is kept, so memory and time stay
 * bounded whatever the stream claims.
 */
export class RatioLimit {
  constructor(
    readonly maxRatio: number = DEFAULT_MAX_RATIO,
    readonly ratioSlack: number = DEFAULT_RATIO_SLACK,
  ) {
    if (!(maxRatio > 0)) throw new RangeError(`maxRatio must be positive, got ${maxRatio}`);
  }

  /** Throws ELIMIT if `produced + length` decompressed bytes are too many for `compressed` bytes. */
  check(produced: number, length: number, compressed: number, name: string, compression: string): void {
    if (produced + length <= this.maxRatio * compressed + this.ratioSlack) return;
    throw new ImgfsError(
      'ELIMIT',
      `decompressed size exceeds ${this.maxRatio}× the compressed size (${compression} bomb?); raise with option maxRatio`,
      { archive: name, offset: produced },
    );
  }
}
