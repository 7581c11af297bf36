/**
 * Names that are not valid UTF-8 (issue 13, item 5): kept as their bytes. Layers are written by GNU
 * tar from files whose names are raw bytes, in both of its formats (gnu: bytes in the header; pax:
 * GNU tar's own PAX records), and read back through the library, the CLI, the index cache and
 * `export` (checked with GNU tar's listing, byte for byte).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nameFromBytes, nameToBytes, openImage } from '../../lib/index.js';
import { imgfs, sh } from '../cli/run-cli.js';

/** Bytes from a string whose characters are all below U+0100 ('\xe9' is one byte here, not UTF-8 é). */
const bytes = (latin1: string): Buffer => Buffer.from(latin1, 'latin1');
const CAF_E9 = bytes('caf\xe9'); // Latin-1 é: not UTF-8
const CAF_E8 = bytes('caf\xe8'); // Latin-1 è
const CAF_UTF8 = Buffer.from('café', 'utf8'); // c3 a9
const DIR_FF = bytes('d\xff');

let scratch: string;
const layers: Record<'gnu' | 'pax', string[]> = { gnu: [], pax: [] };

/** GNU tar of `members` (byte names) under `root`, in `format`. */
function tarOf(root: string, out: string, format: 'gnu' | 'pax', members: Buffer[]): string {
  // Byte names cannot travel as JS strings; a NUL-separated list read with --null can.
  const list = join(scratch, `${out}.list`);
  writeFileSync(list, Buffer.concat(members.flatMap((m) => [m, Buffer.of(0)])));
  execFileSync('tar', ['-cf', join(scratch, out), `--format=${format}`, '--sort=name', '--mtime=@1700000000', '--null', '--no-recursion', '-T', list], { cwd: root });
  return join(scratch, out);
}

function at(dir: string, ...parts: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from(`${dir}/`), ...parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from('/'), p]))]);
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'imgfs-bytenames-'));
  const base = join(scratch, 'base');
  const upper = join(scratch, 'upper');
  mkdirSync(base);
  mkdirSync(upper);
  writeFileSync(at(base, CAF_E9), 'latin-1 e acute\n');
  writeFileSync(at(base, CAF_E8), 'latin-1 e grave\n');
  writeFileSync(at(base, CAF_UTF8), 'utf-8 e acute\n');
  mkdirSync(at(base, DIR_FF));
  writeFileSync(at(base, DIR_FF, CAF_E9), 'inside d\\xff\n');
  symlinkSync(CAF_E9, at(base, bytes('link\xe9')));
  // Upper layer: a whiteout of caf\xe9 only.
  writeFileSync(at(upper, bytes('.wh.caf\xe9')), '');
  for (const format of ['gnu', 'pax'] as const) {
    layers[format] = [
      tarOf(base, `base-${format}.tar`, format, [CAF_E9, CAF_E8, CAF_UTF8, DIR_FF, Buffer.concat([DIR_FF, Buffer.from('/'), CAF_E9]), bytes('link\xe9')]),
      tarOf(upper, `upper-${format}.tar`, format, [bytes('.wh.caf\xe9')]),
    ];
  }
});

afterAll(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

describe('the name codec', () => {
  it('round-trips any bytes, and decodes valid UTF-8 as usual', () => {
    const samples = [CAF_E9, CAF_UTF8, bytes('\xff\xfe'), bytes('\xed\xa0\x80'), bytes('\xc3'), bytes('a\xf0\x9f\x99\x82b\xf0\x9f'), Buffer.from('🙂/ü', 'utf8')];
    for (const sample of samples) expect(nameToBytes(nameFromBytes(sample)).equals(sample)).toBe(true);
    expect(nameFromBytes(CAF_UTF8)).toBe('café');
    expect(nameFromBytes(CAF_E9)).toBe('caf\udce9');
    // An encoded surrogate (ED A0 80) is not UTF-8: three escaped bytes, as Python's surrogateescape.
    expect(nameFromBytes(bytes('\xed\xa0\x80'))).toBe('\udced\udca0\udc80');
  });
});

describe.each(['gnu', 'pax'] as const)('names that are not UTF-8, GNU tar --format=%s', (format) => {
  it('stay distinct entries, readable by their bytes and by their string form, listed in byte order', async () => {
    const img = await openImage([layers[format][0] as string], { cache: false });
    try {
      expect(await img.readdir('/')).toEqual(['caf\u00e9', 'caf\udce8', 'caf\udce9', 'd\udcff', 'link\udce9']);
      expect(await img.readFile(Buffer.from('/caf\xe9', 'latin1'), 'utf8')).toBe('latin-1 e acute\n');
      expect(await img.readFile('/caf\udce8', 'utf8')).toBe('latin-1 e grave\n');
      expect(await img.readFile('/café', 'utf8')).toBe('utf-8 e acute\n');
      expect(await img.readFile(Buffer.concat([Buffer.from('/'), DIR_FF, Buffer.from('/'), CAF_E9]), 'utf8')).toBe('inside d\\xff\n');
      expect(await img.readlink(bytes('/link\xe9'))).toBe('caf\udce9');
      expect(nameToBytes(await img.readlink('/link\udce9')).equals(CAF_E9)).toBe(true);
      expect((await img.stat(bytes('/link\xe9'))).size).toBe(16);
      const walked: string[] = [];
      for await (const entry of img.walk(bytes('/d\xff'))) walked.push(entry.path);
      expect(walked).toEqual(['/d\udcff/caf\udce9']);
    } finally {
      await img.close();
    }
  });

  it('a whiteout of one byte name hides only that name', async () => {
    const img = await openImage(layers[format], { cache: false });
    try {
      expect(await img.readdir('/')).toEqual(['caf\u00e9', 'caf\udce8', 'd\udcff', 'link\udce9']);
      await expect(img.lstat(bytes('/caf\xe9'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await img.readFile(bytes('/caf\xe8'), 'utf8')).toBe('latin-1 e grave\n');
    } finally {
      await img.close();
    }
  });
});

describe('byte names through the index cache', () => {
  it('a cached index keeps both names', async () => {
    const cache = join(scratch, 'cache');
    for (let round = 0; round < 2; round++) {
      const img = await openImage([layers.gnu[0] as string], { cache });
      try {
        expect(await img.readdir('/')).toEqual(['caf\u00e9', 'caf\udce8', 'caf\udce9', 'd\udcff', 'link\udce9']);
        expect(await img.readFile(bytes('/caf\xe9'), 'utf8')).toBe('latin-1 e acute\n');
      } finally {
        await img.close();
      }
    }
  });
});

describe('byte names in the CLI', () => {
  const lines = (raw: Buffer): Buffer[] => {
    const out: Buffer[] = [];
    let start = 0;
    for (let nl = raw.indexOf(10); nl >= 0; nl = raw.indexOf(10, start)) {
      out.push(raw.subarray(start, nl));
      start = nl + 1;
    }
    return out;
  };

  it('find and ls print the original bytes', async () => {
    const found = await imgfs(['find', layers.gnu[0] as string]);
    expect(found.code).toBe(0);
    const slash = (...parts: Buffer[]): Buffer => Buffer.concat(parts.flatMap((p) => [Buffer.from('/'), p]));
    expect(lines(found.raw)).toEqual([Buffer.from('/'), slash(CAF_UTF8), slash(CAF_E8), slash(CAF_E9), slash(DIR_FF), slash(DIR_FF, CAF_E9), slash(bytes('link\xe9'))]);
    const listed = await imgfs(['ls', layers.gnu[0] as string, '/']);
    expect(listed.code).toBe(0);
    expect(lines(listed.raw)).toEqual([CAF_UTF8, CAF_E8, CAF_E9, DIR_FF, bytes('link\xe9')]);
  });

  it('takes such a path as an operand, as the shell passes it', async () => {
    const result = await sh(`$IMGFS cat --no-cache ${layers.gnu[0] as string} $'/caf\\xe9' $'/d\\xff/caf\\xe9'`);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('latin-1 e acute\ninside d\\xff\n');
  });

  it('export writes the original bytes back (GNU tar lists them unchanged)', async () => {
    const out = join(scratch, 'exported.tar');
    const result = await imgfs(['export', '-o', out, layers.pax.join(':')]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const listing = execFileSync('tar', ['-tf', out, '--quoting-style=literal']);
    expect(lines(listing)).toEqual([Buffer.from('café', 'utf8'), CAF_E8, bytes('d\xff/'), bytes('d\xff/caf\xe9'), bytes('link\xe9')]);
    const verbose = execFileSync('tar', ['-tvf', out, '--quoting-style=literal']);
    expect(verbose.includes(Buffer.concat([bytes('link\xe9 -> '), CAF_E9]))).toBe(true);
    // And imgfs reads its own export the same way.
    const again = await openImage([out], { cache: false });
    try {
      expect(await again.readdir('/')).toEqual(['caf\u00e9', 'caf\udce8', 'd\udcff', 'link\udce9']);
      expect(await again.readFile(bytes('/d\xff/caf\xe9'), 'utf8')).toBe('inside d\\xff\n');
    } finally {
      await again.close();
    }
  });
});
