import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseTypes } from '../../lib/cli/commands/find.js';
import { describeError, isPathError } from '../../lib/cli/errors.js';
import { Output, PipeClosed } from '../../lib/cli/output.js';
import { parseIdFile } from '../../lib/cli/passwd.js';
import { baseName, joinPath } from '../../lib/cli/paths.js';
import { ProgressBar } from '../../lib/cli/progress.js';
import { compareNameBytes, comparePaths, FsError, ImgfsError } from '../../lib/index.js';

describe('parseIdFile', () => {
  it('maps ids to the first name, skipping comments and malformed lines', () => {
    const names = parseIdFile(
      ['root:x:0:0:root:/root:/bin/sh', '# comment', '', 'nginx:x:101:101::/:/sbin/nologin', 'dup:x:101:1::/:', '+nis', 'bad:x:abc:1', 'nobody:*:65534:65534:::'].join(
        '\n',
      ),
    );
    expect([...names]).toEqual([
      [0, 'root'],
      [101, 'nginx'],
      [65534, 'nobody'],
    ]);
  });
  it('reads group(5) lines too', () => {
    expect(parseIdFile('wheel:x:10:root,alice\nnginx:x:101:\n').get(101)).toBe('nginx');
  });
});

describe('paths', () => {
  it('joinPath does not double a slash', () => {
    expect(joinPath('/', 'etc')).toBe('/etc');
    expect(joinPath('etc/', 'passwd')).toBe('etc/passwd');
    expect(joinPath('/etc', 'passwd')).toBe('/etc/passwd');
  });
  it('baseName', () => {
    expect(baseName('/etc/passwd')).toBe('passwd');
    expect(baseName('/etc/')).toBe('etc');
    expect(baseName('/')).toBe('/');
  });
  it('compareNameBytes is UTF-8 byte order', () => {
    // U+FF01 (EF BC 81) sorts before U+1F600 (F0 9F 98 80) in bytes, after it in UTF-16 units.
    expect(compareNameBytes('\uff01', '😀')).toBeLessThan(0);
    expect(compareNameBytes('a', 'b')).toBeLessThan(0);
    expect(compareNameBytes('a', 'ab')).toBeLessThan(0);
    expect(compareNameBytes('B', 'a')).toBeLessThan(0);
  });
  it('comparePaths puts a directory before its children and after smaller siblings', () => {
    const paths = ['/a-c', '/a/b', '/a', '/', '/b', '/a/b/c', '/\uff01', '/😀'];
    expect(paths.sort(comparePaths)).toEqual(['/', '/a', '/a/b', '/a/b/c', '/a-c', '/b', '/\uff01', '/😀']);
  });
});

describe('error classification', () => {
  it('path errors are worth exit 1; image errors are not path errors', () => {
    expect(isPathError(new FsError('ENOENT', 'stat', '/x'))).toBe(true);
    expect(isPathError(new ImgfsError('ETRUNCATED', 'short read'))).toBe(false);
    expect(isPathError(new Error('plain'))).toBe(false);
    expect(describeError(new FsError('ENOENT', 'stat', '/x'))).toBe('No such file or directory');
    expect(describeError(new FsError('EISDIR', 'read', '/x'))).toBe('Is a directory');
    expect(describeError(new FsError('ELOOP', 'stat', '/x'))).toBe('Too many levels of symbolic links');
  });
});

describe('find --type', () => {
  it('takes comma lists and repeated options', () => {
    expect(parseTypes([])).toBeUndefined();
    expect(parseTypes(['f,d', 'l'])).toEqual(new Set(['file', 'dir', 'symlink']));
    expect(() => parseTypes(['f,x'])).toThrow("unknown type 'x'");
  });
});

describe('Output', () => {
  it('batches lines and writes them on flush', async () => {
    const stream = new PassThrough();
    const out = new Output(stream);
    await out.line('a');
    await out.line('b');
    expect(stream.read()).toBeNull();
    await out.flush();
    expect(String(stream.read())).toBe('a\nb\n');
  });

  it('turns EPIPE into PipeClosed', async () => {
    const stream = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const out = new Output(stream);
    await expect(
      (async () => {
        for (let i = 0; i < 100; i++) await out.write(Buffer.alloc(1024));
      })(),
    ).rejects.toBeInstanceOf(PipeClosed);
  });

  it('waits for drain when the reader is slow', async () => {
    const stream = new PassThrough({ highWaterMark: 4 });
    const out = new Output(stream);
    let done = false;
    const writing = out.write('0123456789').then(() => out.write('more').then(() => (done = true)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false);
    stream.resume();
    await writing;
    expect(done).toBe(true);
  });
});

describe('ProgressBar', () => {
  function capture(): { stream: Writable; text: () => string } {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(String(chunk));
        callback();
      },
    });
    return { stream, text: () => chunks.join('') };
  }

  it('stays silent during the first second', () => {
    const { stream, text } = capture();
    let now = 0;
    const bar = new ProgressBar(stream, { enabled: true, now: () => now });
    now = 500;
    bar.update({ layer: 0, bytesDone: 10, bytesTotal: 100 });
    bar.done();
    expect(text()).toBe('');
  });

  it('draws after a second and erases itself when done', () => {
    const { stream, text } = capture();
    let now = 0;
    const bar = new ProgressBar(stream, { enabled: true, now: () => now, columns: 80 });
    now = 1500;
    bar.update({ layer: 0, bytesDone: 512 * 1024, bytesTotal: 1024 * 1024 });
    bar.done();
    expect(text()).toBe(`\r[####################--------------------] indexing 512.0 KiB / 1.0 MiB  50%\x1b[K\r\x1b[K`);
  });

  it('draws nothing when disabled (not a terminal, or --quiet)', () => {
    const { stream, text } = capture();
    let now = 0;
    const bar = new ProgressBar(stream, { enabled: false, now: () => now });
    now = 5000;
    bar.update({ layer: 0, bytesDone: 1, bytesTotal: 2 });
    bar.done();
    expect(text()).toBe('');
  });
});
