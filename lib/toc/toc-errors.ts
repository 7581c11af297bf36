import { ImgfsError, type ImgfsErrorCode } from '../errors.js';

/**
 * A table of contents that cannot be used: malformed, too large, pointing outside the blob or
 * overlapping itself. The layer is still readable as a plain stream; the opener falls back to that.
 */
export function tocError(reason: string, offset?: number, code: ImgfsErrorCode = 'EIMGFORMAT'): ImgfsError {
  return new ImgfsError(code, `table of contents: ${reason}`, offset === undefined ? {} : { offset });
}
