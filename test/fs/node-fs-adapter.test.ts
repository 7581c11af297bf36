import { describe, expect, it } from 'vitest';
import fg from 'fast-glob';
import { openLayers } from '../helpers/open-layers.js';
import type { LayerEntrySpec } from '../helpers/layer-tar.js';

const layers: LayerEntrySpec[][] = [
  [
    { type: 'dir', name: 'usr' },
    { type: 'dir', name: 'usr/lib' },
    { type: 'file', name: 'usr/lib/libc.so.6', content: 'elf' },
    { type: 'file', name: 'usr/lib/libgone.so', content: 'old' },
    { type: 'dir', name: 'etc' },
    { type: 'file', name: 'etc/os-release', content: 'ID=test\n' },
    { type: 'symlink', name: 'lib', target: 'usr/lib' },
  ],
  [
    { type: 'file', name: 'usr/lib/.wh.libgone.so' },
    { type: 'file', name: 'usr/lib/libssl.so.3', content: 'elf' },
    { type: 'file', name: 'etc/ssl/openssl.cnf', content: '[x]' },
  ],
];

describe('asNodeFs', () => {
  it('lets fast-glob, unmodified, list exactly what walk lists', async () => {
    const { fs } = await openLayers(layers);
    const expected: string[] = [];
    for await (const { path, stats } of fs.walk('/')) if (stats.isFile()) expected.push(path);
    const found = await fg('**/*', { cwd: '/', fs: fs.asNodeFs(), absolute: true, dot: true, onlyFiles: true, followSymbolicLinks: false });
    expect(found.sort()).toEqual(expected.sort());
    expect(found).not.toContain('/usr/lib/libgone.so');
    const sync = fg.sync('usr/lib/*.so*', { cwd: '/', fs: fs.asNodeFs() });
    expect(sync.sort()).toEqual(['usr/lib/libc.so.6', 'usr/lib/libssl.so.3']);
  });

  it('answers callback, promise and sync forms with Node-style errors', async () => {
    const { fs } = await openLayers(layers);
    const adapter = fs.asNodeFs();
    const viaCallback = await new Promise<string[]>((resolve, reject) =>
      adapter.readdir('/lib', (error, names) => (error ? reject(error) : resolve(names as string[]))),
    );
    expect(viaCallback).toEqual(['libc.so.6', 'libssl.so.3']);
    expect(await adapter.promises.readlink('/lib')).toBe('usr/lib');
    expect(await adapter.promises.readFile('/etc/os-release', 'utf8')).toBe('ID=test\n');
    const missing = await new Promise<NodeJS.ErrnoException | null>((resolve) => adapter.stat('/nope', (error) => resolve(error)));
    expect(missing?.code).toBe('ENOENT');
    expect(adapter.existsSync('/etc/ssl/openssl.cnf')).toBe(true);
    expect(() => adapter.statSync('/usr/lib/libgone.so')).toThrow(/ENOENT: no such file or directory, stat '\/usr\/lib\/libgone.so'/);
  });
});
