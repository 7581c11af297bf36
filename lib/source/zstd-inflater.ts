import { Decompress } from 'fzstd';
import { ImgfsError } from '../errors.js';
import { assertPlainCheckpoint, type DecodeContext, type Inflater } from './inflater.js';

/**
 * Input is fed to fzstd in pieces this small because one push cannot be interrupted: a piece of highly
 * compressible data (4 bytes per 128 KiB block of zeros) would otherwise decode to gigabytes at once.
 * 1 KiB bounds one push to 32 MiB of output; fzstd buffers partial blocks without copying, so small
 * pieces cost nothing measurable.
 */
const PIECE_SIZE = 1024;

/** fzstd's code for "unexpected EOF". */
const ZSTD_UNEXPECTED_EOF = 5;

function zstdErrorCode(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as Error & { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * zstd through fzstd's streaming decoder: frames one after another and skippable frames are handled by
 * fzstd. A checkpoint must be at the start of a frame. fzstd does not verify content checksums.
 */
export const zstdInflater: Inflater = {
  compression: 'zstd',

  async *decode(input: AsyncIterable<Buffer>, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
    assertPlainCheckpoint('zstd', context.from);
    let output: Buffer[] = [];
    const decoder = new Decompress((data) => {
      if (data.length === 0) return;
      context.onOutput(data.length);
      output.push(Buffer.from(data)); // a copy: fzstd's buffers are its own business
    });
    let consumed = context.from.rawOffset;

    const push = (piece: Uint8Array, final: boolean): void => {
      try {
        decoder.push(piece, final);
      } catch (error) {
        if (error instanceof ImgfsError) throw error; // from onOutput
        if (zstdErrorCode(error) === ZSTD_UNEXPECTED_EOF) {
          throw new ImgfsError('ETRUNCATED', 'zstd stream truncated', { archive: context.name, cause: error });
        }
        if (zstdErrorCode(error) === undefined) throw error;
        const message = error instanceof Error ? error.message : String(error);
        throw new ImgfsError('ECOMPRESSION', `corrupt zstd data: ${message} (near compressed offset ${consumed})`, {
          archive: context.name,
          cause: error,
        });
      }
    };

    for await (const chunk of input) {
      for (let at = 0; at < chunk.length; at += PIECE_SIZE) {
        const piece = chunk.subarray(at, Math.min(chunk.length, at + PIECE_SIZE));
        consumed += piece.length;
        push(piece, false);
        if (output.length > 0) {
          const ready = output;
          output = [];
          yield* ready;
        }
      }
    }
    push(new Uint8Array(0), true);
    yield* output;
  },
};
