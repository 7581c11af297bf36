import { ImgfsError } from '../errors.js';

/**
 * Where in which archive a tar problem is. Every tar error names both, so that a message about a
 * 2 GB layer points at the exact header to look at with `xxd -s`.
 */
export interface TarLocation {
  archive: string | undefined;
  offset: number;
}

/** The reason given for a block that is no tar header at all (as opposed to a header with bad values). */
export const NOT_A_HEADER = 'header checksum mismatch';

export function tarCorrupt(reason: string, where: TarLocation): ImgfsError {
  return new ImgfsError('ETARCORRUPT', reason, { archive: where.archive, offset: where.offset });
}

/** `offset` is the first byte that should exist but does not. */
export function tarTruncated(archive: string | undefined, offset: number, detail?: string): ImgfsError {
  const reason = `tar truncated at offset ${offset}${detail === undefined ? '' : `: ${detail}`}`;
  return new ImgfsError('ETRUNCATED', reason, { archive, offset });
}

/** Names the option so that whoever hits the limit knows what to raise. */
export function tarLimit(what: string, size: number, option: string, limit: number, where: TarLocation): ImgfsError {
  const reason = `${what} of ${size} bytes exceeds ${option} (${limit}); raise the ${option} option to accept it`;
  return new ImgfsError('ELIMIT', reason, { archive: where.archive, offset: where.offset });
}
