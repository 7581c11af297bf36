import { ImgfsError } from '../errors.js';

/** CRC-32 and ISIZE after each gzip member's deflate data. */
export const GZIP_TRAILER = 8;

export function gzipTruncated(name: string, cause?: unknown): ImgfsError {
  return new ImgfsError('ETRUNCATED', 'gzip stream truncated', { archive: name, cause });
}

export function gzipCorrupt(name: string, message: string, near: number, cause?: unknown): ImgfsError {
  return new ImgfsError('ECOMPRESSION', `corrupt gzip data: ${message} (near compressed offset ${near})`, {
    archive: name,
    cause,
  });
}
