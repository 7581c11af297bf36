/**
 * Opening `docker://HOST/REPO[:TAG|@DIGEST]`: the registry's manifest (or index, a platform then chosen
 * as for any OCI layout) and config are fetched and checked against their digests; the layers are
 * HttpBlobSources that fetch nothing until a question reaches them, and check themselves against
 * their digests as they are first streamed.
 */
import { parseImageReference } from '../registry/image-reference.js';
import { RegistryClient } from '../registry/registry-client.js';
import { HttpBlobSource } from '../source/http-blob-source.js';
import type { ImageConfig, LayerBlob, LoadOptions } from './loaded-image.js';
import { loadOciLayout } from './oci-layout.js';
import { RegistryLayoutFiles } from './registry-layout-files.js';

export interface RegistryImage {
  layers: LayerBlob[];
  config: ImageConfig;
  close(): Promise<void>;
}

/** `name` is what follows `docker://`. */
export async function loadRegistryImage(name: string, options: LoadOptions = {}): Promise<RegistryImage> {
  const ref = parseImageReference(name);
  const client = new RegistryClient(ref, { auth: options.auth, network: options.network });
  let files: RegistryLayoutFiles | undefined;
  try {
    files = await RegistryLayoutFiles.open(client);
    // The made-up index names the image by its tag; `--ref` does not apply to a registry name.
    const image = await loadOciLayout(files, { ...options, ref: undefined, verify: true });
    const layers = image.layers.map((layer) => (layer.blob instanceof HttpBlobSource ? { ...layer, selfVerifying: layer.blob } : layer));
    const opened = files;
    return { layers, config: image.config, close: () => opened.close() };
  } catch (error) {
    if (files !== undefined) await files.close();
    else client.close();
    throw error;
  }
}
