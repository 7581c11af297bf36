import { ImgfsError } from '../errors.js';
import { LIMITS, RATIO_SLACK } from '../limits.js';

/** The table of limits (lib/limits.ts) says why 1100. */
export const DEFAULT_MAX_RATIO = LIMITS.maxRatio.default;
/** Allowed on top of `maxRatio × compressed size`, so small streams are not judged by their ratio. */
export const DEFAULT_RATIO_SLACK = RATIO_SLACK;

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
