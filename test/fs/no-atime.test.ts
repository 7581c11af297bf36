/**
 * Reading an image changes nothing about it, not even its files' access times: with relatime (the
 * usual mount option) the first read of a file whose atime is older than its mtime writes the inode,
 * a metadata write into the user's image (and 4 KiB in the reader's /proc/PID/io write_bytes, which the
 * mount benchmark counts). imgfs opens what it reads with O_NOATIME where the kernel allows it.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { writeOciDir } from '../hostile/oci-writer.js';

const scratch = mkdtempSync(join(tmpdir(), 'imgfs-noatime-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Every file under `dir`. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

const OLD = new Date('2001-02-03T04:05:06Z');

describe.skipIf(process.platform !== 'linux')('reading an image', () => {
  it("leaves every file's access time as it was (OCI layout directory: documents and layer blobs)", async () => {
    const root = join(scratch, 'layout');
    await writeOciDir(root, { layers: [{ bytes: buildLayer([file('etc/motd', 'hello\n'), file('usr/bin/tool', Buffer.alloc(5000, 7))]) }] });
    const files = filesUnder(root);
    // An atime older than the mtime: relatime updates it at the next read.
    for (const path of files) utimesSync(path, OLD, statSync(path).mtime);
    const img = await openImage(root, { cache: false });
    try {
      expect(await img.readFile('/etc/motd', 'utf8')).toBe('hello\n');
      expect((await img.readFile('/usr/bin/tool')).length).toBe(5000);
    } finally {
      await img.close();
    }
    const touched = files.filter((path) => statSync(path).atime.getTime() !== OLD.getTime());
    expect(touched).toEqual([]);
  });
});
