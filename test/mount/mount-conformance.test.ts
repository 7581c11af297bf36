/**
 * `imgfs mount` of the conformance image (fixtures/conformance/build-images.sh, the same image the
 * conformance test builds with umoci), compared through the kernel with ordinary tools against
 * umoci's unpacked rootfs: find -printf, sha256sum by eight readers at once, getfattr -d, link
 * counts; then tar, cp -a and grep -r over the whole mount, and writes that must fail with EROFS.
 * The allowances are the conformance test's own (implicit directories, known departures).
 *
 * Needs root, /dev/fuse, fusermount3, the fuse-napi binding, umoci and skopeo: skipped loudly
 * without them, except in CI (CI=true), where their absence fails.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTrees, formatDifferences } from '../conformance/compare-trees.js';
import { KNOWN_DEPARTURES } from '../conformance/known-departures.js';
import { explicitDirectories } from '../conformance/layer-entries.js';
import { bindingBuiltForImgfs, missingForMount, mountOptions, reportMissing, startMount, stderrOfFailure, stopMount, type MountProcess } from './mount-process.js';
import { sh, snapshotWithTools } from './tree-by-tools.js';
import type { TreeSnapshot } from '../conformance/tree-snapshot.js';

const execFileAsync = promisify(execFile);
const BUILD_SCRIPT = fileURLToPath(new URL('../../fixtures/conformance/build-images.sh', import.meta.url));

const missing = await missingForMount(['umoci', 'skopeo', 'getfattr', 'bash']);
const skip = reportMissing('imgfs mount conformance test', missing);
// Hard links as one inode need the binding built with use_ino (npm run build:fuse); CI builds it.
const inodesUnshared = reportMissing('hard links as one inode through the mount', bindingBuiltForImgfs() ? [] : ['npm run build:fuse']);

/** Without use_ino each name has its own inode: link groups cannot be seen then. */
function linkGroupsIfShared(snapshot: TreeSnapshot): TreeSnapshot {
  if (inodesUnshared) for (const entry of snapshot.entries.values()) delete entry.linkGroup;
  return snapshot;
}

describe.skipIf(skip)('imgfs mount of the conformance image, through the kernel', () => {
  let dir = '';
  let rootfs = '';
  let mnt = '';
  let mounted: MountProcess | undefined;
  let reference: Awaited<ReturnType<typeof snapshotWithTools>>;
  let implicitDirs: Set<string>;

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`CI=true but missing ${missing.join(', ')}`);
    dir = await mkdtemp(join(tmpdir(), 'imgfs-mount-'));
    await execFileAsync('bash', [BUILD_SCRIPT, dir], { maxBuffer: 16 * 1024 * 1024 });
    rootfs = join(dir, 'ref', 'rootfs');
    mnt = join(dir, 'mnt');
    await mkdir(mnt);
    reference = await snapshotWithTools(rootfs);
    const explicit = await explicitDirectories(join(dir, 'oci'), 'conf');
    implicitDirs = new Set([...reference.entries.values()].filter((e) => e.type === 'dir' && !explicit.has(e.path)).map((e) => e.path));
    // The gzip OCI archive: lazy indexing and reads through gzip checkpoints, the hardest path.
    mounted = await startMount(join(dir, 'oci.tar'), mnt);
  }, 240_000);

  afterAll(async () => {
    if (mounted !== undefined) await stopMount(mounted);
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it("shows umoci's tree: types, modes, owners, sizes, targets, mtimes, sha256 (8 readers), xattrs, hard-link groups", async () => {
    const seen = await snapshotWithTools(mnt);
    expect(reference.entries.size).toBeGreaterThan(300);
    const differences = compareTrees(linkGroupsIfShared(reference), linkGroupsIfShared(seen), {
      implicitDirs,
      excluded: KNOWN_DEPARTURES.flatMap((departure) => departure.excluded),
    });
    expect(differences.length, formatDifferences(differences)).toBe(0);
    expect(seen.entries.get('/srv/raw/xattr.txt')?.xattrs).toEqual({ 'user.test': Buffer.from('hello').toString('base64') });
  }, 120_000);

  it("shows umoci's tree from the docker-archive too, whose uncompressed members the binding build reads in C (pread)", async () => {
    const dockerMnt = join(dir, 'mnt-docker');
    await mkdir(dockerMnt);
    const docker = await startMount(join(dir, 'docker.tar'), dockerMnt);
    try {
      const seen = await snapshotWithTools(dockerMnt);
      const differences = compareTrees(linkGroupsIfShared(reference), linkGroupsIfShared(seen), {
        implicitDirs,
        excluded: KNOWN_DEPARTURES.flatMap((departure) => departure.excluded),
      });
      expect(differences.length, formatDifferences(differences)).toBe(0);
    } finally {
      await stopMount(docker);
    }
  }, 120_000);

  it.skipIf(inodesUnshared)("shows each of umoci's hard-link groups as one inode with the group size as link count (stat %h %i)", async () => {
    // umoci's unpack: inode -> the names sharing it; the mount must group the same names the same way.
    const groupsOf = async (root: string): Promise<string[][]> => {
      const listing = await sh(`cd '${root}' && find . -type f -links +1 -exec stat -c '%i %h %n' {} +`);
      const byInode = new Map<string, string[]>();
      for (const line of listing.split('\n').filter((l) => l !== '')) {
        const [inode, count, name] = line.split(' ') as [string, string, string];
        byInode.set(inode, [...(byInode.get(inode) ?? []), `${count} ${name}`]);
      }
      return [...byInode.values()].map((names) => names.sort()).sort((a, b) => (a[0] as string).localeCompare(b[0] as string));
    };
    const expected = await groupsOf(rootfs);
    expect(expected.some((group) => group.length > 1)).toBe(true);
    expect(await groupsOf(mnt)).toEqual(expected);
  });

  it('keeps nanoseconds of a PAX mtime to within a microsecond (stat %y)', async () => {
    const shown = (await sh(`stat -c '%.9Y' '${mnt}/srv/raw/subsec.txt'`)).trim();
    const truth = (await sh(`stat -c '%.9Y' '${rootfs}/srv/raw/subsec.txt'`)).trim();
    expect(Math.abs(Number(shown.split('.')[1]) - Number(truth.split('.')[1]))).toBeLessThan(1000);
  });

  it('tar -c of the whole mount reads every file and lists the same names as find', async () => {
    // tar exits 1 when a file changed while it was read; the attributes must hold still.
    const listed = await sh(`tar -C '${mnt}' -cf - . | tar -tf - | sed -e 's#^\\./##' -e 's#/$##' | grep -v '^\\.\\?$' | sort`);
    const found = await sh(`cd '${mnt}' && find . -mindepth 1 -printf '%P\\n' | sort`);
    expect(listed).toBe(found);
    expect(found.split('\n').length).toBeGreaterThan(300);
  }, 60_000);

  it('cp -a of /etc gives the same tree as umoci unpacked', async () => {
    const copy = join(dir, 'etc-copy');
    await sh(`cp -a '${mnt}/etc' '${copy}'`);
    const differences = await sh(`diff -r --no-dereference '${rootfs}/etc' '${copy}' && echo same`);
    expect(differences).toBe('same\n');
    // cp -a keeps owners and modes too.
    expect(await sh(`cd '${copy}' && find . -printf '%P %m %U %G\\n' | sort`)).toBe(await sh(`cd '${rootfs}/etc' && find . -printf '%P %m %U %G\\n' | sort`));
  }, 60_000);

  it('grep -r over the whole mount finds what it finds in the unpacked rootfs', async () => {
    const excluded = KNOWN_DEPARTURES.flatMap((departure) => departure.excluded);
    const keep = (list: string): string => list.split('\n').filter((path) => path !== '' && !excluded.some((root) => `/${path}`.startsWith(root))).join('\n');
    const inMount = keep(await sh(`cd '${mnt}' && grep -r -l -a 'root' . | sed 's#^\\./##' | sort`));
    const inRootfs = keep(await sh(`cd '${rootfs}' && grep -r -l -a 'root' . | sed 's#^\\./##' | sort`));
    expect(inMount).toBe(inRootfs);
    expect(inMount).toContain('etc/passwd');
  }, 60_000);

  it('refuses every write with EROFS ("Read-only file system"), the kernel listing the mount as ro', async () => {
    expect(mountOptions(mnt)).toContain('ro');
    const attempts = [
      `touch '${mnt}/new-file'`,
      `echo x >> '${mnt}/etc/os-release'`,
      `mkdir '${mnt}/new-dir'`,
      `rm '${mnt}/etc/os-release'`,
      `chmod 600 '${mnt}/etc/passwd'`,
      `mv '${mnt}/etc/passwd' '${mnt}/etc/passwd2'`,
      `ln -s x '${mnt}/new-link'`,
      `setfattr -n user.x -v 1 '${mnt}/etc/passwd'`,
    ];
    for (const attempt of attempts) {
      expect(await stderrOfFailure(attempt), attempt).toContain('Read-only file system');
    }
    await expect(open(join(mnt, 'etc/passwd'), 'r+')).rejects.toMatchObject({ code: 'EROFS' });
  });

  it('reports statfs as a read-only filesystem holding the image content (stat -f)', async () => {
    const [blocks, blockSize, type] = (await sh(`stat -f -c '%b %S %T' '${mnt}'`)).trim().split(' ');
    const content = Number(await sh(`du -sb --apparent-size '${rootfs}' | cut -f1`).then((s) => s.trim()));
    expect(Number(blocks) * Number(blockSize)).toBeGreaterThanOrEqual(content / 2);
    expect(['fuse', 'fuseblk']).toContain(type);
  });
});
