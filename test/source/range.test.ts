import { describe, expect, it } from 'vitest';
import { clampRead, clampStream } from '../../lib/source/range.js';

describe('clampRead / clampStream', () => {
  it('intersects the request with the source', () => {
    expect(clampRead(10, 5, 100)).toEqual({ start: 10, end: 15 });
    expect(clampRead(98, 5, 100)).toEqual({ start: 98, end: 100 });
    expect(clampRead(200, 5, 100)).toEqual({ start: 200, end: 200 });
    expect(clampRead(-3, 5, 100)).toEqual({ start: 0, end: 2 });
    expect(clampRead(-10, 5, 100)).toEqual({ start: 0, end: 0 });
    expect(clampRead(5, 10, Infinity)).toEqual({ start: 5, end: 15 });
    expect(() => clampRead(Number.NaN, 1, 10)).toThrow(RangeError);
    expect(() => clampRead(0, -1, 10)).toThrow(RangeError);
  });

  it('defaults a stream to the whole source', () => {
    expect(clampStream(undefined, undefined, 100)).toEqual({ start: 0, end: 100 });
    expect(clampStream(undefined, undefined, undefined)).toEqual({ start: 0, end: Infinity });
    expect(clampStream(50, 20, 100)).toEqual({ start: 50, end: 50 });
    expect(clampStream(150, undefined, 100)).toEqual({ start: 100, end: 100 });
    expect(() => clampStream(0.5, undefined, 100)).toThrow(RangeError);
  });
});
