import { ImgfsError, type LayerRef } from './errors.js';

/**
 * Recoverable problems, as data (node-tar's `warn(code, message, data)` is the model): imgfs serves the
 * image anyway, the way a runtime would extract it, and says what it left out.
 */
export type ImgfsWarningCode =
  | 'EUNSUPPORTED' // a tar member of a type imgfs does not serve (skipped)
  | 'ECONFLICT' // a member that cannot exist beside another of the same layer (dropped)
  | 'EHARDLINK' // a hard link whose target cannot be found, or that forms a cycle (dropped)
  | 'ETOC' // a zstd:chunked or eStargz table of contents that cannot be used (the layer is read as a plain stream)
  | 'ECACHE' // the index cache could not be read or written (rebuilt or skipped; never about the image)
  | 'EIO'; // `mount`: a request the image could not answer (the kernel got EIO; the rest is served)

export interface ImgfsWarning {
  code: ImgfsWarningCode;
  /** One line for a person, naming the layer and the path(s) concerned (the CLI prints it as is). */
  message: string;
  /** The layer concerned, when one is. */
  layer?: LayerRef | undefined;
  /** The path concerned inside the image (`/etc/x`), when one is. */
  path?: string | undefined;
}

export type WarningSink = (warning: ImgfsWarning) => void;

/** Codes that say imgfs left something of the image out; `strict` turns these into errors. */
type LeftOut = 'EUNSUPPORTED' | 'ECONFLICT' | 'EHARDLINK';
const LEFT_OUT: ReadonlySet<ImgfsWarningCode> = new Set<LeftOut>(['EUNSUPPORTED', 'ECONFLICT', 'EHARDLINK']);

function leftOut(code: ImgfsWarningCode): code is LeftOut {
  return LEFT_OUT.has(code);
}

/**
 * Where every warning of one opened image goes: to the caller's `onWarning`, or with `strict`, a
 * warning about the image is thrown as an ImgfsError of the same code instead, so that nothing is
 * served from an image that is not exactly what its tar streams say. Warnings about the cache
 * (ECACHE) concern this machine, not the image, and stay warnings (as do `mount`'s EIO, which have
 * no `strict`); so does ETOC, an unusable table of contents, since the layer is then served from its
 * tar stream, exactly.
 */
export function warningSink(onWarning: WarningSink | undefined, strict: boolean): WarningSink {
  return (warning) => {
    if (strict && leftOut(warning.code)) throw new ImgfsError(warning.code, `strict: ${warning.message}`, { layer: warning.layer });
    onWarning?.(warning);
  };
}
