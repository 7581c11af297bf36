/**
 * Mutated gzip and zstd streams of a valid layer: the decoders must turn every damage into
 * ECOMPRESSION or ETRUNCATED (or, where the damaged stream still decodes, whatever the tar walker makes
 * of the bytes), never a raw zlib or zstd error, a RangeError from a decoder, or a hang.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLayer, dir, file, symlink } from '../../helpers/layer-tar.js';
import { rawBlocks, zstdFrame } from '../zstd-frames.js';
import { check, exercise, mutate, mutationsArb, propertyTimeout } from './fuzz-harness.js';

const text = 'the quick brown fox jumps over the lazy dog\n'.repeat(200);
const layer = buildLayer([
  dir('usr/'),
  file('usr/share/doc/readme', text),
  file('usr/bin/tool', Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 131) % 256))),
  symlink('usr/bin/alias', 'tool'),
  file('etc/conf', 'key=value\n'),
]);
const gzip = gzipSync(layer);
const gzipMembers = Buffer.concat([gzipSync(layer.subarray(0, 10_240)), gzipSync(layer.subarray(10_240))]);
const zstd = execFileSync('zstd', ['-q', '-c', '-3'], { input: layer });
const zstdChecked = execFileSync('zstd', ['-q', '-c', '-19', '--check'], { input: layer });
const zstdFrames = Buffer.concat([zstdFrame({ blocks: rawBlocks(layer.subarray(0, 4096)) }), execFileSync('zstd', ['-q', '-c'], { input: layer.subarray(4096) })]);

const dir0 = mkdtempSync(join(tmpdir(), 'imgfs-fuzz-z-'));
afterAll(() => rmSync(dir0, { recursive: true, force: true }));
let counter = 0;
function write(name: string, bytes: Buffer): string {
  const path = join(dir0, `${counter++}-${name}`);
  writeFileSync(path, bytes);
  return path;
}

/** Hot positions: the stream's header and its end (trailer, checksum, last block). */
function hot(stream: Buffer): number[] {
  return [0, Math.max(0, stream.length - 512)];
}

describe('fuzz: mutated compressed layers', () => {
  it('the unmutated streams open (sanity)', async () => {
    for (const [name, stream] of [
      ['gz', gzip],
      ['members.gz', gzipMembers],
      ['zst', zstd],
      ['checked.zst', zstdChecked],
      ['frames.zst', zstdFrames],
    ] as const) {
      expect(await exercise([write(name, stream)]), name).toBe('view');
    }
  });

  for (const [name, stream] of [
    ['gzip', gzip],
    ['multi-member gzip', gzipMembers],
    ['zstd', zstd],
    ['zstd with checksum', zstdChecked],
    ['zstd, hand-made raw frame then a CLI frame', zstdFrames],
  ] as const) {
    it(
      `${name}: a view or a typed error`,
      async () => {
        await check(name, mutationsArb(hot(stream), 3), async (mutations) => exercise([write('m', mutate(stream, mutations))]));
      },
      propertyTimeout(),
    );
  }
});
