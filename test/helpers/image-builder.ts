/**
 * Writes one set of layers as any image format imgfs reads (DESIGN.md F1–F4), so a test can open the
 * same content every way:
 *
 *   const layers = [buildLayer([file('a', 'x')]), buildLayer([whiteout('a')])];   // ./layer-tar.js
 *   const image = await writeImage(tmp, layers, { format: 'oci-archive', compression: 'gzip' });
 *   const fs = await openImage(image);          // `image` is a path (string[] for 'layers')
 *
 * Every format gets the same config: `rootfs.diff_ids` (sha256 of each uncompressed layer), `linux` on
 * the host's architecture, and a history with one `created_by` per layer plus one `empty_layer` entry
 * (after the first layer's), so `createdBy` of layer i is `createdBy[i]` in every format.
 * Outer tars are written with tar-stream; zstd uses the `zstd` command.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import type { ImageFormat } from '../../lib/image/loaded-image.js';

/** The format to write: the same names `LoadedImage.format` reports. */
export type ImageKind = Exclude<ImageFormat, 'registry'>;
export type LayerCompression = 'none' | 'gzip' | 'zstd';

export interface WriteImageOptions {
  format: ImageKind;
  /**
   * Name of what is written under `dir`. Defaults: `image.tar` (archives), `oci` (oci-dir),
   * `layer-<i>.tar[.gz|.zst]` (layers; `name` is then a prefix: `<name>-<i>.tar…`).
   */
  name?: string;
  /**
   * Names of the image. docker-archive: one manifest.json entry (`RepoTags: [ref]`) per ref, each with
   * its own config; docker-legacy: `repositories` tags, all on the same top layer; OCI: one index.json
   * entry (`org.opencontainers.image.ref.name: ref`) per ref, each with its own config. Each config
   * carries the label `org.imgfs.ref: ref`, so a test can tell which one was chosen.
   * Default `['imgfs-test:latest']`; `[]` writes one unnamed image.
   */
  refs?: string[];
  /** Layer blob compression for `oci-dir`, `oci-archive` and `layers` (docker saves are uncompressed). Default 'none'. */
  compression?: LayerCompression;
  /** OCI formats: `'oci'` (default) or Docker v2 schema 2 media types (manifest, config, layers, list). */
  mediaTypes?: 'oci' | 'docker';
  /**
   * OCI formats: write a nested index (manifest list) per ref with one image manifest per platform
   * (`os/arch[/variant]`), each with a config for that platform, all sharing the layers. Without it:
   * one manifest per ref, listed in index.json directly, for linux on the host's architecture.
   */
  platforms?: string[];
  /** docker-archive: store layers as `<hex>.tar` and `<id>/layer.tar` as symlink members to `../<hex>.tar`. */
  symlinkLayers?: boolean;
  /** docker-archive: Docker ≥ 25 layout, layers and config under `blobs/sha256/` plus oci-layout and index.json. */
  dockerBlobs?: boolean;
  /** `created_by` of each layer; default `/bin/sh -c #(nop) ADD layer-<i>.tar in /`. */
  createdBy?: string[];
}

/** A member of an outer tar written by `packTar`. */
export interface OuterEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  data?: Buffer | string;
  linkname?: string;
  mode?: number;
}

/** The created time of every config and history entry. */
export const CREATED = '2024-01-01T00:00:00Z';
export const DEFAULT_REF = 'imgfs-test:latest';
/** Label every config carries: the ref it was written for. */
export const REF_LABEL = 'org.imgfs.ref';
/** `created_by` of the one `empty_layer` history entry. */
export const EMPTY_LAYER_CREATED_BY = '/bin/sh -c #(nop)  ENV IMGFS=1';

const MTIME = new Date(1_700_000_000_000);

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** gzip via node:zlib, zstd via the `zstd` command. */
export function compressLayer(data: Buffer, compression: LayerCompression): Buffer {
  if (compression === 'gzip') return gzipSync(data);
  if (compression === 'zstd') return execFileSync('zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 1 << 30 });
  return data;
}

/** The OCI architecture of this host (`process.arch` mapped as imgfs does). */
export function hostArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', ppc64: 'ppc64le' };
  return map[process.arch] ?? process.arch;
}

/** An outer tar, written with tar-stream; directories for member parents are not added implicitly. */
export async function packTar(entries: readonly OuterEntry[]): Promise<Buffer> {
  const packer = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of packer) chunks.push(chunk as Buffer);
  })();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const data = entry.data === undefined ? undefined : Buffer.from(entry.data);
    const header = {
      name: entry.name,
      type,
      mode: entry.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      mtime: MTIME,
      linkname: entry.linkname,
      size: type === 'file' ? (data?.length ?? 0) : 0,
    };
    await new Promise<void>((resolve, reject) => {
      const callback = (error?: Error | null): void => (error ? reject(error) : resolve());
      if (type === 'file') packer.entry(header, data ?? Buffer.alloc(0), callback);
      else packer.entry(header, callback);
    });
  }
  packer.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/**
 * Writes `layers` (uncompressed layer tars, bottom first) under `dir` in `options.format`. Returns the
 * path to open: the archive or directory, or for `layers` the layer files, bottom first.
 */
export async function writeImage(dir: string, layers: readonly Buffer[], options: WriteImageOptions & { format: 'layers' }): Promise<string[]>;
export async function writeImage(
  dir: string,
  layers: readonly Buffer[],
  options: WriteImageOptions & { format: Exclude<ImageKind, 'layers'> },
): Promise<string>;
export async function writeImage(dir: string, layers: readonly Buffer[], options: WriteImageOptions): Promise<string | string[]>;
export async function writeImage(dir: string, layers: readonly Buffer[], options: WriteImageOptions): Promise<string | string[]> {
  await mkdir(dir, { recursive: true });
  const plan = new ImagePlan(layers, options);
  switch (options.format) {
    case 'layers':
      return writeLayerFiles(dir, plan, options);
    case 'docker-archive':
      return writeArchive(join(dir, options.name ?? 'image.tar'), options.dockerBlobs ? plan.dockerBlobArchive() : plan.dockerArchive());
    case 'docker-legacy':
      return writeArchive(join(dir, options.name ?? 'image.tar'), plan.dockerLegacy());
    case 'oci-archive':
      return writeArchive(join(dir, options.name ?? 'image.tar'), plan.ociLayout());
    case 'oci-dir': {
      const root = join(dir, options.name ?? 'oci');
      for (const entry of plan.ociLayout()) {
        const path = join(root, entry.name);
        if (entry.type === 'directory') await mkdir(path, { recursive: true });
        else {
          await mkdir(dirname(path), { recursive: true });
          await writeFile(path, entry.data ?? '');
        }
      }
      return root;
    }
  }
}

async function writeArchive(path: string, entries: OuterEntry[]): Promise<string> {
  await writeFile(path, await packTar(entries));
  return path;
}

async function writeLayerFiles(dir: string, plan: ImagePlan, options: WriteImageOptions): Promise<string[]> {
  const compression = options.compression ?? 'none';
  const extension = { none: '.tar', gzip: '.tar.gz', zstd: '.tar.zst' }[compression];
  const paths: string[] = [];
  for (const [index, layer] of plan.layers.entries()) {
    const path = join(dir, `${options.name ?? 'layer'}-${index}${extension}`);
    await writeFile(path, compressLayer(layer, compression));
    paths.push(path);
  }
  return paths;
}

const hex = (digest: string): string => digest.slice('sha256:'.length);
const json = (value: unknown): string => JSON.stringify(value);

/** Everything derived from the layers and options, and the member lists of each format. */
class ImagePlan {
  readonly diffIds: string[];
  readonly createdBy: string[];
  /** v1 compatibility ids, as docker save writes them: derived from the chain, never a content digest. */
  readonly v1Ids: string[];
  readonly refs: Array<string | undefined>;

  constructor(
    readonly layers: readonly Buffer[],
    private readonly options: WriteImageOptions,
  ) {
    this.diffIds = layers.map((layer) => sha256Digest(layer));
    this.createdBy = layers.map((_, i) => options.createdBy?.[i] ?? `/bin/sh -c #(nop) ADD layer-${i}.tar in /`);
    this.v1Ids = [];
    for (const [i, diffId] of this.diffIds.entries()) {
      this.v1Ids.push(hex(sha256Digest(`v1 ${this.v1Ids[i - 1] ?? ''} ${diffId}`)));
    }
    const refs = options.refs ?? [DEFAULT_REF];
    this.refs = refs.length === 0 ? [undefined] : refs;
  }

  config(ref: string | undefined, platform = `linux/${hostArchitecture()}`): string {
    const [os, architecture, variant] = platform.split('/');
    const history: Array<Record<string, unknown>> = this.createdBy.map((createdBy) => ({ created: CREATED, created_by: createdBy }));
    history.splice(Math.min(1, history.length), 0, { created: CREATED, created_by: EMPTY_LAYER_CREATED_BY, empty_layer: true });
    return json({
      architecture,
      os,
      ...(variant === undefined ? {} : { variant }),
      created: CREATED,
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'IMGFS=1'],
        Cmd: ['/bin/sh'],
        WorkingDir: '/',
        Labels: ref === undefined ? null : { [REF_LABEL]: ref },
      },
      rootfs: { type: 'layers', diff_ids: this.diffIds },
      history,
    });
  }

  /** docker save, Docker 1.10–24: `<id>/layer.tar` (or podman-style `<hex>.tar` + symlinks), `<config>.json`, manifest.json. */
  dockerArchive(): OuterEntry[] {
    const entries: OuterEntry[] = [];
    const layerPaths: string[] = [];
    for (const [i, id] of this.v1Ids.entries()) {
      entries.push({ name: `${id}/`, type: 'directory' }, { name: `${id}/VERSION`, data: '1.0' });
      entries.push({ name: `${id}/json`, data: json(this.v1Json(i, false)) });
      const layer = this.layers[i] as Buffer;
      if (this.options.symlinkLayers) {
        const flat = `${hex(this.diffIds[i] as string)}.tar`;
        if (!entries.some((entry) => entry.name === flat)) entries.push({ name: flat, data: layer });
        entries.push({ name: `${id}/layer.tar`, type: 'symlink', linkname: `../${flat}` });
      } else {
        entries.push({ name: `${id}/layer.tar`, data: layer });
      }
      layerPaths.push(`${id}/layer.tar`);
    }
    const manifest = this.refs.map((ref) => {
      const config = this.config(ref);
      const name = `${hex(sha256Digest(config))}.json`;
      entries.push({ name, data: config });
      return { Config: name, RepoTags: ref === undefined ? null : [ref], Layers: layerPaths };
    });
    entries.push({ name: 'manifest.json', data: json(manifest) });
    entries.push({ name: 'repositories', data: json(this.repositories()) });
    return entries;
  }

  /** docker save, Docker ≥ 25: an OCI layout whose blobs manifest.json also points at. */
  dockerBlobArchive(): OuterEntry[] {
    const entries = this.ociLayout('none');
    const layerPaths = this.diffIds.map((diffId) => `blobs/sha256/${hex(diffId)}`);
    const manifest = this.refs.map((ref) => {
      const config = this.config(ref);
      // ociLayout() wrote the same config blob already.
      return { Config: `blobs/sha256/${hex(sha256Digest(config))}`, RepoTags: ref === undefined ? null : [ref], Layers: layerPaths };
    });
    entries.push({ name: 'manifest.json', data: json(manifest) });
    entries.push({ name: 'repositories', data: json(this.repositories()) });
    return entries;
  }

  /** docker save before 1.10: `repositories`, `<id>/json` with `parent`, `<id>/layer.tar`, `<id>/VERSION`. */
  dockerLegacy(): OuterEntry[] {
    const entries: OuterEntry[] = [];
    for (const [i, id] of this.v1Ids.entries()) {
      entries.push({ name: `${id}/`, type: 'directory' }, { name: `${id}/VERSION`, data: '1.0' });
      entries.push({ name: `${id}/json`, data: json(this.v1Json(i, i === this.v1Ids.length - 1)) });
      entries.push({ name: `${id}/layer.tar`, data: this.layers[i] as Buffer });
    }
    entries.push({ name: 'repositories', data: json(this.repositories()) });
    return entries;
  }

  /** OCI image layout members (directories first), for oci-dir and oci-archive alike. */
  ociLayout(compression: LayerCompression = this.options.compression ?? 'none'): OuterEntry[] {
    const docker = this.options.mediaTypes === 'docker';
    const blobs = new Map<string, Buffer | string>();
    const describe = (mediaType: string, data: Buffer | string, extra: Record<string, unknown> = {}): Record<string, unknown> => {
      const digest = sha256Digest(data);
      blobs.set(hex(digest), data);
      return { mediaType, digest, size: Buffer.byteLength(data), ...extra };
    };
    const layerType = docker
      ? { none: 'application/vnd.docker.image.rootfs.diff.tar', gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' }[compression]
      : { none: 'application/vnd.oci.image.layer.v1.tar', gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' }[compression];
    const manifestType = docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
    const indexType = docker ? 'application/vnd.docker.distribution.manifest.list.v2+json' : 'application/vnd.oci.image.index.v1+json';
    const configType = docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json';

    const layerDescriptors = this.layers.map((layer) => describe(layerType, compressLayer(layer, compression)));
    const manifestFor = (ref: string | undefined, platform?: string): string =>
      json({
        schemaVersion: 2,
        mediaType: manifestType,
        config: describe(configType, this.config(ref, platform)),
        layers: layerDescriptors,
      });
    const top = this.refs.map((ref) => {
      const annotations = ref === undefined ? {} : { annotations: { 'org.opencontainers.image.ref.name': ref } };
      if (this.options.platforms === undefined) return describe(manifestType, manifestFor(ref), annotations);
      const manifests = this.options.platforms.map((platform) => {
        const [os, architecture, variant] = platform.split('/');
        return describe(manifestType, manifestFor(ref, platform), { platform: { os, architecture, ...(variant === undefined ? {} : { variant }) } });
      });
      return describe(indexType, json({ schemaVersion: 2, mediaType: indexType, manifests }), annotations);
    });
    return [
      { name: 'oci-layout', data: json({ imageLayoutVersion: '1.0.0' }) },
      { name: 'index.json', data: json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: top }) },
      { name: 'blobs/', type: 'directory' },
      { name: 'blobs/sha256/', type: 'directory' },
      ...[...blobs].map(([name, data]): OuterEntry => ({ name: `blobs/sha256/${name}`, data })),
    ];
  }

  private v1Json(index: number, withConfig: boolean): Record<string, unknown> {
    const createdBy = this.createdBy[index] as string;
    const prefix = '/bin/sh -c ';
    const cmd = createdBy.startsWith(prefix) ? ['/bin/sh', '-c', createdBy.slice(prefix.length)] : [createdBy];
    return {
      id: this.v1Ids[index],
      ...(index > 0 ? { parent: this.v1Ids[index - 1] } : {}),
      created: CREATED,
      container_config: { Cmd: cmd },
      ...(withConfig
        ? {
            architecture: hostArchitecture(),
            os: 'linux',
            config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'IMGFS=1'], Cmd: ['/bin/sh'], WorkingDir: '/' },
          }
        : {}),
    };
  }

  private repositories(): Record<string, Record<string, string>> {
    const top = this.v1Ids.at(-1);
    const out: Record<string, Record<string, string>> = {};
    for (const ref of this.refs) {
      if (ref === undefined || top === undefined) continue;
      const colon = ref.lastIndexOf(':');
      const [repo, tag] = colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
      (out[repo] ??= {})[tag] = top;
    }
    return out;
  }
}
