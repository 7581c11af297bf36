/**
 * Mutated layer tars: bit flips, byte writes, truncations, splices, deletions and insertions of a
 * layer that uses every tar feature imgfs reads (PAX, GNU long names, base-256, links, devices,
 * whiteouts), with and without the header checksums repaired afterwards (so mutations reach the field
 * parsers, not only the checksum). Every outcome is a consistent view or a typed error, in time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { walkTar } from '../../../lib/tar/walk-tar.js';
import { BufferSource } from '../../../lib/source/buffer-source.js';
import {
  blockDevice,
  buildLayer,
  charDevice,
  dir,
  fifo,
  file,
  hardlink,
  opaque,
  symlink,
  whiteout,
  type LayerEntrySpec,
} from '../../helpers/layer-tar.js';
import fc from 'fast-check';
import { check, exercise, fixChecksums, mutate, mutationsArb, propertyTimeout } from './fuzz-harness.js';

const longName = `deep/${'long-directory-name/'.repeat(8)}file.txt`;
const lowerEntries: LayerEntrySpec[] = [
  dir('etc/'),
  file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n', { uname: 'root', gname: 'root' }),
  file('etc/hostname', 'fuzz\n', { mtime: '1700000000.123456789' }),
  file('bin/busybox', Buffer.alloc(3000, 0x42), { mode: 0o4755 }),
  hardlink('bin/sh', 'bin/busybox'),
  symlink('bin/ls', 'busybox'),
  symlink('lib64', '/lib'),
  file(longName, 'a long name'),
  file('var/log/big.log', 'line\n'.repeat(400), { uid: 3_000_000, gid: 70_000 }),
  charDevice('dev/null', 1, 3),
  blockDevice('dev/sda', 8, 0),
  fifo('run/fifo'),
  file('opt/xattr', 'x', { xattrs: { 'user.note': 'hello', 'security.capability': Buffer.from([1, 0, 0, 2]) } }),
  { type: 'pax-global', records: { comment: 'global header' } },
  dir('opt/app/'),
  file('opt/app/config.json', '{"a":1}'),
];
const upperEntries: LayerEntrySpec[] = [whiteout('etc/hostname'), opaque('opt/app'), file('opt/app/new', 'new'), file('etc/motd', 'welcome\n')];

const lower = buildLayer(lowerEntries);
const lowerGnu = buildLayer(lowerEntries, { longNames: 'gnu' });
const upper = buildLayer(upperEntries);

/** Offsets of every header block (extension headers included) of a valid tar. */
async function headerOffsets(tar: Buffer): Promise<number[]> {
  const offsets = new Set<number>();
  for await (const entry of walkTar(new BufferSource(tar, 'fuzz'))) {
    offsets.add(entry.headerOffset);
    // Extension headers sit between headerOffset and the entry's own header.
    for (let at = entry.headerOffset; at < entry.dataOffset; at += 512) offsets.add(at);
  }
  return [...offsets].sort((a, b) => a - b);
}

const dir0 = mkdtempSync(join(tmpdir(), 'imgfs-fuzz-tar-'));
afterAll(() => rmSync(dir0, { recursive: true, force: true }));
let counter = 0;
/** A fresh file for each case (an open image keeps its files until closed). */
function write(name: string, bytes: Buffer): string {
  const path = join(dir0, `${counter++}-${name}`);
  writeFileSync(path, bytes);
  return path;
}

describe('fuzz: mutated layer tars', () => {
  it('the unmutated layers open (sanity)', async () => {
    expect(await exercise([write('l.tar', lower), write('u.tar', upper)])).toBe('view');
    expect(await exercise([write('g.tar', lowerGnu)])).toBe('view');
  });

  it(
    'raw mutations of a layer: a view or a typed error',
    async () => {
      const hot = await headerOffsets(lower);
      await check('tar raw', mutationsArb(hot), async (mutations) => exercise([write('m.tar', mutate(lower, mutations))]));
    },
    propertyTimeout(),
  );

  it(
    'mutations with checksums repaired reach the field parsers',
    async () => {
      const hot = await headerOffsets(lower);
      const outcomes = await check('tar fixed', mutationsArb(hot), async (mutations) =>
        exercise([write('lower.tar', lower), write('m.tar', fixChecksums(mutate(lower, mutations), hot))]),
      );
      // Checksums repaired, most cases get past the checksum: some views, some deeper errors.
      expect(outcomes.size).toBeGreaterThan(1);
    },
    propertyTimeout(),
  );

  it(
    'GNU long names and an upper layer with whiteouts, mutated and repaired',
    async () => {
      const hot = await headerOffsets(lowerGnu);
      const upperHot = await headerOffsets(upper);
      await check('tar gnu', mutationsArb(hot), async (mutations) =>
        exercise([write('g.tar', fixChecksums(mutate(lowerGnu, mutations), hot)), write('u.tar', fixChecksums(mutate(upper, mutations), upperHot))]),
      );
    },
    propertyTimeout(),
  );

  it(
    'the same mutations behind gzip (offsets come from the decompressed stream)',
    async () => {
      const hot = await headerOffsets(lower);
      await check('tar in gzip', mutationsArb(hot), async (mutations) =>
        exercise([write('m.tar.gz', gzipSync(fixChecksums(mutate(lower, mutations), hot)))]),
      );
    },
    propertyTimeout(),
  );

  it(
    'lazy opening: errors arrive from the first question instead, still typed',
    async () => {
      const hot = await headerOffsets(lower);
      await check('tar lazy', mutationsArb(hot), async (mutations) =>
        exercise([write('lower.tar', lower), write('m.tar', fixChecksums(mutate(lower, mutations), hot))], { lazy: true }),
      );
    },
    propertyTimeout(),
  );
});

// ---------------------------------------------------------------------------------------------------
// Structured fuzzing: valid tars whose contents are hostile (names with `..`, whiteouts in odd places,
// links in every direction, PAX records with absurd values), across up to three layers. Besides
// "typed errors only", the view must be self-consistent: every walked path lstat's, is listed by its
// parent, and never shows a whiteout member or a `..` component.

const component = fc.constantFrom('a', 'b', 'c', '..', '.', '', '.wh.a', '.wh.b', '.wh..wh..opq', '.wh..wh.plnk', 'ä', ' ', 'a\\b', 'x'.repeat(120));
const entryName = fc.array(component, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/'));
const paxValue = fc.constantFrom('', '0', '-1', '1e3', '99999999999999999999', '9007199254740993', '1.5', '/', '../../x', 'a\u0000b', 'x'.repeat(300), '7', '4294967296');
const paxKey = fc.constantFrom('path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'uname', 'gname', 'SCHILY.devmajor', 'SCHILY.devminor', 'GNU.sparse.name', 'GNU.sparse.major', 'SCHILY.xattr.user.x', 'comment', 'hdrcharset');
const specArb: fc.Arbitrary<LayerEntrySpec> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ name: entryName, content: fc.constantFrom('', 'data', 'y'.repeat(700)) }).map(({ name, content }) => file(name, content)) },
  { weight: 2, arbitrary: entryName.map((name) => dir(name)) },
  { weight: 2, arbitrary: fc.record({ name: entryName, target: fc.oneof(entryName, entryName.map((n) => `/${n}`)) }).map(({ name, target }) => symlink(name, target)) },
  { weight: 2, arbitrary: fc.record({ name: entryName, target: entryName }).map(({ name, target }) => hardlink(name, target)) },
  {
    weight: 1,
    arbitrary: fc
      .record({ name: entryName, pax: fc.dictionary(paxKey, paxValue, { maxKeys: 3 }) })
      .map(({ name, pax }) => file(name, 'pax', { pax })),
  },
);

/** buildLayer refuses nothing it can encode; a spec it cannot encode is skipped (not imgfs's concern). */
function tryBuild(entries: LayerEntrySpec[]): Buffer | undefined {
  try {
    return buildLayer(entries);
  } catch {
    return undefined;
  }
}

describe('fuzz: structured hostile layers', () => {
  it(
    'hostile names, links and PAX values: typed errors only, and a self-consistent view',
    async () => {
      await check('structured', fc.array(fc.array(specArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 }), async (stack) => {
        const tars = stack.map(tryBuild);
        if (tars.some((tar) => tar === undefined)) return 'skipped';
        const paths = (tars as Buffer[]).map((tar, i) => write(`s${i}.tar`, tar));
        const outcome = await exercise(paths);
        if (outcome !== 'view') return outcome;
        const { openImage } = await import('../../../lib/index.js');
        const fs = await openImage(paths, { cache: false });
        try {
          for await (const { path } of fs.walk('/')) {
            const parts = path.split('/').slice(1);
            if (parts.some((part) => part === '..' || part === '.' || part === '')) throw new Error(`walk shows ${JSON.stringify(path)}`);
            const stats = await fs.lstat(path);
            // A whiteout member is never visible; a directory that only a deeper member implies
            // (`.wh.b/a`) is, as when Docker applies the layer.
            if ((parts[parts.length - 1] as string).startsWith('.wh.') && !stats.isDirectory()) throw new Error(`walk shows whiteout ${path}`);
            const parent = path.slice(0, path.lastIndexOf('/')) || '/';
            if (!(await fs.readdir(parent)).includes(parts[parts.length - 1] as string)) throw new Error(`${path} is not listed by ${parent}`);
          }
        } finally {
          await fs.close();
        }
        return outcome;
      });
    },
    propertyTimeout(),
  );
});
