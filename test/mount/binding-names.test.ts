/**
 * How the package's own build (names as UTF-8) lets a name that loses bytes on the way to the kernel
 * be looked up as the kernel shows it: the mount test (mount-prebuilt-binding.test.ts) checks it
 * through the kernel; these are the cases an image seldom holds.
 */
import { describe, expect, it } from 'vitest';
import { utf8Names } from '../../lib/mount/binding-names.js';

describe('utf8Names (the prebuilt binding)', () => {
  it('finds a listed name by the form with U+FFFD that the kernel shows, in nested directories too', () => {
    const names = utf8Names();
    names.listed?.('/', ['bin', 'd\udce9j\udce0']);
    names.listed?.('/d\udce9j\udce0', ['caf\udce9', 'plain']);
    expect(names.fromKernel('/d\ufffdj\ufffd')).toBe('/d\udce9j\udce0');
    expect(names.fromKernel('/d\ufffdj\ufffd/caf\ufffd')).toBe('/d\udce9j\udce0/caf\udce9');
    expect(names.fromKernel('/d\ufffdj\ufffd/plain')).toBe('/d\udce9j\udce0/plain');
    expect(names.fromKernel('/bin/caf\ufffd')).toBe('/bin/caf\ufffd');
    expect(names.fromKernel('/')).toBe('/');
    // Handed to the binding unchanged: its own conversion makes the U+FFFD.
    expect(names.toKernel('caf\udce9')).toBe('caf\udce9');
  });

  it('keeps a name that holds U+FFFD itself, serves the first of two that show the same, and leaves pairs alone', () => {
    const names = utf8Names();
    names.listed?.('/a', ['caf\ufffd', 'caf\udce9']);
    expect(names.fromKernel('/a/caf\ufffd')).toBe('/a/caf\ufffd');
    names.listed?.('/b', ['x\udce8', 'x\udce9']);
    expect(names.fromKernel('/b/x\ufffd')).toBe('/b/x\udce8');
    // U+1F480 is the pair D83D DC80: valid UTF-16, shown as it is.
    names.listed?.('/c', ['\ud83d\udc80']);
    expect(names.fromKernel('/c/\ud83d\udc80')).toBe('/c/\ud83d\udc80');
    names.listed?.('/d', ['caf\udce9']);
    names.listed?.('/d', ['caf\ufffd']);
    expect(names.fromKernel('/d/caf\ufffd'), 'a later page').toBe('/d/caf\ufffd');
    // Another mount's names are its own.
    expect(utf8Names().fromKernel('/b/x\ufffd')).toBe('/b/x\ufffd');
  });

  it('lists, for a lookup, each directory on the way whose shown name it has not seen, once', async () => {
    const names = utf8Names();
    const tree: Record<string, string[]> = { '/': ['d\udce9'], '/d\udce9': ['caf\udce9', 'x'] };
    const listedDirs: string[] = [];
    const list = (directory: string): Promise<string[]> => {
      listedDirs.push(directory);
      const children = tree[directory];
      return children === undefined ? Promise.reject(new Error('ENOENT')) : Promise.resolve(children);
    };
    expect(await names.lookUp?.('/d\ufffd/caf\ufffd', list)).toBe('/d\udce9/caf\udce9');
    expect(await names.lookUp?.('/d\ufffd/caf\ufffd', list)).toBe('/d\udce9/caf\udce9');
    expect(await names.lookUp?.('/d\ufffd/x', list)).toBe('/d\udce9/x');
    expect(listedDirs).toEqual(['/', '/d\udce9']);
    // A path without U+FFFD lists nothing; a directory that cannot be listed leaves the name as it is.
    expect(await names.lookUp?.('/etc/passwd', list)).toBe('/etc/passwd');
    expect(await names.lookUp?.('/none/caf\ufffd', list)).toBe('/none/caf\ufffd');
    // A name not there is not listed for again.
    expect(await names.lookUp?.('/d\ufffd/y\ufffd', list)).toBe('/d\udce9/y\ufffd');
    expect(await names.lookUp?.('/d\ufffd/y\ufffd', list)).toBe('/d\udce9/y\ufffd');
    expect(listedDirs).toEqual(['/', '/d\udce9', '/none']);
  });
});
