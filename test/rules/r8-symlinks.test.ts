/**
 * R8 symlinks: resolved inside the image root, as if the root were chroot'ed: an absolute target
 * starts at the image root, `..` at the root stays at the root, intermediate components follow links,
 * and more than 40 links in one resolution give `ELOOP`. `lstat`, `readlink` and `walk` do not follow
 * the last component; `stat`, `readFile`, `readdir` and `realpath` do.
 *
 * The hop limit, as tested here: resolving a path that needs N symlink hops in total (across all of
 * its components) succeeds for N = 39 and N = 40 and fails with ELOOP for N = 41 and N = 42, as
 * Linux's MAXSYMLINKS (40) does: the 40th link is followed, the 41st is not.
 */
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { dir, file, symlink, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { openLayers, walkPaths, type OpenedLayers } from '../helpers/open-layers.js';
import { expectCode } from '../helpers/expect-fs-error.js';

/** `/prefix0 -> /prefix1 -> ... -> /prefix{n-1} -> finalTarget`: resolving `/prefix0` takes n hops. */
function chain(prefix: string, n: number, finalTarget: string): LayerEntrySpec[] {
  return Array.from({ length: n }, (_, i) => symlink(`${prefix}${i}`, i === n - 1 ? finalTarget : `/${prefix}${i + 1}`));
}

const base: LayerEntrySpec[] = [
  dir('etc/'),
  file('etc/passwd', 'root:x:0:0\n'),
  dir('a/b/c/', { mode: 0o755 }),
  file('a/b/file-in-b', 'in b'),
  file('a/b/c/file-in-c', 'in c'),
  symlink('abs', '/etc/passwd'),
  symlink('rel', 'etc/passwd'),
  symlink('rel-dot', './etc/./passwd'),
  symlink('dirlink', '/etc'),
  symlink('dirlink-rel', 'etc/'),
  symlink('a/up', '../etc/passwd'),
  symlink('a/escape', '../../../../etc/passwd'),
  symlink('a/escape-abs', '/../../etc/passwd'),
  symlink('a/dotdot', '..'),
  symlink('a/root', '/'),
  symlink('a/deep', '/a/b/c'),
  symlink('a/deep-rel', 'b/c'),
  symlink('hop1', 'hop2'),
  symlink('hop2', 'a/hop3'),
  symlink('a/hop3', '../dirlink/passwd'),
  symlink('loop-a', 'loop-b'),
  symlink('loop-b', 'loop-a'),
  symlink('self', 'self'),
  symlink('self-dir', 'self-dir/x'),
  symlink('dangling', '/nowhere'),
  symlink('dangling-in-dir', '/etc/nowhere'),
  symlink('through-file', '/etc/passwd/x'),
  ...chain('c39-', 39, '/etc/passwd'),
  ...chain('c40-', 40, '/etc/passwd'),
  ...chain('c41-', 41, '/etc/passwd'),
  ...chain('c42-', 42, '/etc/passwd'),
  // Directory chains for limits spread across components: /d20-0 takes 20 hops to reach /dirs, where
  // /dirs/e19-0 takes 19 more (39 in all), /dirs/e20-0 20 more (40) and /dirs/e21-0 21 more (41).
  dir('dirs/'),
  ...chain('d20-', 20, '/dirs'),
  ...chain('dirs/e19-', 19, '/etc/passwd'),
  ...chain('dirs/e20-', 20, '/etc/passwd'),
  ...chain('dirs/e21-', 21, '/etc/passwd'),
];

describe('R8 symlinks', () => {
  let opened: OpenedLayers;
  beforeAll(async () => {
    // The symlink to /late/file only exists in layer 0; its target comes from layer 1: resolution
    // uses the merged view.
    opened = await openLayers([base, [dir('late/'), file('late/file', 'from layer 1'), symlink('to-late', '/late/file')]], { cleanup: 'manual' });
  });
  afterAll(async () => opened.dispose());

  it.each<[path: string, real: string, content: string]>([
    ['/abs', '/etc/passwd', 'root:x:0:0\n'],
    ['/rel', '/etc/passwd', 'root:x:0:0\n'],
    ['/rel-dot', '/etc/passwd', 'root:x:0:0\n'],
    ['/a/up', '/etc/passwd', 'root:x:0:0\n'],
    ['/a/escape', '/etc/passwd', 'root:x:0:0\n'],
    ['/a/escape-abs', '/etc/passwd', 'root:x:0:0\n'],
    ['/dirlink/passwd', '/etc/passwd', 'root:x:0:0\n'],
    ['/dirlink-rel/passwd', '/etc/passwd', 'root:x:0:0\n'],
    ['/a/dotdot/etc/passwd', '/etc/passwd', 'root:x:0:0\n'],
    ['/a/dotdot/a/dotdot/a/root/etc/passwd', '/etc/passwd', 'root:x:0:0\n'],
    ['/a/deep/file-in-c', '/a/b/c/file-in-c', 'in c'],
    ['/a/deep-rel/file-in-c', '/a/b/c/file-in-c', 'in c'],
    // `..` after a symlinked directory climbs from the link's target, not lexically from the link.
    ['/a/deep/../file-in-b', '/a/b/file-in-b', 'in b'],
    ['/a/deep-rel/../../b/c/../file-in-b', '/a/b/file-in-b', 'in b'],
    ['/hop1', '/etc/passwd', 'root:x:0:0\n'],
    ['/to-late', '/late/file', 'from layer 1'],
    ['/c39-0', '/etc/passwd', 'root:x:0:0\n'],
    ['/c40-0', '/etc/passwd', 'root:x:0:0\n'],
    ['/d20-0/e19-0', '/etc/passwd', 'root:x:0:0\n'],
    ['/d20-0/e20-0', '/etc/passwd', 'root:x:0:0\n'],
    // `..` in the path asked for, at the root.
    ['/../../etc/passwd', '/etc/passwd', 'root:x:0:0\n'],
    ['/etc/../../../etc/./passwd', '/etc/passwd', 'root:x:0:0\n'],
  ])('%s resolves inside the root to %s', async (path, real, content) => {
    const { fs } = opened;
    expect(await fs.realpath(path)).toBe(real);
    expect(fs.realpathSync(path)).toBe(real);
    expect(await fs.readFile(path, 'utf8')).toBe(content);
    const stats = await fs.stat(path);
    expect(stats.isFile()).toBe(true);
    expect(stats.size).toBe(Buffer.byteLength(content));
    expect(fs.statSync(path).size).toBe(Buffer.byteLength(content));
    expect(await fs.exists(path)).toBe(true);
  });

  it.each<[path: string, real: string]>([
    ['/a/dotdot', '/'],
    ['/a/root', '/'],
    ['/a/root/..', '/'],
    ['/dirlink', '/etc'],
    ['/a/deep', '/a/b/c'],
    ['/a/deep/..', '/a/b'],
    ['/d20-0', '/dirs'],
  ])('directory %s resolves to %s', async (path, real) => {
    const { fs } = opened;
    expect(await fs.realpath(path)).toBe(real);
    expect((await fs.stat(path)).isDirectory()).toBe(true);
    expect(await fs.readdir(path)).toEqual(await fs.readdir(real));
  });

  it.each(['/c41-0', '/c42-0', '/d20-0/e21-0', '/loop-a', '/self', '/self-dir'])('%s needs more than 40 hops: ELOOP', async (path) => {
    const { fs } = opened;
    await expectCode(fs.stat(path), 'ELOOP');
    await expectCode(fs.readFile(path), 'ELOOP');
    await expectCode(fs.realpath(path), 'ELOOP');
    await expectCode(fs.readdir(path), 'ELOOP');
    expect(() => fs.statSync(path)).toThrow(expect.objectContaining({ code: 'ELOOP' }));
    // The last component is not followed by lstat and readlink.
    expect((await fs.lstat(path)).isSymbolicLink()).toBe(true);
    expect(typeof (await fs.readlink(path))).toBe('string');
  });

  it('a loop in an intermediate component is ELOOP even for lstat and readlink', async () => {
    const { fs } = opened;
    await expectCode(fs.lstat('/loop-a/x'), 'ELOOP');
    await expectCode(fs.readlink('/loop-a/x'), 'ELOOP');
  });

  it('41 hops in an intermediate component are ELOOP even for lstat and readlink', async () => {
    const { fs } = opened;
    await expectCode(fs.lstat('/c41-0/x'), 'ELOOP');
    await expectCode(fs.readlink('/c41-0/x'), 'ELOOP');
    await expectCode(fs.lstat('/d20-0/e21-0/x'), 'ELOOP');
  });

  it('40 hops in an intermediate component still resolve', async () => {
    const { fs } = opened;
    // /c40-0 is 40 hops to /etc/passwd, a file: ENOTDIR, not ELOOP.
    await expectCode(fs.lstat('/c40-0/x'), 'ENOTDIR');
    // /d20-0 → /dirs is 20 hops; then lstat does not follow e20-0 itself.
    const stats = await fs.lstat('/d20-0/e20-0');
    expect(stats.isSymbolicLink()).toBe(true);
    expect(stats.target).toBe('/dirs/e20-1');
  });

  it('lstat, readlink and walk do not follow the last component', async () => {
    const { fs } = opened;
    const abs = await fs.lstat('/abs');
    expect([abs.isSymbolicLink(), abs.target]).toEqual([true, '/etc/passwd']);
    expect(fs.lstatSync('/abs').isSymbolicLink()).toBe(true);
    expect(await fs.readlink('/abs')).toBe('/etc/passwd');
    expect(await fs.readlink('/a/escape')).toBe('../../../../etc/passwd');
    expect(await fs.readlink('/rel-dot')).toBe('./etc/./passwd');
    expect(fs.readlinkSync('/dirlink')).toBe('/etc');
    // Intermediate components are followed by lstat and readlink.
    expect((await fs.lstat('/dirlink/passwd')).isFile()).toBe(true);
    expect(await fs.readlink('/a/root/abs')).toBe('/etc/passwd');
    const walked = new Map<string, string>();
    for await (const { path, stats } of opened.fs.walk('/')) walked.set(path, stats.type);
    expect(walked.get('/dirlink')).toBe('symlink');
    expect(walked.get('/a/dotdot')).toBe('symlink');
    expect(walked.get('/a/root')).toBe('symlink');
    // walk does not descend through symlinked directories (no cycles via /a/dotdot).
    expect([...walked.keys()].filter((path) => path.startsWith('/dirlink/') || path.startsWith('/a/dotdot/') || path.startsWith('/a/root/'))).toEqual([]);
  });

  it('stat, readFile, readdir and realpath follow the last component', async () => {
    const { fs } = opened;
    expect((await fs.stat('/dirlink')).isDirectory()).toBe(true);
    expect(await fs.readdir('/dirlink')).toEqual(['passwd']);
    expect(fs.readdirSync('/dirlink-rel')).toEqual(['passwd']);
    expect(await fs.readFile('/abs', 'utf8')).toBe('root:x:0:0\n');
    expect(await fs.realpath('/abs')).toBe('/etc/passwd');
    const followed = await fs.stat('/abs');
    const direct = await fs.stat('/etc/passwd');
    expect([followed.ino, followed.mode, followed.target]).toEqual([direct.ino, direct.mode, undefined]);
  });

  it('dangling and invalid links', async () => {
    const { fs } = opened;
    for (const path of ['/dangling', '/dangling-in-dir']) {
      expect((await fs.lstat(path)).isSymbolicLink()).toBe(true);
      await expectCode(fs.stat(path), 'ENOENT');
      await expectCode(fs.readFile(path), 'ENOENT');
      await expectCode(fs.realpath(path), 'ENOENT');
    }
    await expectCode(fs.stat('/through-file'), 'ENOTDIR');
  });

  it('a target outside the image is never read from the host', async () => {
    // /etc/hostname exists on the host, not in the image.
    const { fs } = await openLayers([[symlink('host', '/etc/hostname'), symlink('host-rel', '../../../../../etc/hostname')]]);
    await expectCode(fs.stat('/host'), 'ENOENT');
    await expectCode(fs.readFile('/host-rel'), 'ENOENT');
  });

  it('symlinks to directories of other layers and symlinks replaced in later layers', async () => {
    const { fs } = await openLayers([
      [symlink('cur', '/v1'), dir('v1/'), file('v1/x', 'one')],
      [dir('v2/'), file('v2/x', 'two')],
      [symlink('cur', 'v2')],
    ]);
    expect(await fs.readFile('/cur/x', 'utf8')).toBe('two');
    expect(await fs.realpath('/cur/x')).toBe('/v2/x');
    expect((await fs.lstat('/cur')).layer).toBe(2);
  });
});
