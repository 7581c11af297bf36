import type { ByteSource } from '../source/byte-source.js';
import type { LayerReader, LayerReaderContext, LayerReaderFactory } from './layer-reader.js';
import { openTarPass } from './tar-pass-reader.js';
import { openTocReader } from '../toc/toc-reader.js';

/**
 * Readers that recognise particular layers (by their bytes), tried in order before the tar pass, which
 * reads any layer. A layer with a table of contents registers its reader here.
 */
export const SPECIAL_READERS: readonly LayerReaderFactory[] = [openTocReader];

/** The reader for a layer's stored bytes: the first of `readers` that recognises them, else the tar pass. */
export async function openLayerReader(
  stored: ByteSource,
  context: LayerReaderContext,
  readers: readonly LayerReaderFactory[] = SPECIAL_READERS,
): Promise<LayerReader> {
  for (const open of readers) {
    const reader = await open(stored, context);
    if (reader !== undefined) return reader;
  }
  return openTarPass(stored, context);
}
