/**
 * Reads the layer tars of an OCI layout directly (gunzip + tar-stream, no imgfs code), to learn which
 * directories have an explicit entry in some layer. The others are implicit (DESIGN.md R6).
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';

interface Descriptor {
  mediaType?: string;
  digest: string;
  annotations?: Record<string, string>;
}

function blobPath(layout: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (!algorithm || !hex) throw new Error(`bad digest ${digest}`);
  return join(layout, 'blobs', algorithm, hex);
}

/** R1 as umoci applies it too: `/`-rooted, `.` and `..` resolved lexically and clamped, no trailing `/`. */
export function normaliseName(name: string): string {
  const path = posix.normalize(`/${name}`);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** Directory paths that have a directory entry in at least one layer of `ref` in the OCI layout. */
export async function explicitDirectories(layout: string, ref: string): Promise<Set<string>> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const descriptor = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (!descriptor) throw new Error(`${layout}: no manifest for ref ${ref}`);
  const manifest = JSON.parse(await readFile(blobPath(layout, descriptor.digest), 'utf8')) as { layers: Descriptor[] };

  const dirs = new Set<string>();
  for (const layer of manifest.layers) {
    const extract = tar.extract();
    const gzip = layer.mediaType?.endsWith('+gzip') ?? false;
    const done = gzip
      ? pipeline(createReadStream(blobPath(layout, layer.digest)), createGunzip(), extract)
      : pipeline(createReadStream(blobPath(layout, layer.digest)), extract);
    for await (const entry of extract) {
      if (entry.header.type === 'directory') dirs.add(normaliseName(entry.header.name));
      entry.resume();
    }
    await done;
  }
  return dirs;
}
