/**
 * `imgfs export` writes every value so that GNU tar, Python's tarfile and imgfs read it back unchanged:
 * ids beyond 6 and 7 octal digits, mtimes before 1970 and from 2038 and 2242 on, long names with a
 * meaningful ustar name, binary xattrs, sparse files kept sparse. Then the demo image round trip.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, dir, file, symlink } from '../helpers/layer-tar.js';
import { expectExportRoundTrip } from '../differential/round-trip.js';
import { imgfs, repoRoot } from './run-cli.js';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'imgfs-export-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const LONG = `deep/${'d'.repeat(120)}/${'n'.repeat(130)}.txt`;

function awkwardLayer(): string {
  const path = join(scratch, 'awkward.tar');
  writeFileSync(
    path,
    buildLayer([
      dir('ids'),
      file('ids/mid', 'mid\n', { uid: 300_000, gid: 2_000_000 }),
      file('ids/big', 'big\n', { uid: 5_000_000, gid: 4_294_967_294, uname: 'u'.repeat(40), gname: 'g'.repeat(33) }),
      dir('time'),
      file('time/before-1970', 'old\n', { mtime: -86_400 }),
      file('time/before-1970-fraction', 'old\n', { mtime: -1.5 }),
      file('time/after-2038', 'y2038\n', { mtime: 2 ** 31 + 7 }),
      file('time/after-2242', 'far\n', { mtime: 2 ** 33 + 5 }),
      file('time/nanoseconds', 'ns\n', { mtime: '1700000000.123456789' }),
      dir('deep'),
      dir(`deep/${'d'.repeat(120)}`),
      file(LONG, 'long\n'),
      symlink('long-link', `/${'t'.repeat(200)}`),
      file('xattr', 'x\n', { xattrs: { 'user.bin': Buffer.from([0, 0xff, 0x0a, 0x3d]), 'user.text': 'hello' } }),
    ]),
  );
  return path;
}

describe('export writes values that do not fit ustar fields so every reader reads them back', () => {
  it('round-trips ids, times, long names and xattrs through GNU tar, Python and imgfs', async () => {
    await expectExportRoundTrip(awkwardLayer(), scratch, 'awkward');
  });

  it('gives PAX-backed entries a meaningful ustar name, never "PaxHeader"', async () => {
    const out = join(scratch, 'names.tar');
    expect((await imgfs(['export', '-o', out, awkwardLayer()])).code).toBe(0);
    const raw = readFileSync(out);
    const names: string[] = [];
    const types: string[] = [];
    for (let at = 0; at + 512 <= raw.length; ) {
      const block = raw.subarray(at, at + 512);
      if (block.every((byte) => byte === 0)) break;
      const name = block.toString('utf8', 0, 100).replace(/\0.*$/s, '');
      const prefix = block.toString('utf8', 345, 500).replace(/\0.*$/s, '');
      names.push(prefix === '' ? name : `${prefix}/${name}`);
      types.push(block.toString('latin1', 156, 157));
      const size = Number.parseInt(block.toString('latin1', 124, 136).replace(/\0.*$/s, '') || '0', 8);
      at += 512 + Math.ceil(size / 512) * 512;
    }
    expect(names).not.toContain('PaxHeader');
    // Every PAX header is named after the member it describes.
    types.forEach((type, i) => {
      if (type === 'x') expect(names[i]).toMatch(/(^|\/)PaxHeaders\/[^/]+$/);
    });
    const longAt = names.findIndex((name, i) => types[i] === 'x' && name.includes('nnnnnnnn'));
    expect(longAt).toBeGreaterThanOrEqual(0);
    // The member's own header: the start of its real path, as much as fits.
    expect(LONG.startsWith(names[longAt + 1] as string)).toBe(true);
    expect((names[longAt + 1] as string).length).toBeGreaterThanOrEqual(90);
  });
});

describe('export of sparse files', () => {
  it('keeps them sparse, and GNU tar, Python and imgfs read the same content back', async () => {
    const work = join(scratch, 'sparse-src');
    execFileSync('mkdir', ['-p', work]);
    const image = join(work, 'disk.img');
    execFileSync('truncate', ['-s', String(8 * 1024 * 1024 + 3), image]);
    const fd = openSync(image, 'r+');
    for (const [offset, text] of [[5, 'five'], [5_000_000, 'five million'], [8 * 1024 * 1024 - 1, 'end']] as const) {
      writeSync(fd, Buffer.from(text), 0, text.length, offset);
    }
    closeSync(fd);
    const layer = join(scratch, 'sparse-layer.tar');
    execFileSync('tar', ['-cf', layer, '--sparse', '--format=gnu', '-C', work, 'disk.img']);
    await expectExportRoundTrip(layer, scratch, 'sparse');
    const out = join(scratch, 'sparse.export.tar');
    // 8 MiB of holes written as a handful of blocks.
    expect(statSync(out).size).toBeLessThan(64 * 1024);
  });
});

describe('export of the demo image', () => {
  it('round-trips through GNU tar, Python and imgfs', async () => {
    await expectExportRoundTrip(resolve(repoRoot, 'fixtures/demo/demo.tar'), scratch, 'demo');
  });
});
