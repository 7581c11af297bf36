/**
 * F1, `docker save` with manifest.json (Docker ≥ 1.10, podman, skopeo `docker-archive:`): one entry
 * per saved image, chosen by a `RepoTags` ref; its `Config` member and its `Layers` members, bottom
 * first, read in place from the outer tar (link members followed inside it).
 */
import { ImgfsError } from '../errors.js';
import { createdByPerLayer, diffIdOf, readImageConfig } from './image-config.js';
import { sameDockerRef } from './image-ref.js';
import { asObject, asString, asStringArray, readJsonDocument, type JsonObject } from './json-document.js';
import type { ImageConfig, LayerBlob, LoadOptions } from './loaded-image.js';
import { blobPath } from './oci-layout.js';
import type { OuterTar } from './outer-tar.js';

export const DOCKER_MANIFEST = 'manifest.json';

export interface DockerArchiveImage {
  layers: LayerBlob[];
  config: ImageConfig;
}

interface ManifestEntry {
  config: string;
  repoTags: string[];
  layers: string[];
  /** `LayerSources`: diff id → descriptor (foreign layers). */
  layerSources: Record<string, JsonObject>;
}

export async function loadDockerArchive(tar: OuterTar, options: LoadOptions = {}): Promise<DockerArchiveImage> {
  const { archive } = tar;
  const document = await readJsonDocument(tar.open(DOCKER_MANIFEST), { archive, member: DOCKER_MANIFEST });
  if (!Array.isArray(document)) throw new ImgfsError('EIMGFORMAT', 'manifest.json is not a JSON array', { archive, member: DOCKER_MANIFEST });
  const entries = document.map((item: unknown, position) => parseEntry(item, position, archive));
  const entry = chooseEntry(entries, options.ref, archive);

  const config = await readImageConfig(tar.open(entry.config), { archive, member: entry.config });
  const diffIds = config.rootfs?.diff_ids;
  if (diffIds !== undefined && diffIds.length !== entry.layers.length) {
    throw new ImgfsError('EIMGFORMAT', `config has ${diffIds.length} rootfs.diff_ids for ${entry.layers.length} layers`, {
      archive,
      member: entry.config,
    });
  }
  const createdBy = createdByPerLayer(config, entry.layers.length);
  const layers = entry.layers.map((location, index): LayerBlob => {
    const diffId = diffIdOf(config, index);
    let member;
    try {
      member = tar.resolve(location);
    } catch (error) {
      throw error instanceof ImgfsError ? error.locate({ layer: { index } }) : error;
    }
    const source = asObject(diffId === undefined ? undefined : entry.layerSources[diffId]);
    return {
      index,
      blob: tar.open(location),
      location,
      digest: digestFromName(member.name, diffId),
      diffId,
      mediaType: asString(source?.['mediaType']),
      size: member.size,
      createdBy: createdBy[index],
    };
  });
  return { layers, config };
}

/**
 * The stored blob's digest, when the (link-resolved) member name states it: `blobs/sha256/HEX`
 * (Docker ≥ 25) and `HEX.tar` (podman, skopeo) are content-addressed. `HEX/layer.tar` usually is not:
 * docker's HEX there is a v1 compatibility id, so it counts only when it equals the layer's diff id
 * (docker save writes layers uncompressed, so the two are then the same bytes).
 */
export function digestFromName(name: string, diffId: string | undefined): string | undefined {
  if (name.startsWith('blobs/')) {
    const [, algorithm, encoded, ...rest] = name.split('/');
    const digest = `${algorithm}:${encoded}`;
    return rest.length === 0 && blobPath(digest) === name ? digest : undefined;
  }
  const flat = /^([a-f0-9]{64})\.tar$/.exec(name);
  if (flat) return `sha256:${flat[1]}`;
  const legacy = /^([a-f0-9]{64})\/layer\.tar$/.exec(name);
  if (legacy && diffId === `sha256:${legacy[1]}`) return diffId;
  return undefined;
}

function parseEntry(item: unknown, position: number, archive: string): ManifestEntry {
  const object = asObject(item);
  const fail = (reason: string): ImgfsError =>
    new ImgfsError('EIMGFORMAT', `manifest.json entry ${position}: ${reason}`, { archive, member: DOCKER_MANIFEST });
  if (object === undefined) throw fail('not a JSON object');
  const config = asString(object['Config']);
  if (config === undefined || config === '') throw fail('no Config');
  const layers = asStringArray(object['Layers']);
  if (layers === undefined) throw fail('no Layers array');
  const sources = asObject(object['LayerSources']) ?? {};
  const layerSources: Record<string, JsonObject> = {};
  for (const [diffId, descriptor] of Object.entries(sources)) {
    const value = asObject(descriptor);
    if (value !== undefined) layerSources[diffId] = value;
  }
  return { config, repoTags: asStringArray(object['RepoTags']) ?? [], layers, layerSources };
}

function chooseEntry(entries: ManifestEntry[], ref: string | undefined, archive: string): ManifestEntry {
  const where = { archive, member: DOCKER_MANIFEST };
  if (entries.length === 0) throw new ImgfsError('EIMGFORMAT', 'manifest.json lists no image', where);
  if (ref === undefined) {
    if (entries.length === 1) return entries[0] as ManifestEntry;
    throw new ImgfsError('ENOREF', `the archive holds ${entries.length} images; choose one with a ref: ${listTags(entries)}`, where);
  }
  const exact = entries.filter((entry) => entry.repoTags.includes(ref));
  const matching = exact.length > 0 ? exact : entries.filter((entry) => entry.repoTags.some((tag) => sameDockerRef(tag, ref)));
  if (matching.length === 0) throw new ImgfsError('ENOREF', `no image tagged '${ref}'; the archive has ${listTags(entries)}`, where);
  return matching[0] as ManifestEntry;
}

function listTags(entries: ManifestEntry[]): string {
  return entries.map((entry) => (entry.repoTags.length > 0 ? entry.repoTags.map((tag) => `'${tag}'`).join(', ') : `untagged ${entry.config}`)).join('; ');
}
