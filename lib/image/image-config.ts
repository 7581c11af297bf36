/**
 * The image config (OCI `application/vnd.oci.image.config.v1+json`, Docker
 * `application/vnd.docker.container.image.v1+json`): parsed defensively, field by field — a field of
 * the wrong shape is dropped, not fatal — and its history paired with the layers.
 */
import { ImgfsError } from '../errors.js';
import type { ByteSource } from '../source/byte-source.js';
import {
  asObject,
  asString,
  asStringArray,
  asStringRecord,
  readJsonDocument,
  type DocumentLocation,
  type ExpectedDigest,
  type JsonObject,
} from './json-document.js';
import type { ImageConfig } from './loaded-image.js';

type ContainerConfig = NonNullable<ImageConfig['config']>;
type HistoryEntry = NonNullable<ImageConfig['history']>[number];

/**
 * Reads and parses a config blob. EIMGFORMAT (naming the member) when it is not a JSON object; EDIGEST
 * when `expected` is given and the bytes do not hash to it.
 */
export async function readImageConfig(source: ByteSource, where: DocumentLocation, expected?: ExpectedDigest): Promise<ImageConfig> {
  const document = await readJsonDocument(source, where, expected);
  const object = asObject(document);
  if (object === undefined) throw new ImgfsError('EIMGFORMAT', `config ${where.member} is not a JSON object`, where);
  return parseImageConfig(object);
}

/** Keeps the fields imgfs exposes, each only when it has the shape the spec gives it. */
export function parseImageConfig(document: JsonObject): ImageConfig {
  const config: ImageConfig = {};
  const architecture = asString(document['architecture']);
  if (architecture !== undefined) config.architecture = architecture;
  const os = asString(document['os']);
  if (os !== undefined) config.os = os;
  const variant = asString(document['variant']);
  if (variant !== undefined) config.variant = variant;
  const created = asString(document['created']);
  if (created !== undefined) config.created = created;
  const container = parseContainerConfig(document['config']);
  if (container !== undefined) config.config = container;
  const rootfs = asObject(document['rootfs']);
  const diffIds = asStringArray(rootfs?.['diff_ids']);
  if (rootfs !== undefined && diffIds !== undefined) {
    config.rootfs = { type: asString(rootfs['type']) ?? 'layers', diff_ids: [...diffIds] };
  }
  if (Array.isArray(document['history'])) {
    config.history = document['history'].flatMap((item: unknown) => {
      const entry = parseHistoryEntry(item);
      return entry === undefined ? [] : [entry];
    });
  }
  return config;
}

/** The container config (`config` of an image config, or of a v1 layer json). */
export function parseContainerConfig(value: unknown): ContainerConfig | undefined {
  const object = asObject(value);
  if (object === undefined) return undefined;
  const out: ContainerConfig = {};
  const user = asString(object['User']);
  if (user !== undefined) out.User = user;
  const env = asStringArray(object['Env']);
  if (env !== undefined) out.Env = [...env];
  const entrypoint = nullableStrings(object['Entrypoint']);
  if (entrypoint !== undefined) out.Entrypoint = entrypoint;
  const cmd = nullableStrings(object['Cmd']);
  if (cmd !== undefined) out.Cmd = cmd;
  const workingDir = asString(object['WorkingDir']);
  if (workingDir !== undefined) out.WorkingDir = workingDir;
  const labels = object['Labels'] === null ? null : asStringRecord(object['Labels']);
  if (labels !== undefined) out.Labels = labels === null ? null : { ...labels };
  const ports = nullableObject(object['ExposedPorts']);
  if (ports !== undefined) out.ExposedPorts = ports;
  const volumes = nullableObject(object['Volumes']);
  if (volumes !== undefined) out.Volumes = volumes;
  const stopSignal = asString(object['StopSignal']);
  if (stopSignal !== undefined) out.StopSignal = stopSignal;
  return out;
}

function parseHistoryEntry(value: unknown): HistoryEntry | undefined {
  const object = asObject(value);
  if (object === undefined) return undefined;
  const entry: HistoryEntry = {};
  for (const key of ['created', 'created_by', 'author', 'comment'] as const) {
    const text = asString(object[key]);
    if (text !== undefined) entry[key] = text;
  }
  if (typeof object['empty_layer'] === 'boolean') entry.empty_layer = object['empty_layer'];
  return entry;
}

function nullableStrings(value: unknown): string[] | null | undefined {
  if (value === null) return null;
  const strings = asStringArray(value);
  return strings === undefined ? undefined : [...strings];
}

function nullableObject(value: unknown): Record<string, unknown> | null | undefined {
  if (value === null) return null;
  const object = asObject(value);
  return object === undefined ? undefined : { ...object };
}

/** `rootfs.diff_ids[index]`, when the config has it. */
export function diffIdOf(config: ImageConfig | undefined, index: number): string | undefined {
  return config?.rootfs?.diff_ids[index];
}

/**
 * `created_by` for each of `layerCount` layers, bottom first: history entries marked `empty_layer`
 * produced no layer and are skipped; the others pair with the layers in order. Missing or surplus
 * entries leave `undefined` (builders disagree about history; it never blocks opening an image).
 */
export function createdByPerLayer(config: ImageConfig | undefined, layerCount: number): Array<string | undefined> {
  const producing = (config?.history ?? []).filter((entry) => entry.empty_layer !== true);
  return Array.from({ length: layerCount }, (_, index) => producing[index]?.created_by);
}
