/**
 * Range arithmetic shared by every source: validate a request, then clamp it to the bytes that exist.
 * Reading outside a source is never an error (it returns fewer bytes); asking with a non-integer is a bug
 * in the caller, so that is a RangeError.
 */

/** Half-open byte range `[start, end)`; `end <= start` means there is nothing to read. */
export interface ByteRange {
  start: number;
  end: number;
}

function assertIndex(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what} must be a safe integer, got ${value}`);
}

/**
 * Validates `read(offset, length)` and clamps `[offset, offset + length)` to `[0, size)`. `size` may be
 * `Infinity` when the source does not know its length yet.
 */
export function clampRead(offset: number, length: number, size: number): ByteRange {
  assertIndex(offset, 'offset');
  assertIndex(length, 'length');
  if (length < 0) throw new RangeError(`length must not be negative, got ${length}`);
  const start = Math.max(0, offset);
  const end = Math.min(size, offset + length);
  return { start, end: Math.max(start, end) };
}

/**
 * Validates `createReadStream(start, end)` and clamps it to `[0, size)`; `end` defaults to the end of the
 * source (`Infinity` when the size is not known yet, in which case the stream stops at the first short read).
 */
export function clampStream(start: number | undefined, end: number | undefined, size: number | undefined): ByteRange {
  const limit = size ?? Infinity;
  const from = start ?? 0;
  assertIndex(from, 'start');
  if (end !== undefined) assertIndex(end, 'end');
  const clampedStart = Math.min(Math.max(0, from), limit);
  const clampedEnd = Math.min(end ?? limit, limit);
  return { start: clampedStart, end: Math.max(clampedStart, clampedEnd) };
}
