/**
 * The built CLI against the demo image (fixtures/make-demo.js; what each layer holds is in
 * fixtures/README.md): every command's stdout, stderr and exit status.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imgfs, repoRoot, sh, ok } from './run-cli.js';

let dir: string;
let demo: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'imgfs-cli-demo-'));
  demo = join(dir, 'demo.tar');
  execFileSync(process.execPath, [join(repoRoot, 'fixtures/make-demo.js'), demo]);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('ls', () => {
  it('lists the root, one name a line, sorted', async () => {
    expect(await ok(['ls', demo])).toBe('bin\ndev\netc\nsrv\ntmp\nusr\nvar\n');
  });

  it('-l shows owner and group names from the image\'s own /etc/passwd and /etc/group', async () => {
    expect(await ok(['ls', '-l', demo, '/usr/share/nginx/html'])).toBe(
      [
        'total 2',
        '-rw-r--r-- 2 nginx nginx 87 Jan  2  2024 index.htm',
        '-rw-r--r-- 2 nginx nginx 87 Jan  2  2024 index.html',
        '',
      ].join('\n'),
    );
  });

  it('-n shows numeric ids', async () => {
    expect(await ok(['ls', '-ln', demo, '/usr/share/nginx/html'])).toBe(
      ['total 2', '-rw-r--r-- 2 101 101 87 Jan  2  2024 index.htm', '-rw-r--r-- 2 101 101 87 Jan  2  2024 index.html', ''].join('\n'),
    );
  });

  it('-ld shows setuid, sticky and symlink targets, operands sorted', async () => {
    expect(await ok(['ls', '-ld', demo, '/usr/bin/passwd', '/tmp', '/bin/sh', '/srv/data'])).toBe(
      [
        'lrwxrwxrwx 1 root  root   7 Jan  1  2024 /bin/sh -> busybox',
        'drwxr-x--- 2 nginx nginx  0 Jan  3  2024 /srv/data',
        'drwxrwxrwt 2 root  root   0 Jan  1  2024 /tmp',
        '-rwsr-xr-x 1 root  root  37 Jan  1  2024 /usr/bin/passwd',
        '',
      ].join('\n'),
    );
  });

  it('lists file operands first, then each directory under a header', async () => {
    expect(await ok(['ls', demo, '/bin', '/bin/sh', '/srv'])).toBe('/bin/sh\n\n/bin:\nbusybox\nls\nsh\n\n/srv:\ndata\n');
  });

  it('-a adds . and ..', async () => {
    expect(await ok(['ls', '-a', demo, '/var/lib/apt/lists'])).toBe('.\n..\nfresh-index\n');
  });

  it('-R recurses in pre-order with headers', async () => {
    expect(await ok(['ls', '-R', demo, '/var/lib'])).toBe(
      '/var/lib:\napt\n\n/var/lib/apt:\nlists\n\n/var/lib/apt/lists:\nfresh-index\n',
    );
  });

  it('--json gives one object per entry', async () => {
    const lines = (await ok(['ls', '--json', demo, '/bin'])).trim().split('\n');
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.map((entry) => entry.name)).toEqual(['busybox', 'ls', 'sh']);
    expect(entries[2]).toMatchObject({ path: '/bin/sh', type: 'symlink', target: 'busybox', uname: 'root', layer: 0 });
  });

  it('reports a missing operand (exit 1) and still lists the others', async () => {
    const result = await imgfs(['ls', demo, '/nope', '/srv']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('imgfs: ls: /nope: No such file or directory\n');
    expect(result.stdout).toBe('/srv:\ndata\n');
  });
});

describe('cat', () => {
  it('writes file after file, following symlinks inside the root', async () => {
    const etcPasswd = await ok(['cat', demo, '/etc/passwd']);
    expect(etcPasswd).toMatch(/^nginx:x:101:101:/m);
    // etc/escape -> ../../../etc/passwd is clamped at the image root.
    expect(await ok(['cat', demo, '/etc/escape', '/etc/passwd'])).toBe(etcPasswd + etcPasswd);
  });

  it('fails a directory or a missing path with exit 1, and still serves the rest', async () => {
    const result = await imgfs(['cat', demo, '/etc', '/nope', '/usr/local/bin/entrypoint.sh']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('imgfs: cat: /etc: Is a directory\nimgfs: cat: /nope: No such file or directory\n');
    expect(result.stdout.startsWith('#!')).toBe(true);
  });

  it('is a usage error without PATH', async () => {
    const result = await imgfs(['cat', demo]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("imgfs: cat: missing PATH (see 'imgfs cat --help')\n");
    expect(result.stdout).toBe('');
  });
});

describe('stat, readlink, realpath', () => {
  it('stat prints coreutils fields plus the providing layer', async () => {
    const layers = JSON.parse(await ok(['layers', '--json', demo])) as Array<{ digest: string }>;
    const lines = (await ok(['stat', demo, '/usr/share/nginx/html/index.html'])).split('\n');
    expect(lines[0]).toBe('  File: /usr/share/nginx/html/index.html');
    expect(lines[1]).toMatch(/^ {2}Size: 87 +Blocks: 1 +IO Block: 512 +regular file$/);
    expect(lines[2]).toMatch(/^Device: 0,0\tInode: \d+ +Links: 2$/);
    expect(lines[3]).toBe('Access: (0644/-rw-r--r--)  Uid: (  101/   nginx)   Gid: (  101/   nginx)');
    expect(lines[4]).toBe('Modify: 2024-01-02 00:00:00.500000000 +0000');
    expect(lines[5]).toBe(` Layer: 1 (${layers[1]?.digest})`);
  });

  it('stat does not follow a symlink; -L does', async () => {
    expect((await ok(['stat', demo, '/bin/sh'])).split('\n')[0]).toBe('  File: /bin/sh -> busybox');
    expect(await ok(['stat', '-L', demo, '/bin/sh'])).toContain('regular file');
  });

  it('stat --json has the documented fields', async () => {
    const json = JSON.parse(await ok(['stat', '--json', demo, '/usr/share/nginx/html/index.html'])) as Record<string, unknown>;
    expect(json).toMatchObject({
      path: '/usr/share/nginx/html/index.html',
      type: 'file',
      mode: 0o644,
      uid: 101,
      gid: 101,
      uname: 'nginx',
      gname: 'nginx',
      size: 87,
      mtime: 1704153600.5,
      nlink: 2,
      target: null,
      layer: 1,
    });
    expect(json.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const setuid = JSON.parse(await ok(['stat', '--json', demo, '/usr/bin/passwd'])) as Record<string, unknown>;
    expect(setuid).toMatchObject({ mode: 0o4755, layer: 0 });
  });

  it('stat reports each missing path and serves the others', async () => {
    const result = await imgfs(['stat', '--json', demo, '/nope', '/tmp']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('imgfs: stat: /nope: No such file or directory\n');
    expect(JSON.parse(result.stdout)).toMatchObject({ path: '/tmp', type: 'dir', mode: 0o1777 });
  });

  it('readlink prints the stored target; a non-link is EINVAL', async () => {
    expect(await ok(['readlink', demo, '/etc/escape', '/bin/sh'])).toBe('../../../etc/passwd\nbusybox\n');
    const result = await imgfs(['readlink', demo, '/etc']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('imgfs: readlink: /etc: Invalid argument\n');
    expect(result.stdout).toBe('');
    expect(JSON.parse(await ok(['readlink', '--json', demo, '/var/log/nginx/access.log']))).toMatchObject({
      path: '/var/log/nginx/access.log',
      target: '/dev/stdout',
      layer: 1,
    });
  });

  it('realpath resolves inside the image root', async () => {
    expect(await ok(['realpath', demo, '/etc/escape', '/bin/sh'])).toBe('/etc/passwd\n/bin/busybox\n');
    expect(JSON.parse(await ok(['realpath', '--json', demo, '/bin/sh']))).toMatchObject({
      realpath: '/bin/busybox',
      type: 'file',
      layer: 0,
    });
    // /dev/stdout does not exist in the image.
    const result = await imgfs(['realpath', demo, '/var/log/nginx/access.log']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('imgfs: realpath: /var/log/nginx/access.log: No such file or directory\n');
  });
});

describe('find', () => {
  it('prints the start and everything under it in walk order, whiteouts never', async () => {
    const paths = (await ok(['find', demo])).trim().split('\n');
    expect(paths.slice(0, 6)).toEqual(['/', '/bin', '/bin/busybox', '/bin/ls', '/bin/sh', '/dev']);
    expect(paths).toContain('/srv/data/readme.txt');
    expect(paths).not.toContain('/etc/motd');
    expect(paths.some((path) => path.includes('.wh.'))).toBe(false);
    expect(paths.filter((path) => path.startsWith('/var/lib/apt/lists/'))).toEqual(['/var/lib/apt/lists/fresh-index']);
  });

  it('filters by --type and --name', async () => {
    expect(await ok(['find', demo, '--type', 'l'])).toBe(
      '/bin/ls\n/bin/sh\n/etc/escape\n/var/log/nginx/access.log\n/var/log/nginx/error.log\n',
    );
    expect(await ok(['find', demo, '/usr', '--name', 'index.htm?'])).toBe('/usr/share/nginx/html/index.html\n');
    expect(await ok(['find', demo, '/var', '--type=d,l', '--name', '*n*'])).toBe(
      '/var/cache/nginx\n/var/log/nginx\n',
    );
    expect(await ok(['find', demo, 'etc/', '--type', 'f'])).toBe('/etc/group\n/etc/nginx/nginx.conf\n/etc/os-release\n/etc/passwd\n');
  });

  it('--json streams one object per entry', async () => {
    const lines = (await ok(['find', '--json', demo, '/var/log'])).trim().split('\n');
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.map((entry) => entry.path)).toEqual([
      '/var/log',
      '/var/log/nginx',
      '/var/log/nginx/access.log',
      '/var/log/nginx/error.log',
    ]);
    expect(entries[2]).toMatchObject({ type: 'symlink', mode: 0o777, uid: 101, gid: 101, target: '/dev/stdout', layer: 1 });
    for (const entry of entries) {
      expect(Object.keys(entry)).toEqual(expect.arrayContaining(['path', 'type', 'mode', 'uid', 'gid', 'size', 'mtime', 'target', 'layer']));
    }
  });

  it('fails a missing start (exit 1); a bad --type is a usage error (exit 2)', async () => {
    const missing = await imgfs(['find', demo, '/nope']);
    expect(missing).toMatchObject({ code: 1, stdout: '', stderr: 'imgfs: find: /nope: No such file or directory\n' });
    const badType = await imgfs(['find', demo, '--type', 'x']);
    expect(badType.code).toBe(2);
    expect(badType.stderr).toBe("imgfs: find: --type: unknown type 'x' (use f, d, l, p, c, b, s) (see 'imgfs find --help')\n");
  });

  it('walks several starting paths in the order given, as GNU find; a missing one fails alone (exit 1)', async () => {
    const several = await imgfs(['find', demo, '/var/log', '/nope', 'etc/nginx/', '--type', 'd,l']);
    expect(several).toMatchObject({ code: 1, stderr: 'imgfs: find: /nope: No such file or directory\n' });
    expect(several.stdout).toBe(
      '/var/log\n/var/log/nginx\n/var/log/nginx/access.log\n/var/log/nginx/error.log\n/etc/nginx\n',
    );
    const json = (await ok(['find', '--json', demo, '/etc/nginx', '/bin/sh'])).trim().split('\n');
    expect(json.map((line) => (JSON.parse(line) as { path: string }).path)).toEqual(['/etc/nginx', '/etc/nginx/nginx.conf', '/bin/sh']);
  });
});

describe('layers', () => {
  it('prints one row per layer with sizes, counts and created_by', async () => {
    const lines = (await ok(['layers', demo])).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^INDEX +DIGEST +MEDIA TYPE +COMPRESSION +SIZE +UNCOMPRESSED +ENTRIES +WHITEOUTS +CREATED BY$/);
    expect(lines).toHaveLength(5);
    expect(lines[2]).toMatch(/^ +1 +sha256:[0-9a-f]{12} +- +none +\d+ +\d+ +\d+ +1 +\/bin\/sh -c apk add nginx && rm \/etc\/motd$/);
  });

  it('--json gives an array', async () => {
    const layers = JSON.parse(await ok(['layers', '--json', demo])) as Array<Record<string, unknown>>;
    expect(layers.map((layer) => layer.index)).toEqual([0, 1, 2, 3]);
    expect(layers[1]).toMatchObject({ compression: 'none', whiteouts: 1, createdBy: expect.stringContaining('apk add nginx') });
    expect(layers[2]).toMatchObject({ whiteouts: 1 });
    for (const layer of layers) {
      expect(layer.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(layer.size).toEqual(expect.any(Number));
      expect(layer.uncompressedSize).toEqual(expect.any(Number));
      expect(layer.entries).toEqual(expect.any(Number));
    }
  });
});

describe('history', () => {
  it('says which layer added, deleted or hid a path', async () => {
    const text = await ok(['history', demo, '/etc/motd', '/var/lib/apt/lists/old-index']);
    expect(text).toMatch(/^\/etc\/motd: not visible\n/);
    expect(text).toMatch(/\n +0 +sha256:[0-9a-f]{12} +added +file\n +1 +sha256:[0-9a-f]{12} +deleted by whiteout\n/);
    expect(text).toMatch(/\n\/var\/lib\/apt\/lists\/old-index: not visible\n/);
    expect(text).toMatch(/\n +2 +sha256:[0-9a-f]{12} +hidden by opaque directory\n/);
  });

  it('--json has one entry per layer', async () => {
    const json = JSON.parse(await ok(['history', '--json', demo, '/srv/data'])) as {
      path: string;
      visible: boolean;
      layers: Array<{ index: number; action: string; type: string | null; digest: string }>;
    };
    expect(json.path).toBe('/srv/data');
    expect(json.visible).toBe(true);
    expect(json.layers.map((layer) => layer.action)).toEqual(['added', 'untouched', 'modified', 'untouched']);
    expect(json.layers[2]?.type).toBe('dir');
  });

  it('a path no layer ever had fails with exit 1', async () => {
    const result = await imgfs(['history', demo, '/never', '/etc/passwd']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('imgfs: history: /never: No such file or directory\n');
    expect(result.stdout).toMatch(/^\/etc\/passwd: visible\n/);
  });
});

describe('diff', () => {
  it('shows per layer what was added, changed and deleted; whiteouts as deletions only', async () => {
    const text = await ok(['diff', demo]);
    expect(text).not.toContain('.wh.');
    const layer1 = text.split('\n\n')[1] ?? '';
    expect(layer1.split('\n')[0]).toMatch(/^layer 1 \(sha256:[0-9a-f]{64}\):$/);
    expect(layer1).toContain('\nD /etc/motd\n');
    expect(layer1).toContain('\nA /usr/share/nginx/html/index.html\n');
    expect(layer1).toContain('\nC /etc\n');
  });

  it('--layer N prints that layer only, without a header', async () => {
    expect(await ok(['diff', '--layer', '3', demo])).toBe('C /usr\nC /usr/local\nC /usr/local/bin\nC /usr/local/bin/entrypoint.sh\n');
  });

  it('--json lists added, modified and deleted paths', async () => {
    const json = JSON.parse(await ok(['diff', '--json', '--layer=2', demo])) as Array<Record<string, unknown>>;
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({
      layer: 2,
      added: ['/etc/escape', '/srv/data/readme.txt', '/var/lib/apt/lists/fresh-index'],
      deleted: ['/var/lib/apt/lists/lock', '/var/lib/apt/lists/old-index', '/var/lib/apt/lists/partial'],
    });
    expect(json[0]?.modified).toContain('/srv/data');
  });

  it('rejects a layer that does not exist', async () => {
    const result = await imgfs(['diff', '--layer', '4', demo]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("imgfs: diff: --layer: '4' is not a layer index (0 to 3) (see 'imgfs diff --help')\n");
  });
});

describe('export', () => {
  it('tar -t of the export lists exactly what find lists', async () => {
    const result = await sh(`$IMGFS export --no-cache '${demo}' | tar -tf -`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const fromTar = result.stdout.trim().split('\n').map((name) => `/${name.replace(/\/$/, '')}`);
    const fromFind = (await ok(['find', demo])).trim().split('\n').slice(1); // find also prints the root
    expect(fromTar).toEqual(fromFind);
  });

  it('keeps owners, modes, symlinks and hard links, and is deterministic', async () => {
    const first = await imgfs(['export', demo]);
    const second = await imgfs(['export', demo]);
    expect(first.code).toBe(0);
    expect(first.stderr).toBe('');
    expect(first.raw.equals(second.raw)).toBe(true);
    const listing = execFileSync('tar', ['-tvf', '-', '--numeric-owner'], { input: first.raw, env: { ...process.env, TZ: 'UTC' } }).toString();
    const line = (name: string): string => listing.split('\n').find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} `)) ?? '';
    expect(line('usr/bin/passwd')).toMatch(/^-rwsr-xr-x 0\/0 +37 2024-01-01 00:00 usr\/bin\/passwd$/);
    expect(line('tmp/')).toMatch(/^drwxrwxrwt 0\/0 /);
    expect(line('srv/data/')).toMatch(/^drwxr-x--- 101\/101 /);
    expect(line('bin/sh')).toMatch(/^lrwxrwxrwx 0\/0 +0 .* bin\/sh -> busybox$/);
    expect(line('usr/share/nginx/html/index.html')).toMatch(
      /^hrw-r--r-- 101\/101 +0 .* usr\/share\/nginx\/html\/index.html link to usr\/share\/nginx\/html\/index.htm$/,
    );
  });

  it('-o FILE writes the same archive to a file', async () => {
    const out = join(dir, 'export.tar');
    const result = await imgfs(['export', '-o', out, demo]);
    expect(result).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(out).equals((await imgfs(['export', demo])).raw)).toBe(true);
  });

  it('an -o FILE that cannot be written fails with exit 1', async () => {
    const result = await imgfs(['export', '-o', join(dir, 'no/such/dir/x.tar'), demo]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`imgfs: export: ${join(dir, 'no/such/dir/x.tar')}: No such file or directory\n`);
  });

  it('carries sub-second mtimes and xattrs in PAX records', async () => {
    const raw = (await imgfs(['export', demo])).raw;
    const text = raw.toString('latin1');
    expect(text).toContain('mtime=1704153600.5\n');
    expect(text).toContain('SCHILY.xattr.user.imgfs.demo=hello\n');
  });
});

describe('global options', () => {
  it('--ref picks a tag; an unknown tag is exit 2 with one line', async () => {
    expect(await ok(['ls', '--ref', 'imgfs/demo:latest', demo, '/srv'])).toBe('data\n');
    const result = await imgfs(['ls', '--ref', 'nope:1', demo]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')).toHaveLength(2); // one line and its newline
    expect(result.stderr).toMatch(new RegExp(`^imgfs: ${demo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ENOREF: `));
  });

  it('--cache-dir: a second run from the cached index gives the same output', async () => {
    const cache = join(dir, 'cache');
    const first = await ok(['ls', '-l', '--cache-dir', cache, demo, '/var/cache']);
    expect(first).toContain(' nginx nginx ');
    expect(await ok(['ls', '-l', '--cache-dir', cache, demo, '/var/cache'])).toBe(first);
  });

  it('global options may come before the command', async () => {
    expect(await ok(['--quiet', '--ref', 'imgfs/demo:latest', 'ls', demo, '/srv'])).toBe('data\n');
  });
});
