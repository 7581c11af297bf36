/**
 * F2, `docker save` before Docker 1.10 (Docker image spec v1, no manifest.json): `repositories`
 * ({repo: {tag: id}}) names the top layer; each `<id>/json` names its `parent`; the chain is walked to
 * the root and applied from there upward. Each `<id>/layer.tar` is one layer; the top layer's json
 * doubles as the image config.
 */
import { ImgfsError } from '../errors.js';
import { parseContainerConfig } from './image-config.js';
import { sameDockerRef } from './image-ref.js';
import { asObject, asString, asStringArray, readJsonDocument, type JsonObject } from './json-document.js';
import type { ImageConfig, LayerBlob, LoadOptions } from './loaded-image.js';
import { checkLayerCount } from './layer-limit.js';
import type { OuterTar } from './outer-tar.js';
import { formatPlatform, parsePlatform, platformMatches } from './platform.js';

export const LEGACY_REPOSITORIES = 'repositories';

/** A v1 image id: 64 lower-case hex digits (as docker's `v1.ValidateID`). */
const V1_ID = /^[a-f0-9]{64}$/;

export interface DockerLegacyImage {
  layers: LayerBlob[];
  config: ImageConfig;
}

/** True when the archive has the shape of a legacy save: `repositories` or some `<id>/json`. */
export function looksLikeDockerLegacy(tar: OuterTar): boolean {
  if (tar.get(LEGACY_REPOSITORIES) !== undefined) return true;
  for (const name of tar.names()) {
    const slash = name.indexOf('/');
    if (slash > 0 && name.slice(slash) === '/json' && V1_ID.test(name.slice(0, slash))) return true;
  }
  return false;
}

export async function loadDockerLegacy(tar: OuterTar, options: LoadOptions = {}): Promise<DockerLegacyImage> {
  const top = await chooseTop(tar, options.ref);
  // Walk parent links from the top down to the root, then apply bottom first.
  const chain: Array<{ id: string; json: JsonObject }> = [];
  const seen = new Set<string>();
  let id: string | undefined = top;
  let child: string | undefined;
  while (id !== undefined) {
    if (seen.has(id)) {
      throw new ImgfsError('EIMGFORMAT', `layer parents form a cycle at ${id}`, { archive: tar.archive, member: `${id}/json` });
    }
    seen.add(id);
    checkLayerCount(seen.size, options.limits?.maxLayers, { archive: tar.archive, member: `${id}/json` });
    const json = await readLayerJson(tar, id, child);
    chain.push({ id, json });
    const parent = asString(json['parent']);
    child = id;
    id = parent === undefined || parent === '' ? undefined : parent;
  }
  chain.reverse();

  const topJson = (chain.at(-1) as { json: JsonObject }).json;
  const config = legacyConfig(topJson, chain.map((layer) => layer.json));
  if (options.platform !== undefined) {
    const want = parsePlatform(options.platform);
    const have = config.os !== undefined && config.architecture !== undefined ? { os: config.os, architecture: config.architecture } : undefined;
    if (have === undefined || !platformMatches(have, want)) {
      const stated = have === undefined ? 'an unknown platform' : formatPlatform(have);
      throw new ImgfsError('ENOREF', `no image for platform ${formatPlatform(want)}; the archive has ${stated}`, {
        archive: tar.archive,
        member: `${top}/json`,
      });
    }
  }
  const layers = chain.map(({ id: layerId }, index): LayerBlob => {
    const location = `${layerId}/layer.tar`;
    let size: number;
    try {
      size = tar.resolve(location).size;
    } catch (error) {
      throw error instanceof ImgfsError ? error.locate({ layer: { index } }) : error;
    }
    return {
      index,
      blob: tar.open(location),
      location,
      // A v1 id is random (or a hash of the v1 json), never the layer's content digest.
      digest: undefined,
      diffId: undefined,
      mediaType: undefined,
      size,
      createdBy: config.history?.[index]?.created_by,
    };
  });
  return { layers, config };
}

/** The top layer id: from `repositories` (by ref; the only tag otherwise), else the only leaf. */
async function chooseTop(tar: OuterTar, ref: string | undefined): Promise<string> {
  const where = { archive: tar.archive, member: LEGACY_REPOSITORIES };
  const tags = new Map<string, string>();
  if (tar.get(LEGACY_REPOSITORIES) !== undefined) {
    const repositories = asObject(await readJsonDocument(tar.open(LEGACY_REPOSITORIES), where));
    if (repositories === undefined) throw new ImgfsError('EIMGFORMAT', 'repositories is not a JSON object', where);
    for (const [repo, tagMap] of Object.entries(repositories)) {
      for (const [tag, id] of Object.entries(asObject(tagMap) ?? {})) {
        if (typeof id === 'string') tags.set(`${repo}:${tag}`, id);
      }
    }
  }
  if (ref !== undefined) {
    const id = tags.get(ref) ?? [...tags].find(([name]) => sameDockerRef(name, ref))?.[1];
    if (id === undefined) {
      throw new ImgfsError('ENOREF', `no image tagged '${ref}'; the archive has ${describeTags(tags)}`, where);
    }
    return checkId(id, tar.archive);
  }
  const ids = new Set(tags.values());
  if (ids.size === 1) return checkId([...ids][0] as string, tar.archive);
  if (ids.size > 1) {
    throw new ImgfsError('ENOREF', `the archive holds ${ids.size} images; choose one with a ref: ${describeTags(tags)}`, where);
  }
  // No tags (saved by id): the top is the one layer no other layer names as its parent.
  const { ids: all, leaves } = await findLeaves(tar);
  if (all.length === 0) throw new ImgfsError('EIMGFORMAT', 'no repositories and no <id>/json members', where);
  if (leaves.length === 1) return leaves[0] as string;
  if (leaves.length === 0) throw new ImgfsError('EIMGFORMAT', 'every layer is named as some layer\'s parent: the parents form a cycle', where);
  throw new ImgfsError('ENOREF', `the archive has no repositories and ${leaves.length} top layers: ${leaves.join(', ')}`, where);
}

async function findLeaves(tar: OuterTar): Promise<{ ids: string[]; leaves: string[] }> {
  const ids: string[] = [];
  for (const name of tar.names()) {
    const match = /^([a-f0-9]{64})\/json$/.exec(name);
    if (match) ids.push(match[1] as string);
  }
  const parents = new Set<string>();
  for (const id of ids) {
    const parent = asString((await readLayerJson(tar, id, undefined))['parent']);
    if (parent !== undefined) parents.add(parent);
  }
  return { ids, leaves: ids.filter((id) => !parents.has(id)).sort() };
}

async function readLayerJson(tar: OuterTar, id: string, child: string | undefined): Promise<JsonObject> {
  checkId(id, tar.archive, child);
  const member = `${id}/json`;
  if (!tar.hasFile(member)) {
    const reason = child === undefined ? `layer ${id} has no json` : `layer ${child} names parent ${id}, which is missing`;
    throw new ImgfsError('EIMGFORMAT', reason, { archive: tar.archive, member });
  }
  const json = asObject(await readJsonDocument(tar.open(member), { archive: tar.archive, member }));
  if (json === undefined) throw new ImgfsError('EIMGFORMAT', `${member} is not a JSON object`, { archive: tar.archive, member });
  return json;
}

function checkId(id: string, archive: string, child?: string): string {
  if (!V1_ID.test(id)) {
    const where = child === undefined ? LEGACY_REPOSITORIES : `${child}/json`;
    throw new ImgfsError('EIMGFORMAT', `invalid layer id ${JSON.stringify(id)}`, { archive, member: where });
  }
  return id;
}

/** The image config a v1 save implies: the top layer's fields, history from every layer's command. */
function legacyConfig(top: JsonObject, layers: JsonObject[]): ImageConfig {
  const config: ImageConfig = {};
  const architecture = asString(top['architecture']);
  if (architecture !== undefined) config.architecture = architecture;
  const os = asString(top['os']);
  if (os !== undefined) config.os = os;
  const created = asString(top['created']);
  if (created !== undefined) config.created = created;
  const container = parseContainerConfig(top['config']);
  if (container !== undefined) config.config = container;
  config.history = layers.map((json) => {
    const entry: NonNullable<ImageConfig['history']>[number] = {};
    const layerCreated = asString(json['created']);
    if (layerCreated !== undefined) entry.created = layerCreated;
    const cmd = asStringArray(asObject(json['container_config'])?.['Cmd']);
    if (cmd !== undefined && cmd.length > 0) entry.created_by = cmd.join(' ');
    const author = asString(json['author']);
    if (author !== undefined) entry.author = author;
    const comment = asString(json['comment']);
    if (comment !== undefined) entry.comment = comment;
    return entry;
  });
  return config;
}

function describeTags(tags: Map<string, string>): string {
  return tags.size === 0 ? 'no tags' : [...tags.keys()].map((tag) => `'${tag}'`).join(', ');
}
