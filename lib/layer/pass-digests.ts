import type { Hash } from 'node:crypto';
import { digestOf, hashFor } from '../image/digest.js';
import type { Inflater, RawInput } from '../source/inflater.js';

/**
 * The digests of a compressed layer computed by its indexing pass, as a side effect of the decoding it
 * does anyway: of the tar stream (what the diff_id names) and, when asked, of the stored bytes. Known
 * only once a decoder that started at the stream's start has run to its end (a pass that restarts or
 * stops early leaves them undefined). A layer whose pass matched both digests its image states has a
 * verified table: it is cached under the diff_id, shared by every image that has the layer
 * (cache-identity.ts), whatever the image's format.
 */
export class PassDigests {
  /** `algorithm:hex` of the tar stream, once a whole pass has been seen. */
  tar: string | undefined;
  /** `algorithm:hex` of the stored bytes, once a whole pass has been seen (when `expected.blob` is set). */
  blob: string | undefined;
  private watched = false;

  constructor(private readonly expected: { tar: string; blob: string | undefined }) {}

  /** Whether the pass matched what was expected. */
  get matched(): boolean {
    return this.tar === this.expected.tar && (this.expected.blob === undefined || this.blob === this.expected.blob);
  }

  /** `inflater`, with its first decoding from the stream's start watched. */
  wrap(inflater: Inflater): Inflater {
    // A synchronous decode is of a few bytes between two checkpoints, never a whole pass: not watched.
    const decodeSync = inflater.decodeSync?.bind(inflater);
    return {
      compression: inflater.compression,
      recordsFreely: inflater.recordsFreely,
      ...(decodeSync === undefined ? {} : { decodeSync }),
      decode: (input, context) => {
        if (this.watched || context.from.outOffset !== 0 || context.from.rawOffset !== 0) return inflater.decode(input, context);
        this.watched = true;
        const tarHash = tryHash(this.expected.tar);
        const blobHash = this.expected.blob === undefined ? undefined : tryHash(this.expected.blob);
        if (tarHash === undefined) return inflater.decode(input, context);
        return this.watch(inflater, input, context, tarHash, blobHash);
      },
    };
  }

  private async *watch(
    inflater: Inflater,
    input: RawInput,
    context: Parameters<Inflater['decode']>[1],
    tarHash: Hash,
    blobHash: Hash | undefined,
  ): AsyncGenerator<Buffer, void, undefined> {
    let inputs = 0;
    let rawEnded = false;
    const watchedInput: RawInput = async function* (rawOffset, recycle) {
      inputs += 1;
      // Hashed as it passes, before the consumer asks for more: a recycled chunk is fine.
      for await (const chunk of input(rawOffset, recycle)) {
        if (inputs === 1 && rawOffset === 0) blobHash?.update(chunk);
        yield chunk;
      }
      rawEnded = inputs === 1 && rawOffset === 0;
    };
    for await (const chunk of inflater.decode(blobHash === undefined ? input : watchedInput, context)) {
      tarHash.update(chunk);
      yield chunk;
    }
    this.tar = digestOf(tarHash, this.expected.tar);
    if (blobHash !== undefined && rawEnded && this.expected.blob !== undefined) this.blob = digestOf(blobHash, this.expected.blob);
  }
}

function tryHash(expected: string): Hash | undefined {
  try {
    return hashFor(expected, 'digest');
  } catch {
    return undefined;
  }
}
