/**
 * A small OCI layout writer whose every document can be replaced or edited by the test (a manifest
 * that lies about media types, an index that is not JSON, a descriptor naming `../`), with digests
 * kept consistent wherever the test does not break them itself. image-builder.ts writes honest images;
 * this one writes hostile ones.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { packTar, sha256Digest, hostArchitecture, type OuterEntry } from '../helpers/image-builder.js';

export interface LayerBlobSpec {
  /** The stored blob (already compressed, or not). */
  bytes: Buffer;
  mediaType?: string;
  /** diff_id in the config (default: sha256 of `bytes`, right for uncompressed layers). */
  diffId?: string;
  /** Descriptor digest to state instead of the blob's real one (the blob is stored under the real one). */
  statedDigest?: string;
  /** Descriptor size to state instead of the real one. */
  statedSize?: number;
}

export interface HostileOciSpec {
  layers: LayerBlobSpec[];
  /** Edits the config object before it is serialised. */
  config?: (config: Record<string, unknown>) => unknown;
  /** Edits the manifest object; return a string to store it verbatim. */
  manifest?: (manifest: Record<string, unknown>) => unknown;
  /** Edits index.json; return a string to store it verbatim. */
  index?: (index: Record<string, unknown>) => unknown;
  /** `oci-layout` contents (default the 1.0.0 layout). */
  layout?: string;
  /** Extra members (e.g. symlinks) added to the layout. */
  extra?: OuterEntry[];
}

export interface HostileOci {
  entries: OuterEntry[];
  layerDigests: string[];
}

const serialise = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

/** The members of an OCI layout built from `spec`. */
export function hostileOci(spec: HostileOciSpec): HostileOci {
  const blobs = new Map<string, Buffer | string>();
  const put = (data: Buffer | string): { digest: string; size: number } => {
    const digest = sha256Digest(data);
    blobs.set(digest.slice('sha256:'.length), data);
    return { digest, size: Buffer.byteLength(data) };
  };
  const layerDescriptors = spec.layers.map((layer) => {
    const stored = put(layer.bytes);
    return {
      mediaType: layer.mediaType ?? 'application/vnd.oci.image.layer.v1.tar',
      digest: layer.statedDigest ?? stored.digest,
      size: layer.statedSize ?? stored.size,
    };
  });
  const baseConfig: Record<string, unknown> = {
    architecture: hostArchitecture(),
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: spec.layers.map((layer) => layer.diffId ?? sha256Digest(layer.bytes)) },
    history: spec.layers.map((_, i) => ({ created_by: `layer ${i}` })),
  };
  const config = put(serialise(spec.config ? spec.config(baseConfig) : baseConfig));
  const baseManifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layerDescriptors,
  };
  const manifest = put(serialise(spec.manifest ? spec.manifest(baseManifest) : baseManifest));
  const baseIndex: Record<string, unknown> = {
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }],
  };
  const entries: OuterEntry[] = [
    { name: 'oci-layout', data: spec.layout ?? JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { name: 'index.json', data: serialise(spec.index ? spec.index(baseIndex) : baseIndex) },
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    ...[...blobs].map(([hex, data]): OuterEntry => ({ name: `blobs/sha256/${hex}`, data })),
    ...(spec.extra ?? []),
  ];
  return { entries, layerDigests: layerDescriptors.map((d) => d.digest) };
}

/** Writes the layout as a tar archive. */
export async function writeOciArchive(path: string, spec: HostileOciSpec): Promise<HostileOci> {
  const oci = hostileOci(spec);
  await writeFile(path, await packTar(oci.entries));
  return oci;
}

/** Writes the layout as a directory (symlink members are skipped: the test makes those itself). */
export async function writeOciDir(root: string, spec: HostileOciSpec): Promise<HostileOci> {
  const oci = hostileOci(spec);
  for (const entry of oci.entries) {
    const path = join(root, entry.name);
    if (entry.type === 'directory') await mkdir(path, { recursive: true });
    else if (entry.type === undefined || entry.type === 'file') {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, entry.data ?? '');
    }
  }
  return oci;
}
