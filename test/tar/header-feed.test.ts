/**
 * A walk fed by the header reader thread (lib/layer/header-reader-thread.ts) against the same walk
 * reading by itself: the same entries, the same table and the same typed errors, on layers GNU tar
 * wrote, on layers with every extension imgfs reads, on layers where the thread's walk goes astray
 * (the walk must notice and read on by itself), and on mutated layers.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isImgfsError } from '../../lib/errors.js';
import { HeaderReaderThread } from '../../lib/layer/header-reader-thread.js';
import { FileSource } from '../../lib/source/file-source.js';
import { SliceSource } from '../../lib/source/slice-source.js';
import type { RingFeed } from '../../lib/tar/header-feed.js';
import type { TarEntry } from '../../lib/tar/tar-entry.js';
import { walkTarBatches } from '../../lib/tar/walk-tar.js';
import { LayerTable } from '../../lib/table/layer-table.js';
import { encodeSnapshot } from '../../lib/table/snapshot-codec.js';
import { buildLayer, dir, file, hardlink, symlink, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { FUZZ_RUNS, FUZZ_SEED, mutate, mutationsArb } from '../hostile/fuzz/fuzz-harness.js';
import { gnuTar, scratchDir } from './gnu-tar.js';
import { END, member, rawHeader, withChecksum } from './raw-tar.js';

const scratch = scratchDir();
const thread = new HeaderReaderThread(true);

beforeAll(async () => {
  thread.start();
  // The thread says it is ready through shared memory: poll it (bounded), as a walk would find it.
  for (let tries = 0; !thread.ready && tries < 500; tries++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(thread.ready).toBe(true);
});
afterAll(async () => {
  thread.close();
  scratch.remove();
});

type Outcome = { entries: TarEntry[]; error?: { code: string; message: string; archive?: string | undefined; offset?: number | undefined } };

/** Walks the layer lying at [start, start + size) of `path`, fed by the thread or not. */
async function walk(path: string, fed: boolean, start = 0, size?: number): Promise<Outcome & { feed: (RingFeed) | undefined }> {
  const file = await FileSource.open(path, 'layer.tar');
  try {
    const source = new SliceSource(file, start, size ?? file.size - start, 'layer.tar');
    const region = source.fileRegion?.(0, source.size);
    if (region === undefined) throw new Error('no file region');
    const feed = fed ? (thread.feed({ fd: region.fd, start: region.offset, size: source.size }) as RingFeed | undefined) : undefined;
    if (fed && feed === undefined) throw new Error('the thread took no job');
    const entries: TarEntry[] = [];
    try {
      for await (const batch of walkTarBatches(source, { feed })) entries.push(...batch);
    } catch (error) {
      if (!isImgfsError(error)) throw error;
      return { entries, feed, error: { code: error.code, message: error.message, archive: error.archive, offset: error.offset } };
    }
    return { entries, feed };
  } finally {
    await file.close();
  }
}

/** The outcome of both walks, which must agree; the fed walk's feed is returned for its counts. */
async function bothWays(path: string): Promise<{ outcome: Outcome; taken: number; fellBack: boolean }> {
  const own = await walk(path, false);
  const fed = await walk(path, true);
  expect(fed.entries).toEqual(own.entries);
  expect(fed.error).toEqual(own.error);
  return { outcome: own, taken: fed.feed?.taken ?? 0, fellBack: fed.feed?.fellBack === true };
}

async function table(path: string, fed: boolean): Promise<Buffer> {
  const file = await FileSource.open(path);
  try {
    const region = file.fileRegion(0, file.size);
    const feed = fed && region !== undefined ? thread.feed({ fd: region.fd, start: 0, size: file.size }) : undefined;
    if (fed) expect(feed).toBeDefined();
    return encodeSnapshot((await LayerTable.buildFromBatches(walkTarBatches(file, { feed }))).snapshot());
  } finally {
    await file.close();
  }
}

function write(name: string, bytes: Buffer): string {
  const path = join(scratch.dir, name);
  writeFileSync(path, bytes);
  return path;
}

const everyFeature: LayerEntrySpec[] = [
  dir('etc/'),
  file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n', { uname: 'root', gname: 'root' }),
  file('etc/hostname', 'feed\n', { mtime: '1700000000.123456789' }),
  file('bin/busybox', Buffer.alloc(70_000, 0x42), { mode: 0o4755 }),
  hardlink('bin/sh', 'bin/busybox'),
  symlink('bin/ls', 'busybox'),
  file(`deep/${'long-directory-name/'.repeat(8)}file.txt`, 'a long name'),
  file('var/log/big.log', 'line\n'.repeat(4000), { uid: 3_000_000, gid: 70_000 }),
  file('opt/xattr', 'x', { xattrs: { 'user.note': 'hello' } }),
  { type: 'pax-global', records: { comment: 'global header' } },
  dir('opt/app/'),
  file('opt/app/config.json', '{"a":1}'),
];

describe('a walk fed by the header reader thread', () => {
  it('gives the same entries and table as reading by itself, on layers GNU tar wrote (PAX and GNU long names), every header from the thread', async () => {
    const tree = join(scratch.dir, 'tree');
    execFileSync('mkdir', ['-p', join(tree, 'usr/share/doc'), join(tree, `long/${'d'.repeat(120)}`)]);
    for (let i = 0; i < 300; i++) writeFileSync(join(tree, 'usr/share/doc', `file-${i}-${'x'.repeat(i % 90)}`), 'y'.repeat((i * 977) % 20_000));
    writeFileSync(join(tree, `long/${'d'.repeat(120)}/${'n'.repeat(150)}`), 'deep');
    for (const format of ['gnu', 'posix']) {
      const path = join(scratch.dir, `${format}.tar`);
      gnuTar(tree, path, [`--format=${format}`, '--owner=0', '--group=0'], ['.']);
      const { outcome, taken, fellBack } = await bothWays(path);
      expect(outcome.error).toBeUndefined();
      expect(fellBack).toBe(false);
      expect(outcome.entries.length).toBeGreaterThan(300);
      // Every header, extension headers and their data included, came from the thread.
      expect(taken).toBeGreaterThanOrEqual(outcome.entries.length);
      expect(await table(path, true)).toEqual(await table(path, false));
    }
  });

  it('gives the same entries on a layer of every extension imgfs reads (PAX records, base-256 owners, global headers, links)', async () => {
    for (const longNames of ['pax', 'gnu'] as const) {
      const path = write(`every-${longNames}.tar`, buildLayer(everyFeature, { longNames }));
      const { outcome, taken, fellBack } = await bothWays(path);
      expect(fellBack).toBe(false);
      expect(outcome.entries.map((entry) => entry.name)).toContain('var/log/big.log');
      expect(taken).toBeGreaterThanOrEqual(outcome.entries.length);
      expect(await table(path, true)).toEqual(await table(path, false));
    }
  });

  it('reads on by itself where the thread stops following (a GNU sparse member), with the same entries', async () => {
    const tree = join(scratch.dir, 'sparse');
    execFileSync('mkdir', ['-p', tree]);
    for (let i = 0; i < 20; i++) writeFileSync(join(tree, `a-${i}`), `${i}`);
    execFileSync('truncate', ['-s', '5M', join(tree, 'disk.img')]);
    writeFileSync(join(tree, 'z-after'), 'after');
    for (const args of [['--format=gnu'], ['--format=posix', '--sparse-version=1.0']]) {
      const path = join(scratch.dir, `sparse-${args.length}.tar`);
      execFileSync('tar', ['-cf', path, '--sparse', ...args, '--owner=0', '--group=0', '-C', tree, ...Array.from({ length: 20 }, (_, i) => `a-${i}`), 'disk.img', 'z-after']);
      const { outcome, taken, fellBack } = await bothWays(path);
      expect(outcome.entries.map((entry) => entry.name)).toEqual([...Array.from({ length: 20 }, (_, i) => `a-${i}`), 'disk.img', 'z-after']);
      expect(outcome.entries[20]?.sparse).toBeDefined();
      // The members before the sparse one came from the thread; the rest the walk read itself.
      expect(taken).toBeGreaterThanOrEqual(20);
      expect(fellBack).toBe(true);
    }
  });

  it('notices where the thread walked astray (a v7 header it takes for a directory) and reads on by itself', async () => {
    // A v7 header (no magic) with an empty name and a byte where ustar keeps its prefix: the walk reads
    // it as a file with 1 KiB of data; the thread as a directory with none, and takes that data, which
    // looks like a header, for the next member.
    const v7 = rawHeader({ name: '', magic: 'v7', size: 1024 });
    v7.write('x', 345, 'latin1');
    withChecksum(v7);
    const decoy = Buffer.concat([rawHeader({ name: 'decoy', size: 0 }), Buffer.alloc(512)]);
    const layer = Buffer.concat([member({ name: 'first' }, 'one'), v7, decoy, member({ name: 'after' }, 'two'), END]);
    const path = write('astray.tar', layer);
    const { outcome, taken, fellBack } = await bothWays(path);
    expect(outcome.entries.map((entry) => entry.name)).toEqual(['first', '', 'after']);
    // The first member and the v7 header came from the thread, the decoy did not.
    expect(taken).toBe(2);
    expect(fellBack).toBe(true);
  });

  it('gives the same typed errors (code, archive, offset) on a cut layer and on a bad checksum', async () => {
    const whole = buildLayer(everyFeature);
    const cut = write('cut.tar', whole.subarray(0, 512 * 9 + 100));
    const { outcome } = await bothWays(cut);
    expect(outcome.error?.code).toBe('ETRUNCATED');
    const bad = Buffer.from(whole);
    bad[512 * 3 + 10] = (bad[512 * 3 + 10] ?? 0) ^ 1;
    const damaged = await bothWays(write('bad.tar', bad));
    expect(damaged.outcome.error?.code).toBe('ETARCORRUPT');
  });

  it('is released by a walk that stops early, and the next walk gets the thread again', async () => {
    const path = write('many.tar', buildLayer(Array.from({ length: 2000 }, (_, i) => file(`f${i}`, 'z'))));
    const source = await FileSource.open(path);
    try {
      const feed = thread.feed({ fd: (source.fileRegion(0, 0) as { fd: number }).fd, start: 0, size: source.size });
      expect(feed).toBeDefined();
      expect(thread.feed({ fd: 0, start: 0, size: 1 })).toBeUndefined(); // one walk at a time
      for await (const batch of walkTarBatches(source, { feed })) if (batch.length > 0) break;
    } finally {
      await source.close();
    }
    const again = await walk(path, true);
    expect(again.entries).toHaveLength(2000);
  });

  it('gives the same entries or the same typed error as reading by itself on mutated layers', async () => {
    const base = buildLayer(everyFeature, { longNames: 'gnu' });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(mutationsArb([0, 512, 1024, 1536, 2048]), async (mutations) => {
        await bothWays(write(`m${n++}.tar`, mutate(base, mutations)));
      }),
      { numRuns: FUZZ_RUNS, seed: FUZZ_SEED },
    );
  });
});
