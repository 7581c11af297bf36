/**
 * What opening a layer reads, before any question reaches it (issue #14: a warm lookup opens every
 * layer of the image): a plain layer's footer once (no table of contents there) and its first bytes
 * once (no compression), nothing else.
 */
import { describe, expect, it } from 'vitest';
import { openLayerReader } from '../../lib/layer/open-layer-reader.js';
import { resolveLimits } from '../../lib/limits.js';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { buildLayer, file } from '../helpers/layer-tar.js';
import { ObservedSource } from '../helpers/observed-source.js';

describe('opening a plain layer', () => {
  it('reads its footer once and its first four bytes once', async () => {
    const layer = buildLayer([file('etc/motd', 'hello\n'), file('usr/bin/tool', Buffer.alloc(5000, 7))]);
    const stored = new ObservedSource(new BufferSource(layer, 'layer.tar'));
    const reader = await openLayerReader(stored, {
      limits: resolveLimits(undefined),
      storedSize: layer.length,
      annotations: {},
      warn: () => undefined,
      layer: { index: 0, digest: undefined },
      cacheBytes: 0,
      sidecar: undefined,
    });
    expect(reader.compression).toBe('none');
    const tail = stored.reads.filter(([offset, length]) => offset + length === layer.length && offset > 0);
    expect(tail).toHaveLength(1);
    expect(stored.reads.filter(([offset]) => offset === 0)).toEqual([[0, 4]]);
    expect(stored.reads).toHaveLength(2);
  });
});
