/**
 * F4, bare layers: layer tars given one by one (each a file, uncompressed, gzip or zstd), bottom first.
 * Nothing states their digests or history; compression is sniffed later, from their bytes.
 */
import { statSync } from 'node:fs';
import { ImgfsError } from '../errors.js';
import type { ByteSource } from '../source/byte-source.js';
import { FileSource } from '../source/file-source.js';
import { checkLayerCount } from './layer-limit.js';
import type { LayerBlob } from './loaded-image.js';

/** Opens each path as a layer. `track` receives every source opened, so the caller can close them. */
export async function openBareLayers(paths: readonly string[], track: (source: ByteSource) => void, maxLayers?: number): Promise<LayerBlob[]> {
  if (paths.length === 0) throw new ImgfsError('EIMGFORMAT', 'no layer files given');
  checkLayerCount(paths.length, maxLayers, {});
  const layers: LayerBlob[] = [];
  for (const [index, path] of paths.entries()) {
    if (statSync(path).isDirectory()) {
      throw new ImgfsError('EIMGFORMAT', 'a directory is not a layer tar (only a single path may be an OCI layout)', {
        archive: path,
        layer: { index },
      });
    }
    const source = await FileSource.open(path);
    track(source);
    layers.push(bareLayer(source, path, index));
  }
  return layers;
}

/** A whole source as one layer, e.g. a single layer tar given where an image was expected. */
export function bareLayer(blob: ByteSource, location: string, index = 0): LayerBlob {
  return {
    index,
    blob,
    location,
    digest: undefined,
    diffId: undefined,
    mediaType: undefined,
    size: blob.size ?? 0,
    createdBy: undefined,
  };
}
