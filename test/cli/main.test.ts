/**
 * `main()` in-process, for what a child process with pipes cannot show: a terminal on stdout (ls
 * columns, export refusing to write a tar there) and on stderr (the indexing progress bar).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../lib/cli/context.js';
import { imageSource, main } from '../../lib/cli/main.js';
import { repoRoot } from './run-cli.js';

let dir: string;
let demo: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'imgfs-cli-main-'));
  demo = join(dir, 'demo.tar');
  execFileSync(process.execPath, [join(repoRoot, 'fixtures/make-demo.js'), demo]);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      callback();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

async function runMain(argv: string[], tty: { stdout?: boolean; stderr?: boolean; now?: () => number } = {}) {
  const out = sink();
  const err = sink();
  const io: CliIO = {
    stdout: out.stream,
    stderr: err.stream,
    stdoutIsTTY: tty.stdout ?? false,
    stderrIsTTY: tty.stderr ?? false,
    columns: 40,
    env: { TZ: 'UTC' },
    now: tty.now ?? Date.now,
  };
  const code = await main([...argv, '--no-cache'], io);
  return { code, stdout: out.text(), stderr: err.text() };
}

/** A clock that jumps two seconds at every look, so indexing always seems slow. */
function slowClock(): () => number {
  let now = 0;
  return () => (now += 2000);
}

describe('on a terminal', () => {
  it('ls prints names in columns', async () => {
    const result = await runMain(['ls', demo], { stdout: true });
    expect(result).toEqual({ code: 0, stdout: 'bin  dev  etc  srv  tmp  usr  var\n', stderr: '' });
  });

  it('ls prints one name a line when stdout is not a terminal', async () => {
    expect((await runMain(['ls', demo])).stdout).toBe('bin\ndev\netc\nsrv\ntmp\nusr\nvar\n');
  });

  it('export refuses to write a tar archive to the terminal', async () => {
    const result = await runMain(['export', demo], { stdout: true });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      "imgfs: export: refusing to write a tar archive to a terminal (use -o FILE or a pipe) (see 'imgfs export --help')\n",
    );
  });
});

describe('progress bar', () => {
  it('is drawn on stderr when indexing is slow and stderr is a terminal, then erased', async () => {
    const result = await runMain(['ls', demo, '/srv'], { stderr: true, now: slowClock() });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('data\n');
    expect(result.stderr).toMatch(/^\r\[[#-]+\] indexing .* \/ .*%\x1b\[K/);
    expect(result.stderr).toContain('100%');
    expect(result.stderr.endsWith('\r\x1b[K')).toBe(true);
  });

  it('is not drawn with --quiet', async () => {
    const result = await runMain(['ls', '--quiet', demo, '/srv'], { stderr: true, now: slowClock() });
    expect(result).toEqual({ code: 0, stdout: 'data\n', stderr: '' });
  });

  it('is not drawn when stderr is not a terminal', async () => {
    const result = await runMain(['ls', demo, '/srv'], { stderr: false, now: slowClock() });
    expect(result).toEqual({ code: 0, stdout: 'data\n', stderr: '' });
  });

  it('is not drawn when indexing is fast', async () => {
    const result = await runMain(['ls', demo, '/srv'], { stderr: true, now: () => 0 });
    expect(result).toEqual({ code: 0, stdout: 'data\n', stderr: '' });
  });
});

describe('imageSource', () => {
  it('splits a ":" list of layer tars unless the whole name exists', () => {
    expect(imageSource('a.tar:b.tar')).toEqual(['a.tar', 'b.tar']);
    expect(imageSource('plain.tar')).toBe('plain.tar');
    expect(imageSource(demo)).toBe(demo);
  });
});
