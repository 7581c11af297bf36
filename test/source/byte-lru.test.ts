import { describe, expect, it } from 'vitest';
import { ByteLru } from '../../lib/source/byte-lru.js';

const bytes = (n: number, fill = 1): Buffer => Buffer.alloc(n, fill);

describe('ByteLru', () => {
  it('drops the least recently used buffers once their total passes maxSize', () => {
    const lru = new ByteLru<number>(100);
    lru.set(1, bytes(40));
    lru.set(2, bytes(40));
    expect(lru.has(2)).toBe(true); // `has` leaves 2 the more recent
    expect(lru.get(1)?.length).toBe(40); // 1 is now more recent than 2
    lru.set(3, bytes(40));
    expect(lru.get(2)).toBeUndefined();
    expect(lru.get(1)?.length).toBe(40);
    expect(lru.get(3)?.length).toBe(40);
    expect(lru.calculatedSize).toBe(80);
  });

  it('replaces a key without counting it twice, keeps nothing larger than the whole cache, and counts empty buffers as 1', () => {
    const lru = new ByteLru<string>(100);
    lru.set('a', bytes(60));
    lru.set('a', bytes(30, 2));
    expect(lru.calculatedSize).toBe(30);
    expect(lru.get('a')?.[0]).toBe(2);
    lru.set('big', bytes(101));
    expect(lru.get('big')).toBeUndefined();
    expect(lru.get('a')?.length).toBe(30);
    lru.set('empty', Buffer.alloc(0));
    expect(lru.calculatedSize).toBe(31);
    lru.delete('a');
    expect(lru.calculatedSize).toBe(1);
    lru.clear();
    expect(lru.calculatedSize).toBe(0);
    expect(lru.get('empty')).toBeUndefined();
  });

  it('refuses a size that bounds nothing', () => {
    expect(() => new ByteLru(0)).toThrow(RangeError);
  });
});
