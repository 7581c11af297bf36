/**
 * `imgfs mount` with the `fuse-napi` binding as npm installs it, for a user who never ran `npm run
 * build:fuse`: the package's own prebuild, without the seven edits (prebuilt-install.ts lays such an
 * installation out from the package's copy in node_modules, offline). The README promises that it
 * still mounts and serves every byte (all reads, compressed layers' too, in JavaScript), and says what
 * it cannot do: hard links show one inode per name, and names that are not UTF-8 show U+FFFD.
 *
 * Two images, each compared through the kernel with ordinary tools against `umoci unpack`: the demo
 * image as a docker-archive (uncompressed layers), and the same layers plus one more as an OCI layout
 * with gzip layers (skopeo, umoci raw add-layer). The added layer holds what the prebuild handles
 * differently: a hard-link pair, a name and a link target that are not UTF-8, an xattr, a directory of
 * 1 100 entries (listed in pages), and a file of 2 MiB, so that reads cross the gzip checkpoints.
 *
 * Last, both mounts end: one on SIGTERM while eight readers are busy, one unmounted from outside.
 *
 * Needs root, /dev/fuse, fusermount3, umoci, skopeo, getfattr/setfattr and GNU tar: skipped loudly
 * without them, except in CI (CI=true), where their absence fails. A missing prebuild (the package
 * installed without one for this platform and Node) fails everywhere: it is what is under test.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../cli/run-cli.js';
import { compareTrees, formatDifferences } from '../conformance/compare-trees.js';
import type { TreeSnapshot } from '../conformance/tree-snapshot.js';
import {
  isMounted,
  missingForMount,
  mountOptions,
  reportMissing,
  startBusyReaders,
  startMount,
  stderrOfFailure,
  stopMount,
  type MountProcess,
} from './mount-process.js';
import { installWithPrebuiltBinding, type PrebuiltInstall } from './prebuilt-install.js';
import { sh, snapshotWithTools } from './tree-by-tools.js';

const execFileAsync = promisify(execFile);
const DEMO = join(repoRoot, 'fixtures/demo/demo.tar');
/** `caf\xe9`: Latin-1 é, not UTF-8. */
const LATIN1_NAME = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
/** The same name as the UTF-8 conversion of the package shows it: é's byte replaced by U+FFFD. */
const SHOWN_NAME = Buffer.concat([Buffer.from('caf'), Buffer.from('\ufffd')]);
const LATIN1_CONTENT = 'a name that is not UTF-8\n';
const MANY = 1100;

const missing = await missingForMount(['umoci', 'skopeo', 'getfattr', 'setfattr', 'tar', 'bash']);
const skip = reportMissing('imgfs mount with the prebuilt fuse-napi binding', missing);

/** Without use_ino every name has its own inode: the hard-link groups are checked apart (below). */
function withoutLinkGroups(snapshot: TreeSnapshot): TreeSnapshot {
  for (const entry of snapshot.entries.values()) delete entry.linkGroup;
  return snapshot;
}

/** `stat -c '%i %h'` of each path under `root`. */
async function inodes(root: string, paths: readonly string[]): Promise<Array<{ inode: string; links: number }>> {
  const lines = (await sh(`cd '${root}' && stat -c '%i %h' ${paths.map((path) => `'.${path}'`).join(' ')}`)).trim().split('\n');
  return lines.map((line) => {
    const [inode, links] = line.split(' ') as [string, string];
    return { inode, links: Number(links) };
  });
}

describe.skipIf(skip)('imgfs mount with the prebuilt fuse-napi binding (no build:fuse), through the kernel', () => {
  let dir = '';
  let install: PrebuiltInstall;
  const mounts: MountProcess[] = [];
  const trees = new Map<'docker' | 'gzip', { mnt: string; rootfs: string }>();

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`CI=true but missing ${missing.join(', ')}`);
    dir = await mkdtemp(join(tmpdir(), 'imgfs-prebuilt-'));
    mkdirSync(join(dir, 'install'));
    install = installWithPrebuiltBinding(join(dir, 'install'));

    // The demo image's layers gzip-compressed into an OCI layout, and one layer more on top.
    const oci = join(dir, 'oci');
    await execFileAsync('skopeo', ['copy', '-q', '--dest-compress', `docker-archive:${DEMO}`, `oci:${oci}:demo`]);
    const stage = join(dir, 'stage');
    mkdirSync(join(stage, 'opt/big'), { recursive: true });
    mkdirSync(join(stage, 'opt/names'));
    writeFileSync(join(stage, 'opt/big/random.b64'), randomBytes(1536 * 1024).toString('base64'));
    linkSync(join(stage, 'opt/big/random.b64'), join(stage, 'opt/big/random-link'));
    writeFileSync(Buffer.concat([Buffer.from(join(stage, 'opt/names/')), LATIN1_NAME]), LATIN1_CONTENT);
    writeFileSync(join(stage, 'opt/names/plain.txt'), 'a UTF-8 name beside it\n');
    symlinkSync(Buffer.concat([Buffer.from('names/'), LATIN1_NAME]), join(stage, 'opt/latin1-link'));
    // More entries than two of the mount's listing pages (512 each): offsets through the package's readdir.
    mkdirSync(join(stage, 'opt/many'));
    for (let i = 0; i < MANY; i++) writeFileSync(join(stage, `opt/many/${String(i).padStart(4, '0')}`), `${i}\n`);
    await sh(`setfattr -n user.kind -v big '${stage}/opt/big/random.b64'`);
    await sh(`tar --xattrs --numeric-owner -C '${stage}' -cf '${dir}/layer.tar' opt`);
    await execFileAsync('umoci', ['raw', 'add-layer', '--image', `${oci}:demo`, '--tag', 'extra', join(dir, 'layer.tar')]);
    for (const [name, tag] of [['docker', 'demo'], ['gzip', 'extra']] as const) {
      const unpacked = join(dir, `ref-${name}`);
      await execFileAsync('umoci', ['unpack', '--image', `${oci}:${tag}`, unpacked]);
      const mnt = join(dir, `mnt-${name}`);
      mkdirSync(mnt);
      trees.set(name, { mnt, rootfs: join(unpacked, 'rootfs') });
    }
    const tree = (name: 'docker' | 'gzip'): string => (trees.get(name) as { mnt: string }).mnt;
    mounts.push(await startMount(DEMO, tree('docker'), [], {}, install.bin));
    mounts.push(await startMount(`oci:${oci}:extra`, tree('gzip'), [], {}, install.bin));
  }, 120_000);

  afterAll(async () => {
    for (const mounted of mounts) await stopMount(mounted);
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it("mounts with the package's own prebuild, which has none of build:fuse's additions", async () => {
    expect(install.binding).toContain(`${join(dir, 'install', 'node_modules', 'fuse-napi', 'prebuilds')}/linux-`);
    expect(typeof install.exports.fuse_native_mount).toBe('function');
    expect(install.exports.imgfs_serve_archive).toBeUndefined();
    expect(install.exports.imgfs_serve_decoded).toBeUndefined();
    // The mount processes mapped that very file, and no build of the project's.
    for (const mounted of mounts) {
      const maps = await readFile(`/proc/${String(mounted.child.pid)}/maps`, 'utf8');
      expect(maps).toContain(install.binding);
      expect(maps).not.toContain('fuse-napi/build/Release');
    }
  });

  // Before the trees are walked: the link is followed while no listing has shown the name yet.
  it('shows a name or link target that is not UTF-8 with U+FFFD for its byte (the documented loss), and serves the file under that name', async () => {
    const { mnt, rootfs } = trees.get('gzip') as { mnt: string; rootfs: string };
    const target = (root: string): Buffer => readlinkSync(join(root, 'opt/latin1-link'), { encoding: 'buffer' });
    expect(target(rootfs)).toEqual(Buffer.concat([Buffer.from('names/'), LATIN1_NAME]));
    expect(target(mnt)).toEqual(Buffer.concat([Buffer.from('names/'), SHOWN_NAME]));
    expect(readFileSync(join(mnt, 'opt/latin1-link'), 'utf8')).toBe(LATIN1_CONTENT);
    const names = (root: string): Buffer[] => readdirSync(join(root, 'opt/names'), { encoding: 'buffer' }).sort(Buffer.compare);
    expect(names(rootfs)).toEqual([LATIN1_NAME, Buffer.from('plain.txt')].sort(Buffer.compare));
    expect(names(mnt)).toEqual([SHOWN_NAME, Buffer.from('plain.txt')].sort(Buffer.compare));
    // What a listing shows must answer a lookup: stat, read, tools walking the tree.
    const shown = Buffer.concat([Buffer.from(join(mnt, 'opt/names/')), SHOWN_NAME]);
    expect((await stat(shown)).size).toBe(LATIN1_CONTENT.length);
    expect(readFileSync(shown, 'utf8')).toBe(LATIN1_CONTENT);
    expect(await sh(`find '${mnt}/opt/names' -type f -printf '%s\\n' | sort -n`)).toBe(`23\n${LATIN1_CONTENT.length}\n`);
    // The name's own bytes cannot reach imgfs: the package converts them to U+FFFD too, as a lookup of
    // the shown name, so they find the same file.
    expect(readFileSync(Buffer.concat([Buffer.from(join(mnt, 'opt/names/')), LATIN1_NAME]), 'utf8')).toBe(LATIN1_CONTENT);
  });

  for (const name of ['docker', 'gzip'] as const) {
    it(`shows umoci's tree from the ${name === 'docker' ? 'docker-archive' : 'gzip OCI layout'}: types, modes, owners, sizes, targets, mtimes, sha256 (8 readers), xattrs`, async () => {
      const { mnt, rootfs } = trees.get(name) as { mnt: string; rootfs: string };
      const reference = await snapshotWithTools(rootfs);
      const seen = await snapshotWithTools(mnt);
      const differences = compareTrees(withoutLinkGroups(reference), withoutLinkGroups(seen), { implicitDirs: new Set(), excluded: [] });
      expect(differences.length, formatDifferences(differences)).toBe(0);
      expect(seen.entries.get('/usr/share/nginx/html/index.html')?.xattrs).toEqual({ 'user.imgfs.demo': Buffer.from('hello').toString('base64') });
      if (name === 'gzip') {
        expect(seen.entries.get('/opt/big/random.b64')?.size).toBe(2 * 1024 * 1024);
        expect([...seen.entries.keys()].filter((path) => path.startsWith('/opt/many/'))).toHaveLength(MANY);
        expect(seen.entries.get('/opt/big/random.b64')?.xattrs).toEqual({ 'user.kind': Buffer.from('big').toString('base64') });
      }
    }, 60_000);
  }

  it('shows each name of a hard-link group as its own inode, with the link count of the group (the documented loss)', async () => {
    for (const [name, paths] of [
      ['docker', ['/usr/share/nginx/html/index.html', '/usr/share/nginx/html/index.htm']],
      ['gzip', ['/opt/big/random.b64', '/opt/big/random-link']],
    ] as const) {
      const { mnt, rootfs } = trees.get(name) as { mnt: string; rootfs: string };
      const truth = await inodes(rootfs, paths);
      expect(new Set(truth.map(({ inode }) => inode)).size, `umoci's ${paths[0]}`).toBe(1);
      const shown = await inodes(mnt, paths);
      expect(new Set(shown.map(({ inode }) => inode)).size, `${paths[0]} through the mount`).toBe(paths.length);
      expect(shown.map(({ links }) => links)).toEqual(truth.map(({ links }) => links));
      // Buffer.equals: vitest's deep equality takes seconds over 2 MiB.
      expect((await readFile(join(mnt, paths[1]))).equals(await readFile(join(rootfs, paths[0]))), paths[1]).toBe(true);
    }
  });

  it('refuses writes with EROFS, the kernel listing the mounts as ro', async () => {
    for (const { mnt } of trees.values()) {
      expect(mountOptions(mnt)).toContain('ro');
      for (const attempt of [`touch '${mnt}/new-file'`, `echo x >> '${mnt}/etc/passwd'`, `mkdir '${mnt}/new-dir'`, `setfattr -n user.x -v 1 '${mnt}/etc/passwd'`]) {
        expect(await stderrOfFailure(attempt), attempt).toContain('Read-only file system');
      }
      await expect(open(join(mnt, 'etc/passwd'), 'r+')).rejects.toMatchObject({ code: 'EROFS' });
    }
  });

  // Last: it ends both mounts.
  it('ends cleanly on SIGTERM while eight readers are busy, and when unmounted from outside', async () => {
    const [docker, gzip] = mounts as [MountProcess, MountProcess];
    const readers = await startBusyReaders(gzip.dir);
    gzip.child.kill('SIGTERM');
    expect(await gzip.exited).toBe(0);
    await readers.done;
    await execFileAsync('fusermount3', ['-u', docker.dir]);
    expect(await docker.exited).toBe(0);
    for (const { dir: at } of [docker, gzip]) {
      expect(isMounted(at)).toBe(false);
      expect(readdirSync(at)).toEqual([]);
    }
  }, 60_000);
});
