/**
 * Differential test over tar test files that other readers publish for themselves: Go's archive/tar
 * testdata (what Docker, containerd and umoci read layers with), Python's tarfile tests and tar-split's.
 * Fetched by test/differential/fetch-corpora.sh (which .ci/run calls); outside CI a missing corpus
 * skips loudly, under CI=true it fails.
 *
 * For each archive, opened as a one-layer image:
 * - if Go's reader rejects it, imgfs rejects it too, with one clear line (an ImgfsError);
 * - otherwise imgfs's merged view equals GNU tar's extraction (as root, owners, modes and mtimes
 *   restored) in names, types, modes, owners, sizes, content, link targets and mtimes, with layer
 *   semantics applied: directories GNU tar had to create for members without a parent entry are
 *   compared by type only (imgfs gives them R6's 0755 root-owned mtime 0);
 * - every remaining difference is listed in DIFFERENCES below with why, and a listed difference that
 *   no longer happens fails the test too, so the list stays true;
 * - then `imgfs export` of it is read back by GNU tar, Python's tarfile and imgfs, and equals the view.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { expectImgfsError } from '../helpers/expect-imgfs-error.js';
import { sameTime } from './compare-views.js';
import { expectExportRoundTrips } from './round-trip.js';
import { gnuTarTree, imgfsTree, type PathView, type TreeView } from './readers.js';

const CORPUS_DIR =
  process.env['IMGFS_CORPUS_DIR'] ?? join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'imgfs-test-corpora');
const CORPORA: Array<[string, string]> = [
  ['go', 'usr/share/go-1.19/src/archive/tar/testdata'],
  ['python', 'usr/lib/python3.11/test'],
  ['tar-split', 'usr/share/gocode/src/github.com/vbatts/tar-split/archive/tar/testdata'],
  ['tar-split', 'usr/share/gocode/src/github.com/vbatts/tar-split/tar/asm/testdata'],
];

/** Archives Go's reader rejects (its reader_test.go expects ErrHeader or ErrFieldTooLong). */
const GO_REJECTS = new Set([
  'pax-bad-hdr-file.tar',
  'pax-bad-hdr-large.tar.bz2',
  'pax-bad-mtime-file.tar',
  'pax-nul-xattrs.tar',
  'pax-nul-path.tar',
  'neg-size.tar',
  'issue10968.tar',
  'issue11169.tar',
  'issue12435.tar',
]);

/**
 * Archives no reader can read to the end, rejected by imgfs as by GNU tar and Python: Go's writer
 * tests keep only the headers of 16 GiB members (writer-big*), Python's recursion.tar is a PAX header
 * whose data is cut short, pax-path-hdr.tar is a lone extended header with no member after it.
 */
const BROKEN_FOR_ALL = new Set(['writer-big.tar', 'writer-big-long.tar', 'recursion.tar', 'pax-path-hdr.tar']);

/**
 * Each difference that remains between imgfs and GNU tar's extraction, keyed `ARCHIVE PATH FIELD`
 * (or `ARCHIVE PATH only-in-imgfs` / `only-in-gnu-tar`, or `ARCHIVE gnu-tar-error`), with the reason.
 */
const GLOBAL_HEADERS =
  'global PAX headers change no later entry in Go’s reader, and so in Docker and containerd; imgfs follows them, GNU tar applies them (a global path renames the next member, a global mtime dates it)';
const GO_SPARSE =
  'Go’s own sparse test members have regions that are not block-aligned; GNU tar 1.34 cannot extract them and stops (Unexpected EOF). imgfs serves what Go reads: the md5 sums are checked against reader_test.go below';
const DUMPDIR =
  'a GNU dumpdir (D) member is a directory to GNU tar; Docker’s and containerd’s appliers refuse the typeflag (unhandled tar header type), imgfs skips the member with a warning, so the directory is implied (R6: root-owned, mtime 0)';
const UID_MINUS_ONE =
  'the header says uid/gid 4294967295 (base-256), which imgfs, Go and Python report; to chown(2) that is (uid_t)-1, “leave unchanged”, so GNU tar’s extraction as root keeps 0';
const DIFFERENCES: Record<string, string> = {
  'gnu-incremental.tar /test2 uid': DUMPDIR,
  'gnu-incremental.tar /test2 gid': DUMPDIR,
  'gnu-incremental.tar /test2 mtimeNs': DUMPDIR,
  'pax-global-records.tar /file1 only-in-imgfs': GLOBAL_HEADERS,
  'pax-global-records.tar /global1 only-in-gnu-tar': GLOBAL_HEADERS,
  'pax-global-records.tar /file2 mtimeNs': GLOBAL_HEADERS,
  'pax-global-records.tar /file3 only-in-imgfs': `${GLOBAL_HEADERS}; here an empty global path makes GNU tar extract file3 as '.'`,
  'pax-global-records.tar /file4 only-in-imgfs': `${GLOBAL_HEADERS}; GNU tar skips file4 after the '.' member`,
  'pax-global-records.tar gnu-tar-error': GLOBAL_HEADERS,
  'sparse-formats.tar /sparse-gnu size': GO_SPARSE,
  'sparse-formats.tar /sparse-gnu sha256': GO_SPARSE,
  'sparse-formats.tar /sparse-posix-0.0 only-in-imgfs': GO_SPARSE,
  'sparse-formats.tar /sparse-posix-0.1 only-in-imgfs': GO_SPARSE,
  'sparse-formats.tar /sparse-posix-1.0 only-in-imgfs': GO_SPARSE,
  'sparse-formats.tar /end only-in-imgfs': GO_SPARSE,
  'sparse-formats.tar gnu-tar-error': GO_SPARSE,
  'testtar.tar /gnu/regtype-gnu-uid uid': UID_MINUS_ONE,
  'testtar.tar /gnu/regtype-gnu-uid gid': UID_MINUS_ONE,
};

let scratch: string | undefined;
afterAll(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

interface Sample {
  label: string;
  /** The archive as a tar (decompressed here when the corpus ships it bz2/xz-compressed). */
  path: string;
  name: string;
}

/** Every distinct archive of the corpora; the same bytes in two corpora are tested once. */
function samples(): Sample[] {
  scratch ??= mkdtempSync(join(tmpdir(), 'imgfs-corpora-'));
  const seen = new Set<string>();
  const found: Sample[] = [];
  for (const [corpus, dir] of CORPORA) {
    const full = join(CORPUS_DIR, dir);
    if (!existsSync(full)) continue;
    for (const file of readdirSync(full).sort()) {
      let path = join(full, file);
      const unpack = /\.tar\.(bz2|xz)$/.exec(file);
      if (unpack !== null) {
        // Stored compressed only to keep the package small; the archive itself is what is tested.
        path = join(scratch, `${corpus}-${file.slice(0, -unpack[0].length + 4)}`);
        writeFileSync(path, execFileSync(unpack[1] === 'bz2' ? 'bzip2' : 'xz', ['-dc', join(full, file)], { maxBuffer: 64 << 20 }));
      } else if (!/\.tar(\.gz)?$/.test(file)) {
        continue;
      }
      const digest = createHash('sha256').update(readFileSync(path)).digest('hex');
      if (seen.has(digest)) continue;
      seen.add(digest);
      found.push({ label: `${corpus}/${file}`, path, name: file });
    }
  }
  return found;
}

/** Reads everything imgfs would serve: every stat, every byte (via imgfsTree). */
async function readWhole(path: string): Promise<TreeView> {
  return imgfsTree(path);
}

/** Names the archive itself has entries for, normalised as paths (from GNU tar's own listing). */
function explicitPaths(archive: string): Set<string> {
  let listing = '';
  try {
    listing = execFileSync('tar', ['-tf', archive], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }).toString();
  } catch (failure) {
    listing = String((failure as { stdout?: Buffer }).stdout ?? '');
  }
  const paths = new Set<string>();
  for (const line of listing.split('\n')) {
    const parts = line.split('/').filter((part) => part !== '' && part !== '.');
    if (parts.length > 0) paths.add(`/${parts.join('/')}`);
  }
  return paths;
}

/** `PATH FIELD` keys where the two views differ, with both values, for the report. */
function differences(imgfs: TreeView, gnu: TreeView, explicit: Set<string>): Map<string, string> {
  const found = new Map<string, string>();
  for (const path of new Set([...imgfs.keys(), ...gnu.keys()])) {
    const ours = imgfs.get(path);
    const theirs = gnu.get(path);
    if (ours === undefined || theirs === undefined) {
      found.set(`${path} ${ours === undefined ? 'only-in-gnu-tar' : 'only-in-imgfs'}`, JSON.stringify(ours ?? theirs));
      continue;
    }
    const fields = (Object.keys({ ...ours, ...theirs }) as Array<keyof PathView>).filter((field) => field !== 'xattrs');
    for (const field of fields) {
      if (!explicit.has(path) && ours.type === 'dir' && field !== 'type') continue; // R6: implied parent
      if (ours.type === 'symlink' && field === 'mode') continue; // Linux shows every symlink as 0777 (R9)
      if (field === 'mtimeNs' && sameTime(ours.mtimeNs, theirs.mtimeNs)) continue;
      if (ours[field] !== theirs[field]) found.set(`${path} ${field}`, `imgfs ${String(ours[field])}, GNU tar ${String(theirs[field])}`);
    }
  }
  return found;
}

const available = samples();
const mustHave = process.env['CI'] === 'true';
if (available.length === 0) {
  const message = `tar test corpora not found in ${CORPUS_DIR}: run test/differential/fetch-corpora.sh (CI runs it)`;
  if (mustHave) throw new Error(message);
  console.warn(`\n*** SKIPPED: ${message} ***\n`);
}

describe.skipIf(available.length === 0)('tar test files of other readers', () => {
  const rejected = available.filter(({ name }) => GO_REJECTS.has(name) || BROKEN_FOR_ALL.has(name));
  const accepted = available.filter((sample) => !rejected.includes(sample));

  it('the corpora are all there', () => {
    expect(available.length).toBeGreaterThanOrEqual(45);
  });

  it.each(rejected.map((sample) => [sample.label, sample] as const))('%s: rejected with one clear line', async (_label, sample) => {
    await expectImgfsError(readWhole(sample.path), {});
  });

  const report = new Map<string, string>();
  it.each(accepted.map((sample) => [sample.label, sample] as const))('%s: served as GNU tar extracts it', async (_label, sample) => {
    const ours = await readWhole(sample.path);
    const gnu = gnuTarTree(sample.path);
    const found = differences(ours, gnu.tree, explicitPaths(sample.path));
    if (gnu.error !== undefined) found.set('gnu-tar-error', gnu.error.split('\n')[0] ?? '');
    const keys = [...found.keys()].map((key) => `${sample.name} ${key}`);
    for (const [key, detail] of found) report.set(`${sample.name} ${key}`, detail);
    const documented = Object.keys(DIFFERENCES).filter((key) => key.startsWith(`${sample.name} `));
    const undocumented = keys.filter((key) => !(key in DIFFERENCES)).map((key) => `${key}: ${report.get(key)}`);
    if (undocumented.length > 0) console.log(undocumented.join('\n'));
    expect(undocumented, 'differences not listed in DIFFERENCES').toEqual([]);
    expect(documented.filter((key) => !keys.includes(key)), 'listed differences that no longer happen').toEqual([]);
  });

  it('go/sparse-formats.tar: each sparse member has the md5 Go’s reader_test.go expects', async () => {
    const sample = available.find(({ label }) => label === 'go/sparse-formats.tar');
    expect(sample).toBeDefined();
    const fs = await openImage((sample as Sample).path, { cache: false });
    try {
      const md5 = async (path: string): Promise<string> => createHash('md5').update(await fs.readFile(path)).digest('hex');
      for (const name of ['sparse-gnu', 'sparse-posix-0.0', 'sparse-posix-0.1', 'sparse-posix-1.0']) {
        expect(await md5(`/${name}`), name).toBe('6f53234398c2449fe67c1812d993012f');
      }
      expect(await md5('/end')).toBe('b0061974914468de549a2af8ced10316');
    } finally {
      await fs.close();
    }
  });

  it('export of each accepted archive reads back the same through GNU tar, Python and imgfs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgfs-corpora-export-'));
    try {
      await expectExportRoundTrips(
        accepted.map(({ label, path }) => ({ label: basename(label), source: path })),
        dir,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
