/**
 * F3, the OCI image layout (image-spec `image-layout.md`), as a directory or inside a tar: `oci-layout`,
 * `index.json`, nested indexes and docker manifest lists; one image manifest chosen by ref and
 * platform; its config and layers read in place from `blobs/<alg>/<hex>`. Written once over
 * LayoutFiles, so the directory and the archive behave the same.
 */
import { ImgfsError } from '../errors.js';
import { createdByPerLayer, diffIdOf, parseImageConfig } from './image-config.js';
import { sameDockerRef } from './image-ref.js';
import { asObject, asString, asStringArray, asStringRecord, type JsonObject } from './json-document.js';
import { checkLayerCount } from './layer-limit.js';
import type { LayoutFiles } from './layout-files.js';
import type { ImageConfig, LayerBlob, LoadOptions } from './loaded-image.js';
import { formatPlatform, hostPlatform, normalisePlatform, parsePlatform, platformMatches, type Platform } from './platform.js';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';

/** Nested indexes followed below index.json before the layout is called hostile. */
export const MAX_INDEX_DEPTH = 8;
/** Descriptors visited across all indexes (a small index can list one big nested index many times). */
export const MAX_INDEX_DESCRIPTORS = 100_000;

const indexTypes: ReadonlySet<string> = new Set([MediaType.ociIndex, MediaType.dockerManifestList]);
const manifestTypes: ReadonlySet<string> = new Set([MediaType.ociManifest, MediaType.dockerManifest]);
const schema1Types: ReadonlySet<string> = new Set([MediaType.dockerSchema1, MediaType.dockerSchema1Signed]);
const configTypes: ReadonlySet<string> = new Set([MediaType.ociConfig, MediaType.dockerConfig]);

/** An OCI content descriptor, checked. */
export interface Descriptor {
  mediaType: string | undefined;
  digest: string;
  /** Declared size; undefined when the descriptor has none (checked against the blob when given). */
  size: number | undefined;
  urls: string[];
  annotations: Record<string, string>;
  platform: Platform | undefined;
}

export interface OciLayoutImage {
  layers: LayerBlob[];
  config: ImageConfig;
}

/** An image manifest reachable from index.json, with the names given to it on the way. */
interface Candidate {
  descriptor: Descriptor;
  /** `org.opencontainers.image.ref.name` of its descriptor and of the indexes above it. */
  refs: string[];
  /** `io.containerd.image.name` likewise. */
  names: string[];
}

interface ImageManifest {
  member: string;
  layers: Descriptor[];
  config: ImageConfig;
}

/** Loads the image of the layout that `options` choose. */
export async function loadOciLayout(files: LayoutFiles, options: LoadOptions = {}): Promise<OciLayoutImage> {
  return new OciLayoutReader(files, options.verify === true, options.limits?.maxLayers).load(options);
}

/**
 * `blobs/<alg>/<encoded>` for a digest, validated strictly (image-spec `descriptor.md` grammar; sha256
 * and sha512 must be lower-case hex of their length): nothing in it can be `/` or `..`.
 */
export function blobPath(digest: string): string | undefined {
  const colon = digest.indexOf(':');
  if (colon <= 0) return undefined;
  const algorithm = digest.slice(0, colon);
  const encoded = digest.slice(colon + 1);
  if (!/^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/.test(algorithm) || !/^[a-zA-Z0-9=_-]+$/.test(encoded)) return undefined;
  if (algorithm === 'sha256' && !/^[a-f0-9]{64}$/.test(encoded)) return undefined;
  if (algorithm === 'sha512' && !/^[a-f0-9]{128}$/.test(encoded)) return undefined;
  return `blobs/${algorithm}/${encoded}`;
}

/** Parses a descriptor found in `member`; EIMGFORMAT when its digest or size is unusable. */
export function parseDescriptor(value: unknown, archive: string, member: string): Descriptor {
  const object = asObject(value);
  if (object === undefined) throw new ImgfsError('EIMGFORMAT', 'a descriptor is not a JSON object', { archive, member });
  const digest = asString(object['digest']);
  if (digest === undefined || blobPath(digest) === undefined) {
    throw new ImgfsError('EIMGFORMAT', `invalid descriptor digest ${JSON.stringify(object['digest'] ?? null)}`, { archive, member });
  }
  const rawSize = object['size'];
  if (rawSize !== undefined && !(typeof rawSize === 'number' && Number.isSafeInteger(rawSize) && rawSize >= 0)) {
    throw new ImgfsError('EIMGFORMAT', `descriptor ${digest} has an invalid size ${JSON.stringify(rawSize)}`, { archive, member });
  }
  const platformObject = asObject(object['platform']);
  const os = asString(platformObject?.['os']);
  const architecture = asString(platformObject?.['architecture']);
  return {
    mediaType: asString(object['mediaType']),
    digest,
    size: rawSize,
    urls: asStringArray(object['urls']) ?? [],
    annotations: asStringRecord(object['annotations']) ?? {},
    platform:
      os !== undefined && architecture !== undefined
        ? { os, architecture, variant: asString(platformObject?.['variant']) }
        : undefined,
  };
}

class OciLayoutReader {
  private readonly manifests = new Map<string, Promise<ImageManifest>>();
  /** Nested index documents by digest: each is read once however often it is listed. */
  private readonly indexes = new Map<string, JsonObject>();
  private descriptorsVisited = 0;

  constructor(
    private readonly files: LayoutFiles,
    /** Check every JSON blob read against its descriptor's digest. */
    private readonly verify = false,
    private readonly maxLayers?: number,
  ) {}

  async load(options: LoadOptions): Promise<OciLayoutImage> {
    await this.checkLayoutFile();
    const index = await this.readIndex('index.json');
    const candidates: Candidate[] = [];
    await this.collect(index, 'index.json', [], [], 0, new Set(), candidates);
    const chosen = await this.choose(candidates, options);
    const manifest = await this.manifest(chosen.descriptor);
    return { layers: await this.layers(manifest), config: manifest.config };
  }

  private async checkLayoutFile(): Promise<void> {
    if ((await this.files.size('oci-layout')) === undefined) throw this.error('oci-layout is missing', 'oci-layout');
    const layout = asObject(await this.files.readJson('oci-layout'));
    const version = asString(layout?.['imageLayoutVersion']);
    if (version === undefined) throw this.error('oci-layout has no imageLayoutVersion', 'oci-layout');
    if (!/^1\.\d+\.\d+$/.test(version)) throw this.error(`unsupported imageLayoutVersion ${version}`, 'oci-layout');
  }

  /** index.json or a nested index blob, checked to be an index. */
  private async readIndex(member: string, document?: unknown): Promise<JsonObject> {
    if (member === 'index.json' && (await this.files.size(member)) === undefined) throw this.error('index.json is missing', member);
    const index = asObject(document ?? (await this.files.readJson(member)));
    if (index === undefined) throw this.error(`${member} is not a JSON object`, member);
    const schemaVersion = index['schemaVersion'];
    if (schemaVersion !== undefined && schemaVersion !== 2) throw this.error(`${member} has schemaVersion ${String(schemaVersion)}, not 2`, member);
    if (!Array.isArray(index['manifests'])) throw this.error(`${member} has no manifests array`, member);
    return index;
  }

  /** Walks an index and the indexes below it, collecting image manifests. */
  private async collect(
    index: JsonObject,
    member: string,
    refs: string[],
    names: string[],
    depth: number,
    chain: Set<string>,
    out: Candidate[],
  ): Promise<void> {
    for (const item of index['manifests'] as unknown[]) {
      if (++this.descriptorsVisited > MAX_INDEX_DESCRIPTORS) {
        throw new ImgfsError('ELIMIT', `indexes list more than ${MAX_INDEX_DESCRIPTORS} descriptors`, { archive: this.files.archive, member });
      }
      const descriptor = parseDescriptor(item, this.files.archive, member);
      const ownRefs = [...refs];
      const ownNames = [...names];
      const refName = descriptor.annotations[REF_NAME_ANNOTATION];
      if (refName !== undefined) ownRefs.push(refName);
      const imageName = descriptor.annotations[CONTAINERD_NAME_ANNOTATION];
      if (imageName !== undefined) ownNames.push(imageName);

      let { mediaType } = descriptor;
      let document: unknown;
      if (mediaType === undefined) {
        // Some writers leave mediaType out of descriptors: the document itself says what it is.
        document = await this.readBlobJson(descriptor, member, 'blob digest');
        const object = asObject(document);
        mediaType =
          asString(object?.['mediaType']) ??
          (Array.isArray(object?.['manifests']) ? MediaType.ociIndex : asObject(object?.['config']) ? MediaType.ociManifest : undefined);
      }
      if (mediaType !== undefined && indexTypes.has(mediaType)) {
        const path = blobPath(descriptor.digest) as string;
        if (depth + 1 > MAX_INDEX_DEPTH) throw this.error(`indexes nested deeper than ${MAX_INDEX_DEPTH}`, path);
        if (chain.has(descriptor.digest)) throw this.error(`index ${descriptor.digest} contains itself`, path);
        let nested = this.indexes.get(descriptor.digest);
        if (nested === undefined) {
          nested = await this.readIndex(path, document ?? (await this.readBlobJson(descriptor, member, 'index digest')));
          this.indexes.set(descriptor.digest, nested);
        }
        await this.collect(nested, path, ownRefs, ownNames, depth + 1, new Set([...chain, descriptor.digest]), out);
      } else if (mediaType !== undefined && (manifestTypes.has(mediaType) || schema1Types.has(mediaType))) {
        if (isAttestation(descriptor)) continue;
        out.push({ descriptor: { ...descriptor, mediaType }, refs: ownRefs, names: ownNames });
      }
      // Anything else (artifacts, signatures) is not an image: skipped.
    }
  }

  private async choose(all: Candidate[], options: LoadOptions): Promise<Candidate> {
    const { ref } = options;
    let pool = all;
    if (ref !== undefined) {
      pool = pool.filter((c) => c.refs.includes(ref) || c.names.some((name) => sameDockerRef(name, ref)));
      if (pool.length === 0) {
        const known = [...new Set(all.flatMap((c) => [...c.refs, ...c.names]))];
        throw new ImgfsError(
          'ENOREF',
          `no image named '${ref}'; the layout has ${known.length === 0 ? 'no named images' : known.map((n) => `'${n}'`).join(', ')}`,
          { archive: this.files.archive, member: 'index.json' },
        );
      }
    }
    pool = uniqueByDigest(pool);
    if (pool.length === 0) throw new ImgfsError('ENOREF', 'the layout holds no image manifest', { archive: this.files.archive, member: 'index.json' });
    if (pool.length === 1 && options.platform === undefined) return pool[0] as Candidate;

    const want = options.platform !== undefined ? parsePlatform(options.platform) : hostPlatform();
    const platforms = new Map<Candidate, Platform | undefined>();
    for (const candidate of pool) platforms.set(candidate, await this.platformOf(candidate));
    let matching = pool.filter((c) => {
      const platform = platforms.get(c);
      return platform !== undefined && platformMatches(platform, want);
    });
    if (matching.length > 1 && want.variant === undefined) {
      // linux/arm64 asked, linux/arm64 and linux/arm64/v9 offered: the default variant wins.
      const plain = matching.filter((c) => normalisePlatform(platforms.get(c) as Platform).variant === undefined);
      if (plain.length === 1) matching = plain;
    }
    const listing = pool.map((c) => describeCandidate(c, platforms.get(c))).join('; ');
    const platformText = formatPlatform(want);
    if (matching.length === 0) {
      throw new ImgfsError('ENOREF', `no image for platform ${platformText}; the layout has: ${listing}`, {
        archive: this.files.archive,
        member: 'index.json',
      });
    }
    if (matching.length > 1) {
      throw new ImgfsError('ENOREF', `several images match platform ${platformText}: ${listing}; choose one with a ref`, {
        archive: this.files.archive,
        member: 'index.json',
      });
    }
    return matching[0] as Candidate;
  }

  /** The descriptor's platform, else the one its config states. */
  private async platformOf(candidate: Candidate): Promise<Platform | undefined> {
    if (candidate.descriptor.platform !== undefined) return candidate.descriptor.platform;
    const { config } = await this.manifest(candidate.descriptor);
    if (config.os === undefined || config.architecture === undefined) return undefined;
    return { os: config.os, architecture: config.architecture, variant: config.variant };
  }

  private manifest(descriptor: Descriptor): Promise<ImageManifest> {
    let manifest = this.manifests.get(descriptor.digest);
    if (manifest === undefined) {
      manifest = this.readManifest(descriptor);
      this.manifests.set(descriptor.digest, manifest);
    }
    return manifest;
  }

  private async readManifest(descriptor: Descriptor): Promise<ImageManifest> {
    const member = blobPath(descriptor.digest) as string;
    const document = asObject(await this.readBlobJson(descriptor, member, 'manifest digest'));
    if (document === undefined) throw this.error('image manifest is not a JSON object', member);
    const mediaType = descriptor.mediaType ?? asString(document['mediaType']);
    if (mediaType !== undefined && schema1Types.has(mediaType)) {
      throw this.error('Docker image manifest schema 1 is not supported (re-save the image with a current tool)', member);
    }
    if (mediaType !== undefined && !manifestTypes.has(mediaType)) throw this.error(`not an image manifest: ${mediaType}`, member);
    const schemaVersion = document['schemaVersion'];
    if (schemaVersion !== undefined && schemaVersion !== 2) throw this.error(`manifest schemaVersion ${String(schemaVersion)}, not 2`, member);
    if (document['config'] === undefined) throw this.error('image manifest has no config', member);
    const configDescriptor = parseDescriptor(document['config'], this.files.archive, member);
    if (configDescriptor.mediaType !== undefined && !configTypes.has(configDescriptor.mediaType)) {
      throw this.error(`not a container image: config media type ${configDescriptor.mediaType}`, member);
    }
    if (!Array.isArray(document['layers'])) throw this.error('image manifest has no layers array', member);
    const layers = document['layers'].map((item: unknown) => parseDescriptor(item, this.files.archive, member));
    const configMember = blobPath(configDescriptor.digest) as string;
    const configDocument = asObject(await this.readBlobJson(configDescriptor, member, 'config digest'));
    if (configDocument === undefined) throw this.error(`config ${configMember} is not a JSON object`, configMember);
    const config = parseImageConfig(configDocument);
    const diffIds = config.rootfs?.diff_ids;
    if (diffIds !== undefined && diffIds.length !== layers.length) {
      throw this.error(`config has ${diffIds.length} rootfs.diff_ids for ${layers.length} layers`, configMember);
    }
    return { member, layers, config };
  }

  private async layers(manifest: ImageManifest): Promise<LayerBlob[]> {
    checkLayerCount(manifest.layers.length, this.maxLayers, { archive: this.files.archive, member: manifest.member });
    const createdBy = createdByPerLayer(manifest.config, manifest.layers.length);
    // All at once (each opens its blob); the first layer that fails, bottom first, is the error.
    const settled = await Promise.allSettled(manifest.layers.map((descriptor, index) => this.layer(manifest, descriptor, index, createdBy[index])));
    return settled.map((result, index) => {
      if (result.status === 'fulfilled') return result.value;
      const error: unknown = result.reason;
      // A blob that escapes the layout or loops is this layer's problem: say which layer.
      throw error instanceof ImgfsError ? error.locate({ layer: { index, digest: manifest.layers[index]?.digest } }) : error;
    });
  }

  /** One layer's blob, checked to exist with the size its descriptor states. */
  private async layer(manifest: ImageManifest, descriptor: Descriptor, index: number, createdBy: string | undefined): Promise<LayerBlob> {
    const path = blobPath(descriptor.digest) as string;
    const layer = { index, digest: descriptor.digest };
    const size = await this.files.size(path);
    if (size === undefined) {
      const foreign = descriptor.urls.length > 0 || isForeignMediaType(descriptor.mediaType);
      const reason = foreign
        ? `foreign layer not present${descriptor.urls.length > 0 ? ` (it is at ${descriptor.urls.join(', ')})` : ''}`
        : 'layer blob is missing';
      throw new ImgfsError('EIMGFORMAT', reason, { archive: this.files.archive, member: path, layer });
    }
    if (descriptor.size !== undefined && descriptor.size !== size) {
      throw new ImgfsError('EIMGFORMAT', `blob is ${size} bytes but its descriptor says ${descriptor.size}`, {
        archive: this.files.archive,
        member: path,
        layer,
      });
    }
    return {
      index,
      blob: await this.files.open(path),
      location: path,
      digest: descriptor.digest,
      diffId: diffIdOf(manifest.config, index),
      mediaType: descriptor.mediaType,
      size,
      createdBy,
      annotations: descriptor.annotations,
    };
  }

  /**
   * A JSON blob, after checking it exists and has the size its descriptor (found in `from`) states;
   * with `verify`, its bytes must hash to the descriptor's digest (`what` names it in the message).
   */
  private async readBlobJson(descriptor: Descriptor, from: string, what: string): Promise<unknown> {
    const path = blobPath(descriptor.digest) as string;
    const size = await this.files.size(path);
    if (size === undefined) throw this.error(`blob ${descriptor.digest} (listed in ${from}) is missing`, path);
    if (descriptor.size !== undefined && descriptor.size !== size) {
      throw this.error(`blob is ${size} bytes but its descriptor in ${from} says ${descriptor.size}`, path);
    }
    return this.files.readJson(path, this.verify ? { digest: descriptor.digest, what } : undefined);
  }

  private error(reason: string, member: string): ImgfsError {
    return new ImgfsError('EIMGFORMAT', reason, { archive: this.files.archive, member });
  }
}

/** buildx attestation manifests (`unknown/unknown`) describe an image; they are not one. */
function isAttestation(descriptor: Descriptor): boolean {
  return (
    descriptor.annotations['vnd.docker.reference.type'] === 'attestation-manifest' ||
    (descriptor.platform?.os === 'unknown' && descriptor.platform.architecture === 'unknown')
  );
}

function isForeignMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && (mediaType.includes('nondistributable') || mediaType.includes('foreign'));
}

function uniqueByDigest(candidates: Candidate[]): Candidate[] {
  const seen = new Map<string, Candidate>();
  for (const candidate of candidates) {
    const earlier = seen.get(candidate.descriptor.digest);
    if (earlier === undefined) seen.set(candidate.descriptor.digest, candidate);
    else {
      earlier.refs = [...new Set([...earlier.refs, ...candidate.refs])];
      earlier.names = [...new Set([...earlier.names, ...candidate.names])];
    }
  }
  return [...seen.values()];
}

function describeCandidate(candidate: Candidate, platform: Platform | undefined): string {
  const name = candidate.refs.at(-1) ?? candidate.names.at(-1);
  const parts = [platform === undefined ? 'unknown platform' : formatPlatform(platform), candidate.descriptor.digest.slice(0, 19)];
  if (name !== undefined) parts.unshift(`'${name}'`);
  return parts.join(' ');
}
