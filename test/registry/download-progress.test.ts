/**
 * The progress of a registry image on a terminal: the layer being downloaded, its bytes so far of its
 * size, fed by openImage's onProgress as a lazy question fetches one layer.
 */
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openImage, type IndexProgress } from '../../lib/index.js';
import { ProgressBar } from '../../lib/cli/progress.js';
import { repoRoot } from '../cli/run-cli.js';
import { pushImage, startRegistry, type RunningRegistry } from './registry-server.js';

let registry: RunningRegistry;

beforeAll(async () => {
  registry = await startRegistry();
  await pushImage(`docker-archive:${join(repoRoot, 'fixtures/demo/demo.tar')}`, registry.host, 'demo:latest');
});

afterAll(async () => {
  await registry?.stop();
});

it('reports the bytes of each layer a lazy question downloads, and the bar shows that layer', async () => {
  const reports: IndexProgress[] = [];
  const fs = await openImage(`docker://${registry.host}/demo:latest`, { lazy: true, cache: false, onProgress: (p) => reports.push(p) });
  try {
    await fs.readlink('/bin/sh');
    expect(reports.length).toBeGreaterThan(0);
    for (const report of reports) expect(report.layerBytesTotal).toBe(fs.layers[report.layer]?.size);
    // Each layer the question reached ends reported whole (it was downloaded and indexed).
    for (const layer of new Set(reports.map((report) => report.layer))) {
      expect(reports.filter((report) => report.layer === layer).at(-1)?.layerBytesDone).toBe(fs.layers[layer]?.size);
    }
    const last = reports.at(-1) as IndexProgress;
    const top = last.layer;
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(String(chunk));
        callback();
      },
    });
    let now = 0;
    const bar = new ProgressBar(stream, { enabled: true, perLayer: true, columns: 100, now: () => now });
    now = 1500;
    bar.update(last);
    bar.done();
    expect(chunks.join('')).toContain(`downloading layer ${top}: `);
    expect(chunks.join('')).toContain('100%');
  } finally {
    await fs.close();
  }
});
