/**
 * What the binding build answers in C: files stored as they are in an uncompressed layer are read by
 * pread on the archive without asking imgfs (bin/fuse-served-reads.c), byte for byte, and never a byte
 * past their member; sparse members and compressed layers are still read by imgfs; a second mount in
 * the same process never gets the first one's files; symlinks are read without asking imgfs; and
 * directories are opened by the kernel without a request (bin/fuse-directory-opens.c).
 *
 * Each mount here is the library's `mount()` in this process, over an image whose questions are
 * counted; the reads are made by other processes (this one serves them).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mount, openImage, type ImageFS, type MountHandle } from '../../lib/index.js';
import { buildLayer, dir, file, hardlink, symlink } from '../helpers/layer-tar.js';
import { repoRoot } from '../cli/run-cli.js';
import { bindingBuiltForImgfs, missingForMount, reportMissing, startMount, stopMount } from './mount-process.js';

const execFileAsync = promisify(execFile);
const missing = await missingForMount(['tar', 'gcc', 'fincore']);
/** The binding of this checkout's `npm run build:fuse` (an older build has no C reads). */
function servedReadsBuilt(): boolean {
  if (!bindingBuiltForImgfs()) return false;
  const build = JSON.parse(readFileSync(`${repoRoot}/node_modules/fuse-napi/build/Release/imgfs-build.json`, 'utf8')) as { servedReads?: boolean };
  return build.servedReads === true;
}
const skip = reportMissing('reads served in C through the mount', servedReadsBuilt() ? missing : [...missing, 'npm run build:fuse']);

/** Bytes that differ from offset to offset, so that a read from the wrong place shows. */
function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + seed) % 251;
  return bytes;
}

const FIVE = Buffer.from('hello');
const NEXT = Buffer.alloc(8192, 0xee);
const BIG = pattern(300 * 1024 + 17, 3);
const LONG_TARGET = `/${'a-long-directory-name/'.repeat(40)}end`;

/** Maps a file's first page (past its end too, which the kernel shows as the page holds it) and prints it. */
const PAGE_READER = `
#include <stdio.h>
#include <fcntl.h>
#include <sys/mman.h>
int main(int argc, char **argv) {
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) return 1;
  unsigned char *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  if (page == MAP_FAILED) return 2;
  return fwrite(page, 1, 4096, stdout) == 4096 ? 0 : 3;
}
`;

function digestOf(bytes: Buffer): string {
  return `${bytes.length}:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The image with every question that reaches it counted. */
function counted(img: ImageFS): { img: ImageFS; reads: Map<string, number>; readlinks: string[] } {
  const reads = new Map<string, number>();
  const readlinks: string[] = [];
  const proxy = new Proxy(img, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (property === 'readlink') readlinks.push(String(args[0]));
        if (property === 'createReadStream' || property === 'readRange') reads.set(String(args[0]), (reads.get(String(args[0])) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { img: proxy, reads, readlinks };
}

describe.skipIf(skip)('imgfs mount: reads served in C', () => {
  let work = '';
  let image: string[] = [];
  let pageReader = '';
  let holes: Buffer;
  const handles: MountHandle[] = [];
  const images: ImageFS[] = [];

  async function mounted(source: string[], name: string): Promise<{ at: string; reads: Map<string, number>; readlinks: string[] }> {
    const opened = await openImage(source, { lazy: true, cache: false });
    images.push(opened);
    const { img, reads, readlinks } = counted(opened);
    const at = join(work, name);
    await mkdir(at);
    handles.push(await mount(img, at));
    return { at, reads, readlinks };
  }

  /** The file's bytes as read by `cat`, as a digest (vitest compares large Buffers byte by byte, slowly). */
  const catOf = async (path: string): Promise<string> =>
    digestOf((await execFileAsync('cat', [path], { encoding: 'buffer', maxBuffer: 1 << 22 })).stdout);

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`CI=true but missing ${missing.join(', ')}`);
    work = await mkdtemp(join(tmpdir(), 'imgfs-served-'));
    // An uncompressed layer: five.txt is followed at once by next.bin's header and bytes.
    await writeFile(
      join(work, 'plain.tar'),
      buildLayer([dir('plain'), file('plain/five.txt', FIVE), file('plain/next.bin', NEXT), file('plain/big.bin', BIG), hardlink('plain/big-link', 'plain/big.bin'), symlink('plain/to-five', 'five.txt'), symlink('plain/far', LONG_TARGET)]),
    );
    // A sparse member (GNU tar -S): its stored regions are not its bytes.
    const sparseDir = join(work, 'sparse-src');
    await mkdir(join(sparseDir, 'sparse'), { recursive: true });
    const holed = join(sparseDir, 'sparse', 'holes.bin');
    await writeFile(holed, '');
    await truncate(holed, 1024 * 1024);
    const handle = await open(holed, 'r+');
    await handle.write(Buffer.from('island'), 0, 6, 512 * 1024);
    await handle.close();
    holes = await readFile(holed);
    await execFileAsync('tar', ['-S', '--format=posix', '-cf', join(work, 'sparse.tar'), '-C', sparseDir, 'sparse']);
    // A compressed layer: its files are read by imgfs.
    await writeFile(join(work, 'top.tar.gz'), gzipSync(buildLayer([dir('top'), file('top/zipped.txt', 'zipped\n')])));
    image = ['plain.tar', 'sparse.tar', 'top.tar.gz'].map((name) => join(work, name));
    pageReader = join(work, 'page-reader');
    await writeFile(`${pageReader}.c`, PAGE_READER);
    await execFileAsync('gcc', ['-o', pageReader, `${pageReader}.c`]);
  });

  afterEach(async () => {
    for (const handle of handles.splice(0)) await handle.unmount();
  });

  afterAll(async () => {
    for (const img of images) await img.close();
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  it('reads an uncompressed layer\'s files byte for byte without asking imgfs, once the kernel knows them', async () => {
    const { at, reads } = await mounted(image, 'listed');
    await execFileAsync('find', [at]);
    expect(await catOf(join(at, 'plain/five.txt'))).toBe(digestOf(FIVE));
    expect(await catOf(join(at, 'plain/next.bin'))).toBe(digestOf(NEXT));
    expect(await catOf(join(at, 'plain/big.bin'))).toBe(digestOf(BIG));
    expect(await catOf(join(at, 'plain/big-link'))).toBe(digestOf(BIG));
    // Read at offsets that are not page-aligned, across the end.
    const tail = await execFileAsync('dd', [`if=${join(at, 'plain/big.bin')}`, 'bs=1000', 'skip=300', 'status=none'], { encoding: 'buffer' });
    expect(digestOf(tail.stdout)).toBe(digestOf(BIG.subarray(300_000)));
    expect([...reads.keys()].filter((path) => path.startsWith('/plain/'))).toEqual([]);
    // Not listed first: looked up, then read, still in C (the C reads are this process's first mount's: unmounted first).
    for (const handle of handles.splice(0)) await handle.unmount();
    const fresh = await mounted(image, 'looked-up');
    expect(await catOf(join(fresh.at, 'plain/big.bin'))).toBe(digestOf(BIG));
    expect(fresh.reads.get('/plain/big.bin')).toBeUndefined();
  });

  it('answers readlink of listed symlinks without asking imgfs', async () => {
    const { at, readlinks } = await mounted(image, 'links');
    await execFileAsync('find', [at]);
    expect((await execFileAsync('readlink', [join(at, 'plain/to-five')])).stdout).toBe('five.txt\n');
    expect((await execFileAsync('readlink', [join(at, 'plain/far')])).stdout).toBe(`${LONG_TARGET}\n`);
    expect(await catOf(join(at, 'plain/to-five'))).toBe(digestOf(FIVE));
    expect(readlinks).toEqual([]);
  });

  it("never shows a byte past a file's member: the rest of its last page is zeros, not the next member", async () => {
    const { at } = await mounted(image, 'page');
    const { stdout } = await execFileAsync(pageReader, [join(at, 'plain/five.txt')], { encoding: 'buffer' });
    expect(stdout.length).toBe(4096);
    expect(stdout.subarray(0, FIVE.length)).toEqual(FIVE);
    expect(stdout.subarray(FIVE.length)).toEqual(Buffer.alloc(4096 - FIVE.length));
  });

  it("answers a gzip layer's reads in C from the spans imgfs decoded for reads, byte for byte, once the kernel dropped its pages", async () => {
    // Files over about ten 1 MiB spans of the decoded stream: fewer than the binding keeps.
    const files = Array.from({ length: 24 }, (_, i) => ({ path: `many/f${i}`, bytes: pattern(1000 + i * 37_001, i + 5) }));
    const layer = join(work, 'many.tar.gz');
    await writeFile(layer, gzipSync(buildLayer([dir('many'), ...files.map(({ path, bytes }) => file(path, bytes))])));
    const { at, reads } = await mounted([layer], 'decoded');
    await execFileAsync('find', [at]);
    for (const { path, bytes } of files) expect(await catOf(join(at, path))).toBe(digestOf(bytes));
    expect(reads.size).toBeGreaterThan(0); // the first reads decode, in JavaScript
    // The kernel lets go of the files' pages (as this VM's DAMON does on its own), so they are read again.
    for (const { path } of files) await execFileAsync('dd', [`if=${join(at, path)}`, 'iflag=nocache', 'count=0', 'status=none']);
    const resident = await execFileAsync('fincore', ['--bytes', '--noheadings', '--output', 'RES', ...files.map(({ path }) => join(at, path))]);
    expect(resident.stdout.trim().split('\n').map(Number)).toEqual(files.map(() => 0));
    reads.clear();
    for (const { path, bytes } of files) expect(await catOf(join(at, path))).toBe(digestOf(bytes));
    expect([...reads.keys()]).toEqual([]);
  });

  it('leaves sparse members to imgfs, and a compressed layer\'s file read before its span was decoded for reads', async () => {
    const { at, reads } = await mounted(image, 'others');
    await execFileAsync('find', [at]);
    expect(await catOf(join(at, 'sparse/holes.bin'))).toBe(digestOf(holes));
    expect(await catOf(join(at, 'top/zipped.txt'))).toBe(digestOf(Buffer.from('zipped\n')));
    expect(reads.get('/sparse/holes.bin')).toBeGreaterThan(0);
    expect(reads.get('/top/zipped.txt')).toBeGreaterThan(0);
  });

  it('opens directories without a request: one OPENDIR (answered ENOSYS) for the life of the mount, no RELEASEDIR, listings kept', async () => {
    const at = join(work, 'no-opendir');
    await mkdir(at);
    // libfuse logs every request it gets to stderr.
    const started = await startMount(image.join(':'), at, [], { DEBUG: 'fuse-napi' });
    try {
      const count = (opcode: string): number => started.stderr().split(`opcode: ${opcode} `).length - 1;
      const first = (await execFileAsync('find', [at])).stdout;
      expect(first.split('\n')).toEqual(expect.arrayContaining([`${at}/plain/five.txt`, `${at}/sparse/holes.bin`, `${at}/top/zipped.txt`]));
      const listings = count('READDIRPLUS') + count('READDIR');
      expect(listings).toBeGreaterThan(0);
      expect((await execFileAsync('find', [at])).stdout).toBe(first);
      expect((await execFileAsync('ls', ['-laR', at])).stdout).toContain('five.txt');
      expect(count('OPENDIR')).toBe(1);
      expect(count('RELEASEDIR')).toBe(0);
      expect(count('READDIRPLUS') + count('READDIR')).toBe(listings);
    } finally {
      await stopMount(started);
    }
  });

  it("gives a second mount in the same process its own files, never the first one's", async () => {
    const other = join(work, 'other.tar');
    await writeFile(other, buildLayer([dir('plain'), file('plain/five.txt', 'OTHER'), file('plain/big.bin', pattern(4096, 9))]));
    const first = await mounted(image, 'first');
    const second = await mounted([other], 'second');
    for (const at of [first.at, second.at]) await execFileAsync('find', [at]);
    expect(await catOf(join(first.at, 'plain/five.txt'))).toBe(digestOf(FIVE));
    expect(await catOf(join(second.at, 'plain/five.txt'))).toBe(digestOf(Buffer.from('OTHER')));
    expect(await catOf(join(second.at, 'plain/big.bin'))).toBe(digestOf(pattern(4096, 9)));
    expect(await catOf(join(first.at, 'plain/big.bin'))).toBe(digestOf(BIG));
  });
});
