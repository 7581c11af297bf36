/**
 * Sparse files as GNU tar writes them (old GNU 'S' with extension blocks; PAX 0.0, 0.1 and 1.0) are
 * served with their real content: holes read as zeros, the real size, random access inside; and the
 * same through a gzip layer and through the persisted index cache.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { scratchDir } from '../tar/gnu-tar.js';
import { gzipSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';

const SIZE = 3 * 1024 * 1024 + 123;
/** Eight data regions (more than the four an old GNU header holds, so extension blocks are needed). */
const REGIONS: Array<[number, string]> = [
  [0, 'start'],
  [40_000, 'forty thousand'],
  [100_000, 'x'.repeat(9000)],
  [700_000, 'seven hundred'],
  [1_048_576, 'one mebibyte'],
  [2_000_000, 'two million'],
  [2_500_000, 'y'.repeat(5000)],
  [SIZE - 4, 'end!'],
];

const FORMATS: Array<[string, string[]]> = [
  ['old GNU (S + extension blocks)', ['--format=gnu']],
  ['PAX 0.0', ['--format=posix', '--sparse-version=0.0']],
  ['PAX 0.1', ['--format=posix', '--sparse-version=0.1']],
  ['PAX 1.0', ['--format=posix', '--sparse-version=1.0']],
];

let scratch: ReturnType<typeof scratchDir>;
let expected: Buffer;

beforeAll(() => {
  scratch = scratchDir();
  const file = join(scratch.dir, 'disk.img');
  execFileSync('truncate', ['-s', String(SIZE), file]);
  const fd = openSync(file, 'r+');
  for (const [offset, text] of REGIONS) writeSync(fd, Buffer.from(text), 0, text.length, offset);
  closeSync(fd);
  expected = readFileSync(file);
  execFileSync('touch', ['-d', '@1600000000', file]);
});
afterAll(() => scratch.remove());

describe.each(FORMATS)('a sparse file written by GNU tar, %s', (_label, args) => {
  let tar: string;
  beforeAll(() => {
    tar = join(scratch.dir, `${args.join('').replace(/[^a-z0-9]/g, '')}.tar`);
    execFileSync('tar', ['-cf', tar, '--sparse', ...args, '--owner=0', '--group=0', 'disk.img', '-C', '/etc', 'hostname'], {
      cwd: scratch.dir,
    });
    // The archive holds far less than the file's size: the holes are not stored.
    expect(readFileSync(tar).length).toBeLessThan(100_000);
  });

  it('is served with its real size and content, holes as zeros', async () => {
    const fs = await openImage([tar], { cache: false });
    try {
      const stats = await fs.stat('/disk.img');
      expect([stats.isFile(), stats.size, stats.mtimeMs]).toEqual([true, SIZE, 1_600_000_000_000]);
      expect((await fs.readFile('/disk.img')).equals(expected)).toBe(true);
      // The entry after it is where it should be: the walker stepped over the map and the data.
      expect(await fs.readFile('/hostname')).toEqual(readFileSync('/etc/hostname'));
    } finally {
      await fs.close();
    }
  });

  it('answers random reads inside, across holes and region edges', async () => {
    const fs = await openImage([tar], { cache: false });
    try {
      for (const [start, end] of [
        [0, 4],
        [3, 10],
        [39_990, 40_020],
        [100_500, 110_000],
        [699_000, 1_048_600],
        [SIZE - 10, SIZE - 1],
        [1_500_000, 1_500_100],
      ] as const) {
        const chunks: Buffer[] = [];
        for await (const chunk of fs.createReadStream('/disk.img', { start, end })) chunks.push(chunk as Buffer);
        expect(Buffer.concat(chunks).equals(expected.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
      }
    } finally {
      await fs.close();
    }
  });

  it('is served the same from a gzip layer and from the index cache', async () => {
    const gz = `${tar}.gz`;
    writeFileSync(gz, gzipSync(readFileSync(tar)));
    const cacheDir = join(scratch.dir, `cache-${args.join('').replace(/[^a-z0-9]/g, '')}`);
    for (let run = 0; run < 2; run++) {
      const fs = await openImage([gz], { cache: cacheDir });
      try {
        expect((await fs.stat('/disk.img')).size).toBe(SIZE);
        expect((await fs.readFile('/disk.img')).equals(expected), `run ${run}`).toBe(true);
      } finally {
        await fs.close();
      }
    }
  });
});
