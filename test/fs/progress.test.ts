import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { IndexProgress } from '../../lib/index.js';
import { openLayers } from '../helpers/open-layers.js';
import type { LayerEntrySpec } from '../helpers/layer-tar.js';

const manyFiles = (prefix: string, count: number): LayerEntrySpec[] =>
  // Incompressible content, so that a gzip layer is large enough to be read in many pieces.
  Array.from({ length: count }, (_, i) => ({ type: 'file', name: `${prefix}/f${i}`, content: randomBytes(600 + (i % 50)) }));

describe('onProgress', () => {
  for (const gzip of [false, true]) {
    it(`reports stored bytes while a large ${gzip ? 'gzip' : 'plain'} layer is walked, not only when it is done`, async () => {
      const reports: IndexProgress[] = [];
      const { fs } = await openLayers([manyFiles('a', 4000), manyFiles('b', 10)], { gzip, onProgress: (p) => reports.push({ ...p }) });
      const total = fs.layers.reduce((sum, layer) => sum + layer.size, 0);
      expect(reports.every((report) => report.bytesTotal === total)).toBe(true);
      const during = reports.filter((report) => report.layer === 0 && report.bytesDone < total);
      expect(new Set(during.map((report) => report.bytesDone)).size).toBeGreaterThanOrEqual(3);
      expect(reports.at(-1)?.bytesDone).toBe(total);
      // Each walk is announced before its first member (the CLI tunes V8 for a long one then).
      expect(reports.find((report) => report.layer === 0)?.layerBytesDone).toBe(0);
      expect(reports.every((report) => report.bytesDone <= total)).toBe(true);
    });
  }
});
