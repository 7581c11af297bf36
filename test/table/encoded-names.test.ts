import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { nameToBytes } from '../../lib/tar/name-bytes.js';
import { EncodedNames, nameStarts } from '../../lib/table/encoded-names.js';
import { decodeSnapshot, encodeSnapshot, SnapshotFormatError } from '../../lib/table/snapshot-codec.js';
import { LayerTable } from '../../lib/table/layer-table.js';
import type { TarEntry } from '../../lib/tar/tar-entry.js';

function encoded(names: readonly string[]): EncodedNames {
  const bytes = nameToBytes(names.join('\0'));
  return new EncodedNames(bytes, nameStarts(bytes, names.length));
}

describe('EncodedNames', () => {
  it('gives back each name, ASCII or not (invalid UTF-8 kept as lone surrogates), and undefined outside', () => {
    const names = ['', 'a', 'a/b', 'ünï', '\u{1f600}', 'x\udc80y', ''];
    const column = encoded(names);
    expect(column.length).toBe(names.length);
    expect(Array.from({ length: names.length }, (_, i) => column.at(i))).toEqual(names);
    expect(column.at(-1)).toBeUndefined();
    expect(column.at(names.length)).toBeUndefined();
  });

  it('finds by comparing bytes what a search over the strings finds, and leaves non-ASCII to decoding', () => {
    const pieces = ['a', 'b', 'a/', 'ab', '/', '0', '\u{e000}', '\u{1f600}', '\udc80'];
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const word = (ascii: boolean): string => Array.from({ length: next() % 5 }, () => pieces[next() % (ascii ? 6 : pieces.length)] as string).join('');
    for (let round = 0; round < 400; round++) {
      const ascii = round % 2 === 0;
      const names = [...new Set(Array.from({ length: next() % 8 }, () => word(ascii)))].sort();
      const column = encoded(names);
      for (let probe = 0; probe < 6; probe++) {
        const key = probe === 0 && names.length > 0 ? (names[next() % names.length] as string) : word(probe % 2 === 0);
        const lower = names.findIndex((name) => name >= key);
        const expected = { seek: lower < 0 ? names.length : lower, slot: names.indexOf(key) };
        const isAscii = (text: string): boolean => /^[\x00-\x7f]*$/.test(text);
        const answer = { seek: column.seek(key), slot: column.slotOf(key) };
        if (names.every(isAscii) && isAscii(key)) expect(answer, JSON.stringify({ names, key })).toEqual(expected);
        // Not ASCII on either side: byte order may not be code unit order, so the caller decodes.
        else expect(answer).toEqual({ seek: undefined, slot: undefined });
      }
    }
  });

  it('ends each run of names sharing a parent directory where comparing decoded parents ends it', () => {
    const pieces = ['a', 'b', '/', 'ü', '\udc80', '.wh.'];
    let seed = 11;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const parent = (name: string): string => name.slice(0, Math.max(0, name.lastIndexOf('/')));
    for (let round = 0; round < 300; round++) {
      const names = [...new Set(Array.from({ length: next() % 12 }, () => Array.from({ length: next() % 6 }, () => pieces[next() % pieces.length] as string).join('')))].sort();
      const column = encoded(names);
      for (let first = 0; first < names.length; first++) {
        let end = first + 1;
        while (end < names.length && parent(names[end] as string) === parent(names[first] as string)) end++;
        expect(column.parentRunEnd(first), JSON.stringify({ names, first })).toBe(end);
      }
    }
  });
});

describe('index file names', () => {
  async function table(names: string[]): Promise<LayerTable> {
    async function* members(): AsyncGenerator<TarEntry> {
      let offset = 0;
      for (const name of names) {
        yield { name, type: 'file', typeflag: '0', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', size: 0, mtimeMs: 0, linkname: '', devmajor: 0, devminor: 0, xattrs: {}, headerOffset: offset, dataOffset: offset + 512 };
        offset += 512;
      }
    }
    return LayerTable.build(members());
  }

  it('a table loaded from its file answers as the built one, names decoded when asked for', async () => {
    const built = await table(['etc/passwd', 'usr/bin/ünï', 'usr/lib/a', 'srv/x\udc80']);
    const loaded = LayerTable.fromSnapshot(decodeSnapshot(encodeSnapshot(built.snapshot())));
    for (const path of ['etc/passwd', 'usr/bin/ünï', 'usr/lib/a', 'srv/x\udc80', 'usr/lib/b', 'usr']) {
      expect(loaded.get(path)).toEqual(built.get(path));
    }
    expect(loaded.childrenOf('usr')).toEqual(built.childrenOf('usr'));
  });

  it('refuses an intact file (checksum recomputed) whose name starts do not fit its names', async () => {
    const file = encodeSnapshot((await table(['a', 'b', 'c'])).snapshot());
    // The path column's starts: 0, 2, 4, 6 ('a\0b\0c' and one past its end), as 32-bit words.
    const starts = Buffer.from(Uint32Array.of(0, 2, 4, 6).buffer);
    const startsAt = file.indexOf(starts);
    expect(startsAt).toBeGreaterThan(0);
    expect(file.readUInt32LE(startsAt + 4)).toBe(2);
    const damaged = Buffer.from(file);
    damaged.writeUInt32LE(9, startsAt + 4);
    damaged.writeUInt32LE(crc32(damaged.subarray(16)), 12);
    expect(() => decodeSnapshot(damaged)).toThrow(new SnapshotFormatError('string tables do not match the entry count'));
    expect(decodeSnapshot(file).paths.at(1)).toBe('b');
  });
});
