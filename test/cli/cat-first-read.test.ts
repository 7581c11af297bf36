/**
 * `cat` reads a file's first 64 KiB in one read, without a stream, and streams only what follows
 * (lib/cli/commands/cat.ts). Files around that size must come out byte for byte, several per command,
 * from an uncompressed and a gzip layer, with symlinks followed and errors per path as before.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeImage } from '../helpers/image-builder.js';
import { buildLayer, file, symlink } from '../helpers/layer-tar.js';
import { randomBytes } from '../source/helpers.js';
import { imgfs } from './run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'imgfs-cat-first-read-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const KiB = 1024;
const sizes = [0, 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 200 * KiB + 7];
const contents = sizes.map((size, i) => randomBytes(size, i + 1));

describe('cat', () => {
  for (const compression of ['none', 'gzip'] as const) {
    it(`writes files of ${sizes.join(', ')} bytes byte for byte, warm and cold (${compression} layer)`, async () => {
      const layer = buildLayer([...sizes.map((size, i) => file(`data/f${size}`, contents[i])), symlink('data/link', `f${64 * KiB}`)]);
      const image = await writeImage(join(scratch, compression), [layer], { format: 'oci-dir', compression });
      const cache = join(scratch, `cache-${compression}`);
      const paths = [...sizes.map((size) => `/data/f${size}`), '/data/link'];
      const expected = Buffer.concat([...contents, contents[3] as Buffer]);
      for (const run of ['cold', 'warm']) {
        const result = await imgfs(['cat', '--cache-dir', cache, image, ...paths]);
        expect(result.code, `${run}: ${result.stderr}`).toBe(0);
        expect(result.raw.equals(expected), run).toBe(true);
      }
      const failed = await imgfs(['cat', '--cache-dir', cache, image, '/data', '/data/f1', '/nope']);
      expect(failed.code).toBe(1);
      expect(failed.raw.equals(contents[1] as Buffer)).toBe(true);
      expect(failed.stderr).toContain('/data: Is a directory');
      expect(failed.stderr).toContain('/nope: No such file or directory');
    });
  }
});
