/**
 * `fileRegion`: where a range of a source lies in an open file, which `imgfs mount` hands its C read
 * path. It must name exactly the bytes the source would read, and nothing outside the source's window.
 */
import { readSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { FileSource } from '../../lib/source/file-source.js';
import { SliceSource } from '../../lib/source/slice-source.js';

describe('fileRegion', () => {
  let dir = '';
  let path = '';
  const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imgfs-region-'));
    path = join(dir, 'archive.bin');
    await writeFile(path, bytes);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names the bytes a slice of a file reads: pread at the region gives what read() gives', async () => {
    const file = await FileSource.open(path);
    const slice = new SliceSource(new SliceSource(file, 1000, 2000, 'outer'), 100, 500, 'inner');
    const region = slice.fileRegion?.(10, 50);
    expect(region?.offset).toBe(1110);
    const viaRegion = Buffer.alloc(50);
    readSync(region?.fd ?? -1, viaRegion, 0, 50, region?.offset ?? 0);
    expect(viaRegion).toEqual(await slice.read(10, 50));
    await file.close();
  });

  it('has none for a range that leaves the window, for a closed source, or for bytes not in a file', async () => {
    const file = await FileSource.open(path);
    const slice = new SliceSource(file, 1000, 500, 'member');
    expect(slice.fileRegion?.(490, 11)).toBeUndefined();
    expect(slice.fileRegion?.(-1, 2)).toBeUndefined();
    expect(file.fileRegion(4000, 97)).toBeUndefined();
    await slice.close();
    expect(slice.fileRegion?.(0, 1)).toBeUndefined();
    await file.close();
    expect(file.fileRegion(0, 1)).toBeUndefined();
    expect(new SliceSource(new BufferSource(bytes, 'memory'), 0, 10, 'slice').fileRegion).toBeUndefined();
  });
});
