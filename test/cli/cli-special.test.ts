/**
 * The built CLI against images made by the test helpers (test/cli/special-image.ts): devices, fifos,
 * special mode bits, hard links, a large file, no /etc/passwd; as docker-archive, bare layers and a
 * gzip OCI archive.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imgfs, sh, ok } from './run-cli.js';
import { writeImage } from '../helpers/image-builder.js';
import { bigContent, danglingHardlinkLayers, writeSpecialImage } from './special-image.js';

let dir: string;
let image: string;
let layerPaths: string[];
let ociGzip: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imgfs-cli-special-'));
  image = (await writeSpecialImage(dir)) as string;
  layerPaths = (await writeSpecialImage(dir, { format: 'layers' })) as string[];
  ociGzip = (await writeSpecialImage(dir, { format: 'oci-archive', compression: 'gzip', name: 'oci.tar' })) as string;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('ls -l', () => {
  it('shows numeric ids when the image has no /etc/passwd, and every file type and mode bit', async () => {
    expect(await ok(['ls', '-l', image])).toBe(
      [
        'total 3075',
        'drwxr-xr-x 2 0 0       0 Nov 14  2023 a',
        '-rw-r--r-- 1 0 0 3145728 Nov 14  2023 big.bin',
        'drwxr-xr-x 2 0 0       0 Nov 14  2023 cache',
        'drwxr-xr-x 2 0 0       0 Nov 14  2023 dev',
        'drwxrwx--T 2 0 0       0 Nov 14  2023 drop',
        'lrwxrwxrwx 1 0 0       7 Nov 14  2023 link-to-big -> big.bin',
        '-rw-r--r-- 1 0 0       1 Nov 14  2023 name with space',
        'drwxr-xr-x 3 0 0       0 Nov 14  2023 names',
        'drwxr-xr-x 2 0 0       0 Nov 14  2023 run',
        '---------- 1 0 0      11 Nov 14  2023 secret',
        'drwxr-xr-x 3 0 0       0 Nov 14  2023 srv',
        '',
      ].join('\n'),
    );
  });

  it('shows major, minor for devices, p for fifos, setgid directories and link counts', async () => {
    expect(await ok(['ls', '-l', image, '/dev', '/run', '/srv', '/a'])).toBe(
      [
        '/a:',
        'total 3',
        '-rw-r--r-- 3 7 8 11 Nov 14  2023 one',
        '-rw-r--r-- 3 7 8 11 Nov 14  2023 three',
        '-rw-r--r-- 3 7 8 11 Nov 14  2023 two',
        '',
        '/dev:',
        'total 0',
        'crw-rw-rw- 1 0 0 1,   3 Nov 14  2023 null',
        'brw-rw---- 1 0 6 8,   0 Nov 14  2023 sda',
        '',
        '/run:',
        'total 0',
        'prw------- 1 0 0 0 Nov 14  2023 initctl',
        '',
        '/srv:',
        'total 0',
        'drwxrwsr-x 2 4242 4343 0 Nov 14  2023 shared',
        '',
      ].join('\n'),
    );
  });

  it('aligns large ids and non-ASCII names', async () => {
    const lines = (await ok(['ls', '-l', image, '/names'])).split('\n');
    expect(lines[1]).toBe('-rw-r--r-- 1 3000000 3000001   0 Nov 14  2023 big-owner');
    expect(lines).toContain('-rw-r--r-- 1 0       0         6 Nov 14  2023 日本語.txt');
  });

  it('hides dot files unless -a', async () => {
    expect(await ok(['ls', image])).not.toContain('.hidden');
    expect(await ok(['ls', '-a', image])).toMatch(/^\.\n\.\.\n\.hidden\na\n/);
  });
});

describe('cat', () => {
  it('streams a large file byte for byte, also through a symlink', async () => {
    const result = await imgfs(['cat', image, '/big.bin', '/link-to-big']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.raw.equals(Buffer.concat([bigContent, bigContent]))).toBe(true);
  });

  it('reports a symlink loop as ELOOP and goes on', async () => {
    const result = await imgfs(['cat', image, '/names/loop', '/.hidden']);
    expect(result).toMatchObject({ code: 1, stdout: 'h\n', stderr: 'imgfs: cat: /names/loop: Too many levels of symbolic links\n' });
  });

  it('a reader that closes the pipe ends imgfs quietly', async () => {
    const result = await sh(`$IMGFS cat --no-cache '${image}' /big.bin /big.bin | head -c 10`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0); // pipefail: imgfs's own status is 0 too
    expect(result.raw.equals(bigContent.subarray(0, 10))).toBe(true);
  });

  it('so do export (between entries and inside one), find, diff and ls -lR', async () => {
    const runs = ['export | head -c 1', 'export | head -c 100000', 'find | head -n 1', 'diff | head -n 1', 'ls -lR | head -n 1'];
    for (const run of runs) {
      const [command, reader] = run.split(' | ');
      const result = await sh(`$IMGFS ${command} --no-cache '${image}' | ${reader} >/dev/null`);
      expect({ run, stderr: result.stderr, code: result.code }).toEqual({ run, stderr: '', code: 0 });
    }
  });
});

describe('stat and find on special files', () => {
  it('stat names the device numbers', async () => {
    const text = await ok(['stat', image, '/dev/null']);
    expect(text).toMatch(/ {3}character special file\n/);
    expect(text).toMatch(/Links: 1 +Device type: 1,3\n/);
    expect(text).toContain('Access: (0666/crw-rw-rw-)  Uid: (    0/ UNKNOWN)   Gid: (    0/ UNKNOWN)\n');
    const json = JSON.parse(await ok(['stat', '--json', image, '/dev/sda'])) as Record<string, unknown>;
    expect(json).toMatchObject({ type: 'block', devmajor: 8, devminor: 0, mode: 0o660, gid: 6, uname: null, gname: null });
  });

  it('find --type selects character, block and fifo entries', async () => {
    expect(await ok(['find', image, '--type', 'c,b,p'])).toBe('/dev/null\n/dev/sda\n/run/initctl\n');
    expect(await ok(['find', image, '--name', '* *'])).toBe('/name with space\n/names/héllo wörld\n');
    expect(await ok(['find', image, '/names', '--name', '*.txt'])).toBe('/names/日本語.txt\n');
    expect(await ok(['find', image, '--name', '.*'])).toBe('/.hidden\n');
  });
});

describe('export', () => {
  it('lists exactly the merged view: no whiteouts, nothing deleted or hidden', async () => {
    const result = await sh(`$IMGFS export --no-cache '${image}' | tar -tf -`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const fromTar = result.stdout.trim().split('\n').map((name) => `/${name.replace(/\/$/, '')}`);
    const fromFind = (await ok(['find', image])).trim().split('\n').slice(1);
    expect(fromTar).toEqual(fromFind);
    expect(fromTar).not.toContain('/gone');
    expect(fromTar).not.toContain('/cache/old');
    expect(fromTar.some((name) => name.includes('.wh.'))).toBe(false);
  });

  it('keeps devices, fifos, modes (even 0) and hard links as links to the first name', async () => {
    const archive = (await imgfs(['export', image])).raw;
    const listing = execFileSync('tar', ['-tvf', '-', '--numeric-owner'], { input: archive, env: { ...process.env, TZ: 'UTC' } })
      .toString()
      .split('\n');
    const find = (suffix: string): string => listing.find((line) => line.includes(` ${suffix}`)) ?? `(no ${suffix})`;
    expect(find('dev/null')).toMatch(/^crw-rw-rw- 0\/0 +1,3 /);
    expect(find('dev/sda')).toMatch(/^brw-rw---- 0\/6 +8,0 /);
    expect(find('run/initctl')).toMatch(/^prw------- 0\/0 /);
    expect(find('secret')).toMatch(/^---------- 0\/0 +11 /);
    expect(find('srv/shared/')).toMatch(/^drwxrwsr-x 4242\/4343 /);
    expect(find('drop/')).toMatch(/^drwxrwx--T /);
    expect(find('a/one')).toMatch(/^-rw-r--r-- 7\/8 +11 /);
    expect(find('a/three')).toMatch(/^hrw-r--r-- 7\/8 +0 .* a\/three link to a\/one$/);
    expect(find('a/two')).toMatch(/^hrw-r--r-- 7\/8 +0 .* a\/two link to a\/one$/);
    // Extracting it gives one inode with three names and the right bytes.
    const out = join(dir, 'extract');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('tar', ['-xf', '-', '-C', out, 'a', 'big.bin'], { input: archive });
    const links = execFileSync('stat', ['-c', '%h %i', join(out, 'a/one'), join(out, 'a/two'), join(out, 'a/three')]).toString();
    const [first, ...rest] = links.trim().split('\n');
    expect(first?.startsWith('3 ')).toBe(true);
    expect(rest).toEqual([first, first]);
    expect(execFileSync('cmp', ['-', join(out, 'big.bin')], { input: bigContent }).toString()).toBe('');
  });

  it('writes PAX records for sub-second times, long and non-ASCII names and large ids', async () => {
    const raw = (await imgfs(['export', image])).raw;
    const archive = raw.toString('latin1');
    expect(archive).toContain('mtime=1700000060.25\n');
    expect(archive).toContain('uid=3000000\n');
    const listing = execFileSync('tar', ['-tvf', '-', '--numeric-owner'], { input: raw, env: { ...process.env, TZ: 'UTC' } }).toString();
    expect(listing).toContain(` names/${'x'.repeat(120)}\n`);
    expect(listing).toContain(` names/${'d'.repeat(90)}/${'f'.repeat(90)}\n`);
    expect(listing).toContain(' names/日本語.txt\n');
    expect(listing).toContain(` names/long-target -> /${'t'.repeat(150)}\n`);
    expect(listing).toMatch(/^-rw-r--r-- 3000000\/3000001 +0 .* names\/big-owner$/m);
  });

  it('rejects operands after IMAGE', async () => {
    const result = await imgfs(['export', image, '/a']);
    expect(result).toMatchObject({ code: 2, stdout: '', stderr: "imgfs: export: unexpected operand '/a' (see 'imgfs export --help')\n" });
  });
});

describe('warnings', () => {
  it('go to stderr, never stdout, and --quiet silences them', async () => {
    const dangling = await writeImage(join(dir, 'dangling'), danglingHardlinkLayers(), { format: 'docker-archive' });
    const result = await imgfs(['ls', dangling]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('also-kept\nkept\n');
    expect(result.stderr).toMatch(/^imgfs: warning: [^\n]*broken[^\n]*\n$/);
    expect(await imgfs(['ls', '--quiet', dangling])).toEqual(expect.objectContaining({ code: 0, stdout: 'also-kept\nkept\n', stderr: '' }));
  });

  it('with --strict, a warning about the image is a failure naming its code (exit 2)', async () => {
    const dangling = await writeImage(join(dir, 'dangling-strict'), danglingHardlinkLayers(), { format: 'docker-archive' });
    const result = await imgfs(['ls', '--strict', dangling]);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(/^imgfs: [^\n]*: EHARDLINK: strict: layer \d+: hard link [^\n]*broken[^\n]*\n$/);
  });
});

describe('diff', () => {
  it('reports whiteouts and opaque directories as deletions', async () => {
    expect(await ok(['diff', '--layer', '1', image])).toBe('C /cache\nA /cache/new\nD /cache/old\nD /gone\n');
  });
});

describe('other formats', () => {
  it('several bare layer tars are joined with ":"', async () => {
    expect(layerPaths).toHaveLength(2);
    const source = layerPaths.join(':');
    expect(await ok(['ls', source, '/cache'])).toBe('new\n');
    expect(JSON.parse(await ok(['layers', '--json', source]))).toHaveLength(2);
  });

  it('a single bare layer tar is an image of one layer', async () => {
    expect(await ok(['cat', layerPaths[0] as string, '/gone'])).toBe('deleted in layer 1\n');
  });

  it('--platform chooses from a multi-platform OCI layout; an absent one is exit 2', async () => {
    const layout = (await writeSpecialImage(join(dir, 'multi'), { format: 'oci-dir', platforms: ['linux/amd64', 'linux/arm64/v8'] })) as string;
    expect(await ok(['ls', '--platform', 'linux/arm64/v8', layout, '/srv'])).toBe('shared\n');
    const result = await imgfs(['ls', '--platform', 'linux/s390x', layout, '/srv']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^imgfs: [^\n]*: ENOREF: [^\n]*\n$/);
  });

  it('layers shows the compression and media type of a gzip OCI archive', async () => {
    const layers = JSON.parse(await ok(['layers', '--json', ociGzip])) as Array<Record<string, unknown>>;
    expect(layers).toHaveLength(2);
    expect(layers[0]).toMatchObject({
      compression: 'gzip',
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      uncompressedSize: expect.any(Number),
      createdBy: '/bin/sh -c #(nop) ADD layer-0.tar in /',
    });
    expect(layers[0]?.size as number).toBeLessThan(layers[0]?.uncompressedSize as number);
    const result = await imgfs(['cat', ociGzip, '/big.bin']);
    expect(result.code).toBe(0);
    expect(result.raw.equals(bigContent)).toBe(true);
  });
});
