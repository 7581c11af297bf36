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
import { checkLayerCount } from './layer-limit.js';
import type { OuterTar } from './outer-tar.js';
import { formatPlatform, parsePlatform, platformMatches } from './platform.js';

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
  const { entry, config } = await chooseEntry(tar, entries, options);
  checkLayerCount(entry.layers.length, options.limits?.maxLayers, { archive, member: DOCKER_MANIFEST });

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

/**
 * The config's digest when its (link-resolved) member name states it: `HEX.json` (docker save ≤ 24,
 * podman) and `blobs/sha256/HEX` (Docker ≥ 25) are content-addressed.
 */
export function configDigestFromName(name: string): string | undefined {
  const flat = /^([a-f0-9]{64})\.json$/.exec(name);
  return flat ? `sha256:${flat[1]}` : digestFromName(name, undefined);
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

/**
 * The entry `ref` names (a RepoTags entry, verbatim or in its full form), narrowed by `platform` when
 * one is asked for (read from each config); the only one when neither is given.
 */
async function chooseEntry(tar: OuterTar, entries: ManifestEntry[], options: LoadOptions): Promise<{ entry: ManifestEntry; config: ImageConfig }> {
  const where = { archive: tar.archive, member: DOCKER_MANIFEST };
  const { ref, platform } = options;
  if (entries.length === 0) throw new ImgfsError('EIMGFORMAT', 'manifest.json lists no image', where);
  let pool = entries;
  if (ref !== undefined) {
    const exact = entries.filter((entry) => entry.repoTags.includes(ref));
    pool = exact.length > 0 ? exact : entries.filter((entry) => entry.repoTags.some((tag) => sameDockerRef(tag, ref)));
    if (pool.length === 0) throw new ImgfsError('ENOREF', `no image tagged '${ref}'; the archive has ${listTags(entries)}`, where);
  }
  const configs = new Map<ManifestEntry, ImageConfig>();
  const configOf = async (entry: ManifestEntry): Promise<ImageConfig> => {
    let config = configs.get(entry);
    if (config === undefined) {
      const digest = options.verify === true ? configDigestFromName(tar.resolve(entry.config).name) : undefined;
      config = await readImageConfig(
        tar.open(entry.config),
        { archive: tar.archive, member: entry.config },
        digest === undefined ? undefined : { digest, what: 'config digest' },
      );
      configs.set(entry, config);
    }
    return config;
  };
  if (platform !== undefined) {
    const want = parsePlatform(platform);
    const described: string[] = [];
    const matching: ManifestEntry[] = [];
    for (const entry of pool) {
      const config = await configOf(entry);
      const have = config.os !== undefined && config.architecture !== undefined ? { os: config.os, architecture: config.architecture, variant: config.variant } : undefined;
      if (have !== undefined && platformMatches(have, want)) matching.push(entry);
      described.push(`${listTags([entry])} ${have === undefined ? 'unknown platform' : formatPlatform(have)}`);
    }
    if (matching.length === 0) {
      throw new ImgfsError('ENOREF', `no image for platform ${formatPlatform(want)}; the archive has ${described.join('; ')}`, where);
    }
    pool = matching;
  }
  if (pool.length > 1 && ref === undefined) {
    throw new ImgfsError('ENOREF', `the archive holds ${pool.length} images; choose one with a ref: ${listTags(pool)}`, where);
  }
  const entry = pool[0] as ManifestEntry;
  return { entry, config: await configOf(entry) };
}

function listTags(entries: ManifestEntry[]): string {
  return entries.map((entry) => (entry.repoTags.length > 0 ? entry.repoTags.map((tag) => `'${tag}'`).join(', ') : `untagged ${entry.config}`)).join('; ');
}
