/**
 * A small image with what the demo lacks, for the CLI tests: devices, a fifo, setgid and sticky
 * directories, a mode-0 file, a hidden file, a three-name hard link, a 3 MiB file, sub-second mtimes
 * long and non-ASCII names, ids too large for a ustar header, and no /etc/passwd (so owners stay
 * numeric). Layer 1 deletes and hides things, so the merged view
 * differs from the union of the layer tars.
 */
import { writeImage, type WriteImageOptions } from '../helpers/image-builder.js';
import { blockDevice, buildLayer, charDevice, dir, fifo, file, hardlink, opaque, symlink, whiteout } from '../helpers/layer-tar.js';

/** 3 MiB of a repeating, non-trivial pattern. */
export const bigContent: Buffer = Buffer.from(
  Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 7 + (i >> 10)) & 0xff),
);

const MTIME = 1_700_000_000; // 2023-11-14 22:13:20 UTC

export function specialLayers(): Buffer[] {
  return [
    buildLayer([
      dir('dev', { mtime: MTIME }),
      charDevice('dev/null', 1, 3, { mode: 0o666, mtime: MTIME }),
      blockDevice('dev/sda', 8, 0, { mode: 0o660, gid: 6, mtime: MTIME }),
      dir('run', { mtime: MTIME }),
      fifo('run/initctl', { mode: 0o600, mtime: MTIME }),
      dir('srv', { mtime: MTIME }),
      dir('srv/shared', { mode: 0o2775, uid: 4242, gid: 4343, mtime: MTIME }),
      dir('drop', { mode: 0o1770, mtime: MTIME }),
      file('secret', 'top secret\n', { mode: 0, mtime: MTIME }),
      file('.hidden', 'h\n', { mtime: MTIME }),
      file('big.bin', bigContent, { mtime: MTIME }),
      dir('a', { mtime: MTIME }),
      file('a/one', 'same inode\n', { mtime: MTIME, uid: 7, gid: 8 }),
      hardlink('a/two', 'a/one', { mtime: MTIME }),
      hardlink('a/three', 'a/one', { mtime: MTIME }),
      file('gone', 'deleted in layer 1\n', { mtime: MTIME }),
      dir('cache', { mtime: MTIME }),
      file('cache/old', 'hidden by layer 1\n', { mtime: MTIME }),
      file('name with space', 'x', { mtime: MTIME }),
      symlink('link-to-big', 'big.bin', { mtime: MTIME }),
      dir('names', { mtime: MTIME }),
      file(`names/${'x'.repeat(120)}`, 'long name\n', { mtime: MTIME }),
      dir(`names/${'d'.repeat(90)}`, { mtime: MTIME }),
      file(`names/${'d'.repeat(90)}/${'f'.repeat(90)}`, 'long path\n', { mtime: MTIME }),
      file('names/héllo wörld', 'utf-8\n', { mtime: MTIME }),
      file('names/日本語.txt', 'utf-8\n', { mtime: MTIME }),
      symlink('names/long-target', `/${'t'.repeat(150)}`, { mtime: MTIME }),
      file('names/big-owner', '', { mtime: MTIME, uid: 3_000_000, gid: 3_000_001 }),
      symlink('names/loop', 'loop', { mtime: MTIME }),
    ]),
    buildLayer([
      whiteout('gone', { mtime: MTIME }),
      dir('cache', { mtime: MTIME + 60 }),
      opaque('cache', { mtime: MTIME }),
      file('cache/new', 'fresh\n', { mtime: MTIME + 60.25 }),
    ]),
  ];
}

export function writeSpecialImage(dir: string, options: Partial<WriteImageOptions> = {}): Promise<string | string[]> {
  return writeImage(dir, specialLayers(), { format: 'docker-archive', ...options });
}

/** Two layers whose second holds a hard link to a name that exists nowhere: openImage warns. */
export function danglingHardlinkLayers(): Buffer[] {
  return [
    buildLayer([file('kept', 'kept\n', { mtime: MTIME })]),
    buildLayer([hardlink('broken', 'missing/target', { mtime: MTIME }), file('also-kept', '', { mtime: MTIME })]),
  ];
}
