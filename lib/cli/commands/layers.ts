/** `imgfs layers`: one row per layer, bottom first, with what its tar holds and the step that made it. */

import type { LayerInfo } from '../../index.js';
import type { CommandSpec } from '../context.js';
import { shortDigest, table } from '../format.js';

export const layers: CommandSpec = {
  name: 'layers',
  summary: 'list the layers, bottom first',
  usage: '[--json] [--no-trunc] IMAGE',
  options: [
    { long: 'json', help: 'a JSON array of layers' },
    { long: 'no-trunc', help: 'full digests and created_by' },
  ],
  paths: { min: 0, max: 0 },
  async run(ctx) {
    if (ctx.args.flags.has('json')) {
      await ctx.out.line(JSON.stringify(ctx.img.layers.map(layerJson), null, 2));
      return;
    }
    const full = ctx.args.flags.has('no-trunc');
    const rows = [
      ['INDEX', 'DIGEST', 'MEDIA TYPE', 'COMPRESSION', 'SIZE', 'UNCOMPRESSED', 'ENTRIES', 'WHITEOUTS', 'CREATED BY'],
      ...ctx.img.layers.map((layer) => [
        String(layer.index),
        full ? (layer.digest ?? '-') : shortDigest(layer.digest),
        layer.mediaType ?? '-',
        layer.compression,
        String(layer.size),
        String(layer.uncompressedSize ?? '-'),
        String(layer.entries),
        String(layer.whiteouts),
        createdBy(layer.createdBy, full),
      ]),
    ];
    for (const line of table(rows, new Set([0, 4, 5, 6, 7]))) await ctx.out.line(line);
  },
};

export function layerJson(layer: LayerInfo): Record<string, string | number | null> {
  return {
    index: layer.index,
    digest: layer.digest ?? null,
    diffId: layer.diffId ?? null,
    mediaType: layer.mediaType ?? null,
    compression: layer.compression,
    size: layer.size,
    uncompressedSize: layer.uncompressedSize ?? null,
    entries: layer.entries ?? null,
    whiteouts: layer.whiteouts ?? null,
    createdBy: layer.createdBy ?? null,
  };
}

/** One line; long commands cut at 60 characters unless --no-trunc. */
function createdBy(text: string | undefined, full: boolean): string {
  if (text === undefined) return '-';
  const line = text.replace(/\s+/g, ' ').trim();
  return full || line.length <= 60 ? line : `${line.slice(0, 59)}…`;
}
