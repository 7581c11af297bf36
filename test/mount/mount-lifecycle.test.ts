/**
 * `imgfs mount` as a process and `mount()` as a library call: readiness, SIGTERM while readers are
 * busy, --daemon and `imgfs umount`, an unmount from outside, large directories listed in pages,
 * a broken layer (EIO for its paths, the rest served), and the one-line exit 2 where FUSE is missing.
 *
 * Needs root, /dev/fuse, fusermount3 and the fuse-napi binding: skipped loudly without them, except
 * in CI (CI=true), where their absence fails.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mount, openImage, type ImageFS, type MountHandle } from '../../lib/index.js';
import { imgfs, repoRoot } from '../cli/run-cli.js';
import { sh } from './tree-by-tools.js';
import { buildLayer, dir, file, opaque, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { bindingBuiltForImgfs, isMounted, missingForMount, reportMissing, startBusyReaders, startMount, stopMount, waitFor, type MountProcess } from './mount-process.js';

const execFileAsync = promisify(execFile);
const missing = await missingForMount(['unshare', 'bash', 'setpriv']);
const skip = reportMissing('imgfs mount lifecycle test', missing);
// Names as bytes need the binding built by npm run build:fuse; CI builds it.
const namesAreUtf8 = reportMissing('non-UTF-8 names through the mount', bindingBuiltForImgfs() ? [] : ['npm run build:fuse']);

const BIG = Buffer.alloc(1024 * 1024, 'b');
const WIDE = 3000;

describe.skipIf(skip)('imgfs mount: lifecycle, errors and the library call', () => {
  let work = '';
  let image = '';
  const mounts: MountProcess[] = [];
  const mountPoints: string[] = [];

  async function mountPoint(name: string): Promise<string> {
    const path = join(work, name);
    await mkdir(path);
    mountPoints.push(path);
    return path;
  }

  async function startTracked(source: string, at: string, args: readonly string[] = []): Promise<MountProcess> {
    const started = await startMount(source, at, args);
    mounts.push(started);
    return started;
  }

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`CI=true but missing ${missing.join(', ')}`);
    work = await mkdtemp(join(tmpdir(), 'imgfs-mount-life-'));
    const wide: LayerEntrySpec[] = [dir('wide')];
    for (let i = 0; i < WIDE; i++) wide.push(file(`wide/entry-${String(i).padStart(5, '0')}-with-a-long-name.txt`, `${i}\n`));
    const files: LayerEntrySpec[] = [dir('data')];
    for (let i = 0; i < 64; i++) files.push(file(`data/f${i}.bin`, Buffer.alloc(64 * 1024 + i, i)));
    await writeFile(join(work, 'base.tar.gz'), gzipSync(buildLayer([...wide, ...files, file('hello.txt', 'hello\n')])));
    image = join(work, 'base.tar.gz');
  });

  afterAll(async () => {
    for (const started of mounts) await stopMount(started);
    for (const point of mountPoints) {
      if (isMounted(point)) await execFileAsync('fusermount3', ['-u', '-z', point]).catch(() => execFileAsync('umount', ['-l', point]));
    }
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  it('lists a directory of 3000 entries in full, across many readdir calls', async () => {
    const at = await mountPoint('wide');
    const started = await startTracked(image, at);
    const { stdout } = await execFileAsync('ls', ['-f', join(at, 'wide')], { maxBuffer: 1 << 24 });
    const names = stdout.split('\n').filter((name) => name !== '');
    expect(names).toHaveLength(WIDE + 2);
    expect(new Set(names).size).toBe(WIDE + 2);
    expect(names).toContain(`entry-0${WIDE - 1}-with-a-long-name.txt`);
    await stopMount(started);
  });

  it('unmounts cleanly on SIGTERM while eight readers are busy, leaving no stale mount', async () => {
    const at = await mountPoint('sigterm');
    const started = await startTracked(image, at);
    const readers = await startBusyReaders(at);
    started.child.kill('SIGTERM');
    expect(await started.exited).toBe(0);
    expect(isMounted(at)).toBe(false);
    await readers.done;
    // The directory is an ordinary empty directory again, not "Transport endpoint is not connected".
    expect(readdirSync(at)).toEqual([]);
  }, 60_000);

  it('--daemon returns once the mount is ready; imgfs umount ends it and the background process', async () => {
    const at = await mountPoint('daemon');
    const result = await imgfs(['mount', '--daemon', image, at]);
    try {
      expect(result.code).toBe(0);
      expect(isMounted(at)).toBe(true);
      expect(await readFile(join(at, 'hello.txt'), 'utf8')).toBe('hello\n');
      const server = serversOf(at);
      expect(server).toHaveLength(1);
      const unmounted = await imgfs(['umount', at]);
      expect(unmounted.code).toBe(0);
      expect(isMounted(at)).toBe(false);
      await waitFor(() => serversOf(at).length === 0, 'the background imgfs to exit');
    } finally {
      for (const pid of serversOf(at)) process.kill(pid, 'SIGKILL');
    }
  }, 60_000);

  it('-o uid=N,gid=N shows every entry as owned by N', async () => {
    const at = await mountPoint('owners');
    const started = await startMount(image, at, ['-o', 'uid=1234,gid=5678']);
    mounts.push(started);
    const { stdout } = await execFileAsync('stat', ['-c', '%u %g', join(at, 'hello.txt'), join(at, 'data')]);
    expect(stdout).toBe('1234 5678\n1234 5678\n');
    await stopMount(started);
  });

  it('-o allow_other lets another user read (as the image permits); without it that user gets EACCES', async () => {
    // The mount points' parent must be passable for the other user (mkdtemp made it 0700).
    await chmod(work, 0o755);
    const asNobody = (path: string): Promise<string> =>
      execFileAsync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cat', path]).then(
        ({ stdout }) => stdout,
        (error: { stderr?: string }) => `failed: ${error.stderr ?? ''}`,
      );
    const shared = await mountPoint('allow-other');
    const open = await startTracked(image, shared, ['-o', 'allow_other']);
    expect(await asNobody(join(shared, 'hello.txt'))).toBe('hello\n');
    await stopMount(open);
    const closed = await mountPoint('not-allow-other');
    const own = await startTracked(image, closed);
    expect(await asNobody(join(closed, 'hello.txt'))).toMatch(/^failed: .*Permission denied/);
    expect(await readFile(join(closed, 'hello.txt'), 'utf8')).toBe('hello\n');
    await stopMount(own);
  });

  it.skipIf(namesAreUtf8)('keeps names and link targets that are not UTF-8 as their bytes, both ways (ls, cat, readlink, find)', async () => {
    // GNU tar archives a directory whose names are Latin-1 and other non-UTF-8 bytes.
    const source = join(work, 'latin1-src');
    const layer = join(work, 'latin1.tar');
    await sh(`mkdir '${source}' && cd '${source}' && printf 'cafe\\n' > $'caf\\xe9.txt' && printf 'utf8\\n' > 'ok-\u00e9.txt' && printf 'ff\\n' > $'\\xff\\xfe' && ln -s $'caf\\xe9.txt' link && mkdir $'d\\xe9' && touch $'d\\xe9/x'`);
    await sh(`tar -C '${source}' -cf '${layer}' .`);
    const at = await mountPoint('latin1');
    const started = await startTracked(layer, at);
    const listing = (root: string): Promise<string> => sh(`cd '${root}' && find . -mindepth 1 -print0 | sort -z | od -An -c`);
    expect(await listing(at)).toBe(await listing(source));
    expect(await sh(`cat '${at}/'$'caf\\xe9.txt' '${at}/'$'\\xff\\xfe'`)).toBe('cafe\nff\n');
    expect(await sh(`readlink '${at}/link' | od -An -c`)).toBe(await sh(`readlink '${source}/link' | od -An -c`));
    expect(await sh(`cat '${at}/link'`)).toBe('cafe\n');
    await stopMount(started);
  });

  it('imgfs umount of a directory that is not mounted exits 1 with the reason', async () => {
    const at = await mountPoint('not-mounted');
    const result = await imgfs(['umount', at]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^imgfs: umount: ${at}: .+\\n$`));
  });

  it('gives EIO (with a warning) for a file whose layer broke, and serves every other file', async () => {
    const lower = join(work, 'lower.tar');
    const top = join(work, 'top.tar');
    await writeFile(lower, buildLayer([dir('lower'), file('lower/small.txt', 'small\n'), file('lower/big.bin', BIG)]));
    await writeFile(top, buildLayer([dir('top'), file('top/t.txt', 'top\n')]));
    const at = await mountPoint('broken');
    const started = await startTracked(`${lower}:${top}`, at);
    // Every layer indexed, then the lower archive loses the second half of big.bin: content that
    // the index points at is gone, as on a truncated download or a damaged disk.
    await execFileAsync('ls', ['-R', at]);
    await truncate(lower, (await stat(lower)).size - 1024 - BIG.length / 2);
    const big = await execFileAsync('cat', [join(at, 'lower/big.bin')], { maxBuffer: 1 << 22, encoding: 'buffer' }).then(
      () => 'read',
      (error: { stderr?: Buffer }) => String(error.stderr),
    );
    expect(big).toContain('Input/output error');
    expect(await readFile(join(at, 'top/t.txt'), 'utf8')).toBe('top\n');
    expect(await readFile(join(at, 'lower/small.txt'), 'utf8')).toBe('small\n');
    await started.stderrIncludes('/lower/big.bin');
    expect(started.stderr()).toMatch(/imgfs: warning: \/lower\/big\.bin: input\/output error: .*ETRUNCATED/);
    await stopMount(started);
  }, 60_000);

  it('serves what a layer that cannot be indexed does not decide: EIO (with a warning) only where the view needs it', async () => {
    const bad = gzipSync(buildLayer([dir('lower'), file('lower/a.txt', BIG), dir('top'), file('top/from-lower.txt', 'x')]));
    bad.fill(0x55, 40, bad.length - 20);
    const corrupt = join(work, 'corrupt.tar.gz');
    await writeFile(corrupt, bad);
    // The upper layer decides /top/t.txt, /top itself, and all of /opaque (opaque: nothing below shows).
    const upper = [dir('top'), file('top/t.txt', 'top\n'), dir('opaque'), opaque('opaque'), file('opaque/o.txt', 'o\n'), dir('opaque/sub')];
    await writeFile(join(work, 'top2.tar'), buildLayer(upper));
    const at = await mountPoint('corrupt');
    const started = await startTracked(`${corrupt}:${join(work, 'top2.tar')}`, at);
    const outcome = (command: string): Promise<string> =>
      execFileAsync('bash', ['-c', command]).then(
        ({ stdout }) => stdout,
        (error: { stderr?: string }) => `failed: ${error.stderr ?? ''}`,
      );
    // Files and directories of the good layer: attributes, contents, listings. /top's link count
    // depends on the broken layer (unknown: 1); /opaque/sub's does not.
    expect(await outcome(`cat '${at}/top/t.txt'`)).toBe('top\n');
    expect(await outcome(`stat -c '%F %h' '${at}/top' '${at}/opaque/sub'`)).toBe('directory 1\ndirectory 2\n');
    expect(await outcome(`ls '${at}/opaque'`)).toBe('o.txt\nsub\n');
    expect(await outcome(`cd '${at}/opaque' && find . | sort`)).toBe('.\n./o.txt\n./sub\n');
    // Whatever the broken layer could change: EIO.
    for (const needsLower of [`ls '${at}'`, `ls '${at}/top'`, `cat '${at}/lower/a.txt'`]) {
      expect(await outcome(needsLower), needsLower).toMatch(/^failed: .*Input\/output error/);
    }
    expect(started.stderr()).toMatch(/imgfs: warning: .*ECOMPRESSION/);
    await stopMount(started);
  }, 60_000);

  it('exits 2 with one line when /dev/fuse is missing', async () => {
    const at = await mountPoint('no-device');
    // A private mount namespace whose /dev is an empty tmpfs: no /dev/fuse, nothing else changed.
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs none /dev && exec "$@"', 'sh', process.execPath, join(repoRoot, 'bin/imgfs.js'), 'mount', '--no-cache', image, at], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let text = '';
      child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.on('exit', (exit) => resolve({ code: exit, stderr: text }));
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^imgfs: mount: \/dev\/fuse is missing: .*modprobe fuse.*\n$/);
  });

  it('exits 2 with one line when the fuse-napi binding is not installed', async () => {
    // The built CLI beside every installed package but fuse-napi.
    const copy = join(work, 'no-binding');
    await mkdir(join(copy, 'node_modules'), { recursive: true });
    await cp(join(repoRoot, 'bin'), join(copy, 'bin'), { recursive: true });
    await cp(join(repoRoot, 'dist/imgfs-cli.js'), join(copy, 'dist/imgfs-cli.js'));
    await writeFile(join(copy, 'package.json'), readFileSync(join(repoRoot, 'package.json')));
    for (const name of readdirSync(join(repoRoot, 'node_modules'))) {
      if (name !== 'fuse-napi' && !name.startsWith('.')) await symlink(join(repoRoot, 'node_modules', name), join(copy, 'node_modules', name));
    }
    const at = await mountPoint('no-binding-mnt');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [join(copy, 'bin/imgfs.js'), 'mount', '--no-cache', image, at], (error, _out, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stderr }),
      );
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^imgfs: mount: the optional dependency fuse-napi is not installed: npm install fuse-napi .*\n$/);
    expect(isMounted(at)).toBe(false);
  });

  describe('mount() in this process', () => {
    let img: ImageFS;
    let handle: MountHandle | undefined;

    beforeAll(async () => {
      img = await openImage(image, { lazy: true, cache: false });
    });
    afterAll(async () => {
      await handle?.unmount();
      await img.close();
    });

    it('serves the image until unmount(), which also settles `unmounted`', async () => {
      const at = await mountPoint('library');
      handle = await mount(img, at);
      expect(isMounted(at)).toBe(true);
      // Only asynchronous fs calls: this process is the filesystem server too.
      expect(await readFile(join(at, 'data/f3.bin'))).toEqual(Buffer.alloc(64 * 1024 + 3, 3));
      expect((await stat(join(at, 'hello.txt'))).size).toBe(6);
      await handle.unmount();
      await handle.unmounted;
      expect(isMounted(at)).toBe(false);
      // The image is still the caller's, and open.
      expect(await img.readFile('/hello.txt', 'utf8')).toBe('hello\n');
    });

    it('leaves to the kernel what it can: a listing brings every name with its attributes, a second read comes from its cache', async () => {
      // The same image, counting the questions that reach it.
      const asked = { lstat: 0, reads: 0, listings: 0 };
      const counting = new Proxy(img, {
        get(target, property, receiver) {
          const value: unknown = Reflect.get(target, property, receiver);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (property === 'lstat') asked.lstat++;
            if (property === 'createReadStream' || property === 'readRange') asked.reads++;
            if (property === 'readdir') asked.listings++;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      const at = await mountPoint('library-kernel-caches');
      handle = await mount(counting, at);
      await execFileAsync('find', [join(at, 'data'), '-type', 'f']);
      // One question for the listing of a small directory: the empty READDIR that ends it stays in C.
      if (bindingBuiltForImgfs()) expect(asked.listings).toBe(1);
      if (bindingBuiltForImgfs()) {
        // READDIRPLUS: stat of every listed name needs no LOOKUP (and so no lstat) of its own.
        const afterListing = asked.lstat;
        // Names given (a glob would list the directory again).
        await execFileAsync('stat', Array.from({ length: 64 }, (_, i) => join(at, `data/f${i}.bin`)));
        expect(asked.lstat).toBe(afterListing);
        // Listed again, by other processes: the kernel keeps the listing (the binding build lets it open
        // directories itself: bin/fuse-directory-opens.c), so nothing reaches imgfs.
        await execFileAsync('ls', ['-la', join(at, 'data')]);
        await execFileAsync('find', [at]);
        const listingsOfTheWholeTree = asked.listings;
        await execFileAsync('ls', ['-la', join(at, 'data')]);
        await execFileAsync('find', [at]);
        expect(asked.listings).toBe(listingsOfTheWholeTree);
      }
      const file = join(at, 'data/f7.bin');
      expect(await execFileAsync('sha256sum', [file])).toEqual(await execFileAsync('sha256sum', [file]));
      const afterFirst = asked.reads;
      expect(afterFirst).toBeGreaterThan(0);
      await execFileAsync('cat', [file]);
      expect(asked.reads).toBe(afterFirst);
      await handle.unmount();
    });

    it('settles `unmounted` when someone else unmounts (fusermount3 -u)', async () => {
      const at = await mountPoint('library-outside');
      handle = await mount(img, at);
      await execFileAsync('fusermount3', ['-u', at]);
      await handle.unmounted;
      expect(isMounted(at)).toBe(false);
    });
  });
});

/** Pids of node processes whose command line names `dir` (the background server of a mount). */
function serversOf(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = join('/proc', entry, 'cmdline');
    if (!existsSync(cmdline)) continue;
    let args: string[];
    try {
      args = readFileSync(cmdline, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (args.includes('mount') && args.includes(dir)) pids.push(Number(entry));
  }
  return pids;
}
