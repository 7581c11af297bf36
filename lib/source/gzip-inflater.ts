import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ImgfsError } from '../errors.js';
import { assertPlainCheckpoint, type DecodeContext, type Inflater } from './inflater.js';

/** Output chunk size of the zlib engine. */
const GUNZIP_CHUNK_SIZE = 64 * 1024;

interface ZlibError extends Error {
  code: string;
  errno: number;
}

function isZlibError(error: unknown): error is ZlibError {
  return (
    error instanceof Error &&
    typeof (error as Partial<ZlibError>).errno === 'number' &&
    typeof (error as Partial<ZlibError>).code === 'string' &&
    (error as ZlibError).code.startsWith('Z_')
  );
}

/**
 * gzip through node:zlib. Node's Gunzip decodes concatenated members one after another and ignores zero
 * bytes after the last member (padding some writers add); anything else after a member is an error, as
 * in Go's gzip reader that containerd uses. A checkpoint must be at the start of a member.
 */
export const gzipInflater: Inflater = {
  compression: 'gzip',

  async *decode(input: AsyncIterable<Buffer>, context: DecodeContext): AsyncGenerator<Buffer, void, undefined> {
    assertPlainCheckpoint('gzip', context.from);
    const feed = Readable.from(input, { objectMode: false });
    const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK_SIZE });
    // Errors reach us through the iteration of `gunzip`; the callback only keeps them from going unhandled.
    pipeline(feed, gunzip, () => {});
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        context.onOutput(chunk.length);
        yield chunk;
      }
    } catch (error) {
      if (!isZlibError(error)) throw error;
      if (error.code === 'Z_BUF_ERROR') {
        throw new ImgfsError('ETRUNCATED', 'gzip stream truncated', { archive: context.name, cause: error });
      }
      const near = context.from.rawOffset + gunzip.bytesWritten;
      throw new ImgfsError('ECOMPRESSION', `corrupt gzip data: ${error.message} (near compressed offset ${near})`, {
        archive: context.name,
        cause: error,
      });
    } finally {
      gunzip.destroy();
      feed.destroy();
    }
  },
};
