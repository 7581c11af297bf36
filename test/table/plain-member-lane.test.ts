import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, linkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isImgfsError } from '../../lib/errors.js';
import type { ByteSource } from '../../lib/source/byte-source.js';
import { FileSource } from '../../lib/source/file-source.js';
import { SliceSource } from '../../lib/source/slice-source.js';
import { LayerTable, type TableBuildStats } from '../../lib/table/layer-table.js';
import { usePlainKernel, type PlainMemberKernel } from '../../lib/table/plain-member-kernel.js';
import { encodeSnapshot } from '../../lib/table/snapshot-codec.js';
import { walkTarBatches } from '../../lib/tar/walk-tar.js';
import type { ImgfsWarning } from '../../lib/warnings.js';
import { fixChecksums } from '../hostile/fuzz/fuzz-harness.js';
import { gnuTar, scratchDir } from '../tar/gnu-tar.js';
import { base256, BLOCK, END, member, padded, paxMember, rawHeader, withChecksum, type RawHeaderFields } from '../tar/raw-tar.js';
import { seededRandom } from '../helpers/seeded-random.js';

// The cold table build takes plain members straight from their header bytes into the columns (the
// plain-member lane) and hands everything else to the general walk, member by member. The general
// path (walkTarBatches into buildFromBatches) is the reference: for every tar here both must give the
// same index file bytes, the same warnings in the same order, and the same error. Each case runs twice:
// with the lane in JavaScript alone, and with its WebAssembly kernel (built by `npm run build` into
// dist/, as the CLI tests need it built) taking the runs of plain headers it can.

const KERNEL_FILE = resolve('dist/table/plain-member-kernel.wasm');

/** A source over bytes that reads synchronously, as a file or a slice of one does. */
class SyncMemorySource implements ByteSource {
  readonly seekable = true;
  readonly size: number | undefined;

  constructor(
    private readonly bytes: Buffer,
    readonly name = 'layer.tar',
    sizeKnown = true,
  ) {
    this.size = sizeKnown ? bytes.length : undefined;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    return Buffer.from(this.bytes.subarray(offset, offset + length));
  }

  readIntoSync(target: Buffer, offset: number, length = target.length): number {
    return this.bytes.copy(target, 0, offset, Math.min(offset + length, this.bytes.length));
  }

  createReadStream(start = 0, end = this.bytes.length): Readable {
    return Readable.from([this.bytes.subarray(start, end)]);
  }

  async close(): Promise<void> {}
}

interface Limits {
  maxEntries?: number;
  maxPaxSize?: number;
  maxNameLength?: number;
}

interface Outcome {
  snapshot?: string;
  warnings: string[];
  error?: Record<string, unknown>;
}

const LAYER = { index: 2, digest: 'sha256:abc' };

async function outcome(build: (onWarning: (warning: ImgfsWarning) => void) => Promise<LayerTable>): Promise<Outcome> {
  const warnings: string[] = [];
  try {
    const table = await build((warning) => warnings.push(JSON.stringify(warning)));
    return { snapshot: encodeSnapshot(table.snapshot()).toString('base64'), warnings };
  } catch (error) {
    if (!isImgfsError(error)) throw error;
    const { code, reason, archive, member: name, layer, offset } = error;
    return { warnings, error: { code, reason, archive, member: name, layer, offset } };
  }
}

/** The general path's outcome, the lane's outcome, and how many members the lane took. */
async function both(source: ByteSource, limits: Limits = {}): Promise<{ general: Outcome; lane: Outcome; plain: number }> {
  const { maxEntries, maxPaxSize, maxNameLength } = limits;
  const walk = { ...(maxPaxSize === undefined ? {} : { maxPaxSize }), ...(maxNameLength === undefined ? {} : { maxNameLength }) };
  const general = await outcome((onWarning) => LayerTable.buildFromBatches(walkTarBatches(source, walk), { maxEntries, onWarning, layer: LAYER }));
  const stats: TableBuildStats = { plainMembers: 0 };
  const lane = await outcome((onWarning) => LayerTable.buildFromTar(source, { ...walk, maxEntries, onWarning, layer: LAYER, stats }));
  return { general, lane, plain: stats.plainMembers };
}

async function expectSame(source: ByteSource, limits: Limits = {}, label = source.name): Promise<number> {
  const { general, lane, plain } = await both(source, limits);
  expect(lane, label).toEqual(general);
  return plain;
}

/** Flips one random bit of `bytes`. */
function flip(bytes: Buffer, next: () => number): void {
  const at = Math.floor(next() * bytes.length);
  bytes[at] = (bytes[at] as number) ^ (1 << Math.floor(next() * 8));
}

/** Random layers per run: 400, or ten per FUZZ_RUNS (`npm run fuzz` runs 20 000). */
const SEEDS = process.env.FUZZ_RUNS === undefined ? 400 : 10 * Number(process.env.FUZZ_RUNS);

const MAGICS = ['ustar', 'gnu', 'v7'] as const;
const OWNERS = ['', 'root', 'root', 'daemon', 'nobody', 'www-data', 'caf\u00e9', 'a'.repeat(32)];
const ORDINARY_TYPES = ['0', '0', '0', '\0', '5', '5', '2', '1', '3', '4', '6', '7'];
const ODD_NAMES = ['./a', '/abs', 'a//b', 'a/./b', 'a/../b', '.', './', '..', '../x', 'a/', 'a/.', 'a/..', 'x//', '', '/', '//', './/y', '.wh.gone', 'd/.wh.gone', 'd/.wh..wh..opq', '.wh..wh..opq', '.wh..wh.plnk/1', 'd/.wh..wh.aufs', '.wh.', 'd/.wh...', 'caf\u00e9', 'na\u00efve/f', 'sp ace', 'tab\tname'];

/**
 * A random layer: mostly plain members in path order (files, directories, links, devices in the
 * three header formats, owners, number spellings, the ustar prefix), mixed with every case the lane
 * leaves to the general walk, and sometimes damaged. `limits` are drawn with it.
 */
function randomLayer(seed: number): { tar: Buffer; limits: Limits } {
  const next = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const chance = (p: number): boolean => next() < p;
  const parts: Buffer[] = [];
  const headerOffsets: number[] = [];
  let length = 0;
  const add = (bytes: Buffer, header = true): void => {
    if (header) headerOffsets.push(length);
    parts.push(bytes);
    length += bytes.length;
  };
  const count = 1 + Math.floor(next() * (chance(0.1) ? 400 : 40));
  let dir = 0;
  let leaf = 0;
  const names: string[] = [];
  const plainName = (): string => {
    if (chance(0.15)) dir++, (leaf = 0);
    const depth = dir % 4;
    const base = Array.from({ length: depth }, (_, i) => `d${dir}${'x'.repeat(i)}`).join('/');
    leaf++;
    const name = `${base === '' ? '' : `${base}/`}f${String(leaf).padStart(3, '0')}`;
    return chance(0.05) ? `${'long/'.repeat(30)}${name}` : name;
  };
  // Half the layers are made without anything that is an error; the others have a little of it.
  const bad = chance(0.5) ? 0 : 0.02;
  const number = (value: number, width: number): number | Buffer => {
    if (chance(0.9)) return value;
    const digits = value.toString(8);
    const spell = chance(bad) ? pick([`${digits}9`, `-${digits}`]) : pick([` ${digits} `, `  ${digits}\0`, digits.padStart(width, '0'), `${digits} junk`, value === 0 ? '' : digits]);
    return Buffer.from(spell.slice(0, width).padEnd(width, '\0'), 'latin1');
  };
  // Owner names change now and then, as between the runs of a real layer (the kernel stops at each change).
  let uname = pick(OWNERS);
  let gname = pick(OWNERS);
  for (let i = 0; i < count; i++) {
    if (chance(0.1)) uname = pick(OWNERS);
    if (chance(0.1)) gname = pick(OWNERS);
    const roll = next();
    let name = roll < 0.08 ? pick(ODD_NAMES) : roll < 0.12 && names.length > 0 ? pick(names) : roll < 0.15 && names.length > 0 ? `${pick(names)}/under` : plainName();
    if (chance(0.02)) name = `${name}/`;
    names.push(name);
    const magic = pick(MAGICS);
    let typeflag = pick(ORDINARY_TYPES);
    if (chance(0.03)) typeflag = pick(['V', 'Z', 'D', 'M', 'N', 'S', 'A']);
    // A directory, link or device with data blocks after it: the walk reads them as headers (an error).
    const holdsData = ((typeflag === '0' || typeflag === '\0') && !name.endsWith('/')) || typeflag === '7' || chance(bad);
    const data = holdsData ? Buffer.alloc(chance(0.1) ? Math.floor(next() * 20_000) : Math.floor(next() * 700), 0x61) : Buffer.alloc(0);
    const fields: RawHeaderFields = {
      name,
      typeflag,
      magic,
      mode: number(pick([0o644, 0o755, 0o4755, 0o170777, 0o1777]), 8),
      uid: chance(0.03) ? base256(chance(bad * 10) ? -1 : 3_000_000, 8) : number(pick([0, 0, 1000, 65_534, 2_000_000]), 8),
      gid: number(pick([0, 0, 1000, 70_000]), 8),
      mtime: chance(0.03) ? base256(pick([-5, 2 ** 40]), 12) : number(pick([1_700_000_000, 0, 1_600_000_000 + i]), 12),
      size: chance(0.02) ? base256(data.length, 12) : number(data.length, 12),
      uname,
      gname,
      linkname: (typeflag === '1' || typeflag === '2' ? (chance(0.2) ? pick(ODD_NAMES) : names.length > 0 ? pick(names) : 'target') : chance(0.02) ? 'stray' : '').slice(0, 90),
      devmajor: number(typeflag === '3' || typeflag === '4' ? 8 : 0, 8),
      devminor: number(typeflag === '3' || typeflag === '4' ? 1 : 0, 8),
    };
    // ustar names over 100 bytes go into the prefix field (and a long one out of both into a GNU long name).
    const nameBytes = Buffer.from(name, 'utf8');
    if (nameBytes.length > 100) {
      const cut = name.lastIndexOf('/', name.length - 2);
      if (magic === 'ustar' && cut > 0 && cut <= 155 && name.length - cut - 1 <= 100) {
        fields.prefix = name.slice(0, cut);
        fields.name = name.slice(cut + 1);
      } else {
        add(member({ name: '././@LongLink', typeflag: 'L', magic: 'gnu' }, Buffer.concat([nameBytes, Buffer.alloc(1)])));
        fields.name = name.slice(0, 100);
      }
    }
    if (Buffer.byteLength(fields.name as string) > 100) fields.name = Buffer.from(fields.name as string).subarray(0, 100);
    if (chance(0.03)) add(paxMember([pick([['path', 'over/ride'], ['mtime', '1700000000.5'], ['uname', 'ann'], ['SCHILY.xattr.user.x', 'v'], ['linkpath', 'x'], ['size', String(data.length)], ['size', '12'], ['mtime', 'ann']] as Array<[string, string]>)]));
    if (chance(0.02)) add(paxMember([['comment', 'global']], 'g'));
    if (chance(0.02)) add(member({ name: '././@LongLink', typeflag: 'K', magic: 'gnu' }, 'long/link/target\0'));
    if (chance(0.02)) add(Buffer.alloc(BLOCK), false);
    const header = rawHeader(fields);
    if (chance(0.03)) header.write('tar\0', 508, 'latin1'), withChecksum(header); // star's trailer
    if (chance(bad)) flip(header, next); // a bad checksum
    if (chance(0.01)) withChecksum(header.fill(0xff, 148, 149)); // a signed-char checksum writer
    add(Buffer.concat([header, padded(data)]));
  }
  const ending = next();
  let tar = Buffer.concat([...parts, ending < 0.7 ? END : ending < 0.8 ? Buffer.alloc(BLOCK) : ending < 0.9 ? Buffer.concat([END, Buffer.from('trailing junk')]) : Buffer.alloc(0)]);
  if (chance(bad * 5)) tar = tar.subarray(0, Math.floor(next() * tar.length));
  if (chance(bad * 7)) {
    tar = Buffer.from(tar);
    for (let flips = 1 + Math.floor(next() * 4); flips > 0; flips--) flip(tar, next);
    if (chance(0.5)) fixChecksums(tar, headerOffsets);
  }
  const limits: Limits = {};
  if (chance(0.05)) limits.maxEntries = Math.floor(next() * count);
  if (chance(0.05)) limits.maxNameLength = 10 + Math.floor(next() * 200);
  if (chance(0.05)) limits.maxPaxSize = 5 + Math.floor(next() * 30);
  return { tar, limits };
}

describe.each([
  { lane: 'JavaScript alone', withKernel: false },
  { lane: 'with its WebAssembly kernel', withKernel: true },
])('plain-member lane, $lane: the same table as the general walk', ({ withKernel }) => {
  const scratch = scratchDir();
  let kernel: PlainMemberKernel | undefined;
  /** Rows the kernel staged during `run`. */
  const stagedBy = async (run: () => Promise<unknown>): Promise<number> => {
    const before = kernel?.staged ?? 0;
    await run();
    return (kernel?.staged ?? 0) - before;
  };
  beforeAll(() => {
    kernel = usePlainKernel(withKernel ? readFileSync(KERNEL_FILE) : null);
    if (withKernel) expect(kernel, `${KERNEL_FILE} (npm run build) loads`).toBeDefined();
  });
  afterAll(() => {
    usePlainKernel(null);
    scratch.remove();
  });

  it('takes the plain members of an ordinary layer, and builds the same table', async () => {
    const tar = Buffer.concat([
      member({ name: 'etc/', typeflag: '5', uname: 'root', gname: 'root' }),
      member({ name: 'etc/hosts', uname: 'root', gname: 'root' }, '127.0.0.1 localhost\n'),
      member({ name: 'etc/link', typeflag: '2', linkname: 'hosts', uname: 'root', gname: 'root' }),
      member({ name: 'usr/bin/tool', mode: 0o755, uid: 1000, gid: 1000, uname: 'dev', gname: 'dev' }, 'x'.repeat(5000)),
      END,
    ]);
    const plain = await expectSame(new SyncMemorySource(tar));
    // All but the first, whose bytes the walk looks at for a compressed stream first.
    expect(plain).toBe(3);
  });

  it('a random mix of plain members and every case the lane leaves to the general walk', async () => {
    let plain = 0;
    const staged = await stagedBy(async () => {
      for (let seed = 0; seed < SEEDS; seed++) {
        const { tar, limits } = randomLayer(seed);
        const got = await expectSame(new SyncMemorySource(tar, `seed-${seed}.tar`, seed % 7 !== 3), limits, `seed ${seed}`);
        plain += got;
      }
    });
    // Most members are plain: the lane really was taken, not just the general walk compared with itself.
    expect(plain).toBeGreaterThan(4000);
    // And with the kernel, it took many of them (it leaves each header with a new owner name to the lane).
    if (withKernel) expect(staged).toBeGreaterThan(1000);
    else expect(staged).toBe(0);
  }, 60_000);

  it('many far-apart headers: the walk gives the event loop its turns in the middle of the lane', async () => {
    const members = Array.from({ length: 700 }, (_, i) => member({ name: `big/${String(i).padStart(4, '0')}` }, Buffer.alloc(9000, i)));
    const plain = await expectSame(new SyncMemorySource(Buffer.concat([...members, END])));
    expect(plain).toBeGreaterThan(650);
  });

  it('GNU tar in each of its formats: long names, links, devices-free trees, sparse files', async () => {
    const root = join(scratch.dir, 'tree');
    mkdirSync(join(root, 'dir/sub'), { recursive: true });
    writeFileSync(join(root, 'dir/a.txt'), 'a');
    writeFileSync(join(root, 'dir/sub/b.bin'), Buffer.alloc(3000, 1));
    writeFileSync(join(root, `dir/${'n'.repeat(120)}`), 'long');
    mkdirSync(join(root, `${'deep/'.repeat(40)}`), { recursive: true });
    writeFileSync(join(root, `${'deep/'.repeat(40)}leaf`), 'leaf');
    writeFileSync(join(root, 'dir/caf\u00e9'), 'utf8 name');
    symlinkSync('a.txt', join(root, 'dir/link'));
    linkSync(join(root, 'dir/a.txt'), join(root, 'dir/hard'));
    execFileSync('truncate', ['-s', '1M', join(root, 'sparse')]);
    writeFileSync(join(root, 'sparse'), 'head', { flag: 'r+' });
    let plain = 0;
    for (const format of ['gnu', 'oldgnu', 'ustar', 'posix', 'v7']) {
      for (const order of [[], ['--sort=name']]) {
        const out = join(scratch.dir, `${format}-${order.length}.tar`);
        const args = [`--format=${format}`, ...order, ...(format === 'v7' || format === 'ustar' ? [] : ['--sparse'])];
        let tar: Buffer;
        try {
          tar = gnuTar(root, out, args, ['.']);
        } catch {
          continue; // v7 and ustar refuse some long names: that format's archive is not made
        }
        plain += await expectSame(new SyncMemorySource(tar, `${format}.tar`));
        plain += await expectSame(new SyncMemorySource(tar.subarray(0, tar.length - 3 * BLOCK - 100), `${format}-cut.tar`));
      }
    }
    expect(plain).toBeGreaterThan(20);
  });

  it('every tar under fixtures/, read from its file, and each layer tar stored in it', async () => {
    const tars: string[] = [];
    const visit = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) visit(path);
        else if (name.endsWith('.tar')) tars.push(path);
      }
    };
    visit(resolve('fixtures'));
    expect(tars.length).toBeGreaterThan(0);
    let plain = 0;
    for (const path of tars) {
      const file = await FileSource.open(path);
      try {
        plain += await expectSame(file);
        // Members that are tars themselves (docker-archive layers, uncompressed OCI blobs).
        for await (const batch of walkTarBatches(file)) {
          for (const entry of batch) {
            if (entry.type !== 'file' || entry.size < 1024) continue;
            const head = await file.read(entry.dataOffset + 257, 5);
            if (head.toString('latin1') !== 'ustar') continue;
            plain += await expectSame(new SliceSource(file, entry.dataOffset, entry.size, `${path}!${entry.name}`));
          }
        }
      } finally {
        await file.close();
      }
    }
    expect(plain).toBeGreaterThan(10);
  });

  it('hand-made layers: duplicates (R2), non-directory parents (R5), whiteouts, hard links, out of order', async () => {
    const layers: Buffer[][] = [
      [member({ name: 'a' }, '1'), member({ name: 'a' }, '22'), member({ name: 'b', typeflag: '1', linkname: 'a' }), member({ name: 'a' }, '333')],
      [member({ name: 'f' }, 'x'), member({ name: 'f/g' }, 'y'), member({ name: 'l', typeflag: '2', linkname: 'f' }), member({ name: 'l/m' })],
      [member({ name: 'z' }), member({ name: 'b/c' }), member({ name: 'a', typeflag: '5' }), member({ name: 'a/x' })],
      [member({ name: 'd/', typeflag: '5' }), member({ name: 'd/.wh.old' }), member({ name: 'd/.wh..wh..opq' }), member({ name: 'd/new' }), member({ name: 'e/.wh.x' })],
      [member({ name: 'x/y/z' }), member({ name: 'x/y2' }), member({ name: 'x-1' }), member({ name: 'x/y3' })],
      [member({ name: 'h/t' }, 'data'), member({ name: 'h/l1', typeflag: '1', linkname: './h/t' }), member({ name: 'h/l2', typeflag: '1', linkname: 'h//t' })],
      [member({ name: 'p', typeflag: '6' }), member({ name: 'c', typeflag: '3', devmajor: 1, devminor: 3 }), member({ name: 'p/q' })],
    ];
    for (const [i, layer] of layers.entries()) await expectSame(new SyncMemorySource(Buffer.concat([...layer, END]), `hand-${i}.tar`));
  });
  it("a large layer: the kernel's stage fills and is taken in bulk several times; progress hears every member", async () => {
    const owners = ['root', 'daemon', 'a-much-longer-owner-name-of-32b!'];
    const members = Array.from({ length: 9000 }, (_, i) =>
      member(
        {
          name: `tree/${String(i >> 6).padStart(3, '0')}/${i % 64 === 0 ? '' : `f${i}`}`,
          typeflag: i % 64 === 0 ? '5' : i % 97 === 0 ? '2' : '0',
          linkname: i % 97 === 0 ? '../target' : '',
          uid: i < 7000 ? 0 : 70000 + i,
          mode: i < 5000 ? 0o644 : 0o100755,
          mtime: i < 6000 ? 1_700_000_000 : 1_700_000_000 + i,
          uname: owners[Math.floor(i / 3000)] as string,
          gname: 'root',
        },
        i % 64 === 0 || i % 97 === 0 ? '' : 'x'.repeat(i % 700),
      ),
    );
    const source = new SyncMemorySource(Buffer.concat([...members, END]));
    let plain = 0;
    const staged = await stagedBy(async () => (plain = await expectSame(source)));
    expect(plain).toBeGreaterThan(8990);
    if (withKernel) expect(staged).toBeGreaterThan(8990);
    const offsets = async (build: (onDataOffset: (offset: number) => void) => Promise<unknown>): Promise<number[]> => {
      const seen: number[] = [];
      await build((offset) => seen.push(offset));
      return seen;
    };
    const general = await offsets((onDataOffset) => LayerTable.buildFromBatches(walkTarBatches(source), { onDataOffset }));
    expect(await offsets((onDataOffset) => LayerTable.buildFromTar(source, { onDataOffset }))).toEqual(general);
    expect(general).toHaveLength(9000);
    // Limits beyond the kernel's 32 bits (Infinity) bind nothing there either.
    const unlimited = await stagedBy(() => LayerTable.buildFromTar(source, { maxEntries: Infinity, maxNameLength: Infinity }));
    if (withKernel) expect(unlimited).toBeGreaterThan(8990);
  });

  it('two layers built at once: one walk has the kernel, the other the lane alone, both right', async () => {
    const layer = (tag: string): Buffer => Buffer.concat([...Array.from({ length: 300 }, (_, i) => member({ name: `${tag}/${i}`, uname: 'root', gname: 'root' }, 'y'.repeat(i))), END]);
    const sources = [new SyncMemorySource(layer('a'), 'a.tar'), new SyncMemorySource(layer('b'), 'b.tar')];
    const [a, b] = await Promise.all(sources.map((source) => both(source)));
    expect(a?.lane).toEqual(a?.general);
    expect(b?.lane).toEqual(b?.general);
  });
});
