/**
 * R1 names: leading `./` and `/` removed, repeated `/` collapsed, trailing `/` dropped, `.` removed,
 * `..` resolved lexically and clamped at the root; names are bytes decoded as UTF-8 (PAX `path` when
 * present); the root is `/`.
 */
import { describe, expect, it } from 'vitest';
import { buildLayer, dir, file, hardlink, whiteout, type BuildLayerOptions } from '../helpers/layer-tar.js';
import { openLayers, walkPaths } from '../helpers/open-layers.js';
import { expectCode } from '../helpers/expect-fs-error.js';

describe('R1 names', () => {
  it.each<[raw: string, expected: string]>([
    ['plain', '/plain'],
    ['./dot-slash', '/dot-slash'],
    ['/leading-slash', '/leading-slash'],
    ['//two-leading-slashes', '/two-leading-slashes'],
    ['././twice-dot-slash', '/twice-dot-slash'],
    ['./../dot-then-up', '/dot-then-up'],
    ['a//b///repeated', '/a/b/repeated'],
    ['c/./d/././dots', '/c/d/dots'],
    ['e/f/../up-one', '/e/up-one'],
    ['g/h/i/../../up-two', '/g/up-two'],
    ['../clamped-one', '/clamped-one'],
    ['../../../clamped-three', '/clamped-three'],
    ['/../abs-clamped', '/abs-clamped'],
    ['j/../../../k/clamped-deep', '/k/clamped-deep'],
    ['./l/.././m//./n', '/m/n'],
    ['ü/naïve-日本語.txt', '/ü/naïve-日本語.txt'],
    ['emoji-🙂/x', '/emoji-🙂/x'],
  ])('file %j is served at %j', async (raw, expected) => {
    const { fs } = await openLayers([[file(raw, `content of ${raw}`)]]);
    const stats = await fs.lstat(expected);
    expect(stats.isFile()).toBe(true);
    expect(stats.size).toBe(Buffer.byteLength(`content of ${raw}`));
    expect(await fs.readFile(expected, 'utf8')).toBe(`content of ${raw}`);
    expect(await walkPaths(fs)).toContain(expected);
    // No entry keeps its raw spelling.
    for (const path of await walkPaths(fs)) {
      expect(path.startsWith('/')).toBe(true);
      expect(path).not.toMatch(/\/\.\.?(\/|$)|\/\/|.\/$/);
    }
  });

  it.each<[raw: string, expected: string]>([
    ['trailing/', '/trailing'],
    ['./trailing-dot/', '/trailing-dot'],
    ['many-trailing///', '/many-trailing'],
    ['x/y/..', '/x'],
    ['p/q/./', '/p/q'],
    ['/abs-dir/', '/abs-dir'],
  ])('directory %j is served at %j with its own metadata', async (raw, expected) => {
    const { fs } = await openLayers([[dir(raw, { mode: 0o710, uid: 3, gid: 4, mtime: 1_600_000_000 })]]);
    const stats = await fs.lstat(expected);
    expect(stats.isDirectory()).toBe(true);
    expect([stats.mode & 0o7777, stats.uid, stats.gid, stats.mtimeMs]).toEqual([0o710, 3, 4, 1_600_000_000_000]);
  });

  it.each(['./', '.', '/', '..', '../..', './/./'])('directory entry %j names the root', async (raw) => {
    const { fs } = await openLayers([[dir(raw, { mode: 0o700, uid: 9, gid: 9 }), file('child', 'c')]]);
    const root = await fs.lstat('/');
    expect(root.isDirectory()).toBe(true);
    expect([root.mode & 0o7777, root.uid, root.gid]).toEqual([0o700, 9, 9]);
    expect(await fs.readdir('/')).toEqual(['child']);
    expect(await walkPaths(fs)).toEqual(['/child']);
  });

  it('spellings of one path are one entry (the later wins, as R2)', async () => {
    const { fs } = await openLayers([[file('./same', 'one'), file('/same', 'two'), file('x/../same', 'three'), file('same', 'four')]]);
    expect(await fs.readdir('/')).toEqual(['same']);
    expect(await fs.readFile('/same', 'utf8')).toBe('four');
  });

  it('spellings across layers name the same path', async () => {
    const { fs } = await openLayers([[dir('./etc/'), file('./etc/os', 'lower')], [file('/etc//os', 'upper')], [file('etc/./other', 'x')]]);
    expect(await fs.readdir('/etc')).toEqual(['os', 'other']);
    expect(await fs.readFile('/etc/os', 'utf8')).toBe('upper');
    expect((await fs.lstat('/etc/os')).layer).toBe(1);
  });

  it('normalises whiteout names and hard-link targets too', async () => {
    const { fs } = await openLayers([
      [file('./etc/a', 'a'), file('etc/b', 'b'), file('etc/c', 'c')],
      [whiteout('./etc//a'), whiteout('/etc/b'), hardlink('link', './etc/../etc//c')],
    ]);
    expect(await fs.readdir('/etc')).toEqual(['c']);
    expect(await fs.readFile('/link', 'utf8')).toBe('c');
  });

  it('decodes names as UTF-8 bytes, without Unicode normalisation, and sorts by bytes', async () => {
    const nfc = 'caf\u00e9'; // é as one code point: 63 61 66 c3 a9
    const nfd = 'cafe\u0301'; // e + combining acute: 63 61 66 65 cc 81
    const { fs } = await openLayers([[file(nfc, 'nfc'), file(nfd, 'nfd'), file('Zed', 'z'), file('alpha', 'a'), file('ß', 's'), file('~tilde', 't')]]);
    // Byte order: 'Z' (5a) < 'a' (61) < 'c' ... < '~' (7e) < 'ß' (c3 9f); NFD 'cafe…' < NFC 'caf\xc3…'.
    expect(await fs.readdir('/')).toEqual(['Zed', 'alpha', nfd, nfc, '~tilde', 'ß']);
    expect(await fs.readFile(`/${nfc}`, 'utf8')).toBe('nfc');
    expect(await fs.readFile(`/${nfd}`, 'utf8')).toBe('nfd');
  });

  it('takes the PAX path over the header name', async () => {
    const { fs } = await openLayers([[file('header-name', 'pax wins', { pax: { path: 'pax/ünïcode-name' } })]]);
    expect(await walkPaths(fs)).toEqual(['/pax', '/pax/ünïcode-name']);
    expect(await fs.readFile('/pax/ünïcode-name', 'utf8')).toBe('pax wins');
    await expectCode(fs.lstat('/header-name'), 'ENOENT');
  });

  it.each<[string, BuildLayerOptions]>([
    ['PAX path', { longNames: 'pax' }],
    ['GNU L record', { longNames: 'gnu' }],
    ['ustar prefix', { longNames: 'ustar' }],
  ])('reads names longer than 100 bytes from a %s', async (_label, build) => {
    const longDir = `${'d'.repeat(70)}/${'é'.repeat(30)}`;
    const longName = `./${longDir}/${'f'.repeat(80)}`;
    const { fs } = await openLayers([[dir(`${longDir}/`, { mode: 0o701 }), file(longName, 'long')]], { build });
    const path = `/${longDir}/${'f'.repeat(80)}`;
    expect(await fs.readFile(path, 'utf8')).toBe('long');
    expect((await fs.lstat(`/${longDir}`)).mode & 0o7777).toBe(0o701);
    expect(await walkPaths(fs)).toEqual([`/${'d'.repeat(70)}`, `/${longDir}`, path]);
  });

  it('serves a root that no entry names', async () => {
    const { fs } = await openLayers([[file('only', 'x')]]);
    expect((await fs.stat('/')).isDirectory()).toBe(true);
    expect(await fs.realpath('/')).toBe('/');
    expect(await fs.readdir('/')).toEqual(['only']);
  });

  it('accepts a tar whose entries come before their parents and without them', async () => {
    const tar = buildLayer([file('z/y/x/deep', 'deep'), dir('z/', { mode: 0o711 }), file('z/y/sibling', 's')]);
    const { fs } = await openLayers([tar]);
    expect(await walkPaths(fs)).toEqual(['/z', '/z/y', '/z/y/sibling', '/z/y/x', '/z/y/x/deep']);
    expect((await fs.lstat('/z')).mode & 0o7777).toBe(0o711);
  });
});
