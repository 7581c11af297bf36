/**
 * The archive changes after it was opened (truncated, or overwritten by another process): reads must
 * fail with a typed ImgfsError naming the layer and the offset where the bytes ran out, whether they
 * come through readFile or through a stream. A stream never just ends early.
 */
import { truncateSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { checkImgfsError, open, put, rejection, tempDir } from './hostile-helpers.js';

const big = Buffer.alloc(300_000, 0x61);
const layer = buildLayer([file('small', 'small'), file('big', big)]);

async function streamed(stream: NodeJS.ReadableStream): Promise<{ bytes: number; error: unknown }> {
  let bytes = 0;
  try {
    for await (const chunk of stream) bytes += (chunk as Buffer).length;
  } catch (error) {
    return { bytes, error };
  }
  return { bytes, error: undefined };
}

describe('a layer file truncated after opening', () => {
  it('readFile is ETRUNCATED naming the layer and where the bytes ran out', async () => {
    const path = put(tempDir(), 'layer.tar', layer);
    const fs = await open([path]);
    truncateSync(path, 100_000);
    const error = await rejection(fs.readFile('/big'));
    checkImgfsError(error, { code: 'ETRUNCATED', layer: 0, offset: 100_000, message: 'content of /big ends after' });
  });

  it('a stream errors with ETRUNCATED too, instead of ending short', async () => {
    const path = put(tempDir(), 'layer.tar', layer);
    const fs = await open([path]);
    truncateSync(path, 100_000);
    const { bytes, error } = await streamed(fs.createReadStream('/big'));
    expect(bytes).toBeLessThan(big.length);
    checkImgfsError(error, { code: 'ETRUNCATED', layer: 0, offset: 100_000, message: 'content of /big ends after' });
  });

  it('files before the cut still read', async () => {
    const path = put(tempDir(), 'layer.tar', layer);
    const fs = await open([path]);
    truncateSync(path, 100_000);
    expect(await fs.readFile('/small', 'utf8')).toBe('small');
  });
});
