/**
 * An image file is told from a layer tar by its first member: a big layer tar given as IMAGE is not
 * read past its first header window on open (it used to get a full header pass, warm too).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyByFirstMember } from '../../lib/image/first-members.js';
import { loadImage } from '../../lib/image/load-image.js';
import { buildLayer, dir, file, symlink, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { packTar, writeImage } from '../helpers/image-builder.js';
import { MemorySource } from '../tar/memory-source.js';
import { sampleLayers, scratch } from './fixtures.js';

const tmp = scratch('first-members');

/** A root filesystem of `count` 4 KiB files under `usr/lib/`, after the usual top directories. */
function bigLayer(count: number): Buffer {
  const entries: LayerEntrySpec[] = [dir('./'), symlink('bin', 'usr/bin'), dir('usr/'), dir('usr/lib/')];
  for (let i = 0; i < count; i++) entries.push(file(`usr/lib/f${i}`, Buffer.alloc(4096, i % 251)));
  return buildLayer(entries);
}

describe('classifyByFirstMember', () => {
  it('calls a 4 MB layer tar a layer after reading only its first header window', async () => {
    const source = new MemorySource(bigLayer(1_000));
    expect((await classifyByFirstMember(source)).kind).toBe('layer');
    const furthest = Math.max(...source.reads.map((r) => r.offset + r.returned));
    expect(furthest).toBeLessThanOrEqual(64 * 1024);
    expect(source.bytesRead).toBeLessThanOrEqual(64 * 1024);
  });

  it('calls every image archive the test builder writes an archive', async () => {
    for (const format of ['docker-archive', 'docker-legacy', 'oci-archive'] as const) {
      const path = await writeImage(await tmp(), sampleLayers, { format });
      const { FileSource } = await import('../../lib/source/file-source.js');
      const source = await FileSource.open(path);
      try {
        expect((await classifyByFirstMember(source)).kind, format).toBe('archive');
      } finally {
        await source.close();
      }
    }
  });

  it('calls a hand-made archive that starts with a config or layer file an archive', async () => {
    for (const first of ['cfg.json', 'l.tar', 'manifest.json']) {
      const bytes = await packTar([{ name: first, data: '{}' }, { name: 'manifest.json', data: '[]' }]);
      expect((await classifyByFirstMember(new MemorySource(bytes))).kind, first).toBe('archive');
    }
  });

  it('says "not a tar" only for a file whose first header is not one', async () => {
    const verdict = await classifyByFirstMember(new MemorySource(Buffer.alloc(2048, 0x41)));
    expect(verdict.kind).toBe('not-tar');
    expect((await classifyByFirstMember(new MemorySource(buildLayer([])))).kind).toBe('layer');
  });
});

describe('loadImage of a single layer tar', () => {
  it('opens it as a layer without reading past its first members (its damaged tail is not reached)', async () => {
    const layer = bigLayer(1_000);
    // Garbage after the first 1 MiB: a full header pass over the file would fail on it.
    layer.fill(0x41, 1024 * 1024);
    const path = join(await tmp(), 'layer.tar');
    await writeFile(path, layer);
    const image = await loadImage(path);
    try {
      expect(image.format).toBe('layers');
      expect(image.layers).toHaveLength(1);
    } finally {
      await image.close();
    }
  });
});
