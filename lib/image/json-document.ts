/**
 * Reading the small JSON documents of an image (manifests, indexes, configs, `repositories`, v1 layer
 * `json`). They are read whole, but never more than MAX_JSON_BYTES: a manifest that big is hostile.
 */
import { ImgfsError } from '../errors.js';
import type { ByteSource } from '../source/byte-source.js';
import { readSmall } from '../source/read-small.js';
import { checkDigest } from './digest.js';

/** Documents up to this size are read synchronously (readSmall). */
const SMALL_JSON_BYTES = 64 * 1024;

/** Largest JSON document the loader reads (8 MiB). */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;

/** Where a document lives, for messages: the archive (file or directory) and the member in it. */
export interface DocumentLocation {
  archive: string;
  member: string;
}

/** A digest the document's bytes must have (`verify`), and what to call it in messages. */
export interface ExpectedDigest {
  digest: string;
  /** E.g. `config digest`, `manifest digest`. */
  what: string;
}

/**
 * Reads `source` whole and parses it as JSON. ELIMIT above MAX_JSON_BYTES, EIMGFORMAT if not JSON,
 * EDIGEST when `expected` is given and the bytes do not hash to it (checked before parsing).
 */
export async function readJsonDocument(source: ByteSource, where: DocumentLocation, expected?: ExpectedDigest): Promise<unknown> {
  const { size } = source;
  if (size !== undefined && size > MAX_JSON_BYTES) throw tooBig(size, where);
  // One byte more than the limit tells a source of unknown size that is too long from one that fits.
  // A small document (a manifest, a config) in one synchronous read where the source is a file.
  const bytes = size !== undefined && size <= SMALL_JSON_BYTES ? await readSmall(source, 0, size) : await source.read(0, size ?? MAX_JSON_BYTES + 1);
  if (bytes.length > MAX_JSON_BYTES) throw tooBig(bytes.length, where);
  if (expected !== undefined) checkDigest(bytes, expected.digest, expected.what, where);
  return parseJsonDocument(bytes, where);
}

/** Parses JSON bytes (UTF-8, an optional BOM ignored); EIMGFORMAT naming the member when not JSON. */
export function parseJsonDocument(bytes: Buffer, where: DocumentLocation): unknown {
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    throw new ImgfsError('EIMGFORMAT', `${where.member} is not valid JSON${detail}`, { ...where, cause });
  }
}

function tooBig(size: number, where: DocumentLocation): ImgfsError {
  return new ImgfsError('ELIMIT', `${where.member} is ${size} bytes; JSON documents over ${MAX_JSON_BYTES} bytes are refused`, where);
}

// ---------------------------------------------------------------------------------------------------
// Shape checks shared by the format readers: each returns undefined for the wrong shape.

export type JsonObject = Record<string, unknown>;

export function asObject(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function asStringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? (value as string[]) : undefined;
}

/** A JSON object whose values are all strings (labels, annotations). */
export function asStringRecord(value: unknown): Record<string, string> | undefined {
  const object = asObject(value);
  if (object === undefined) return undefined;
  return Object.values(object).every((item) => typeof item === 'string') ? (object as Record<string, string>) : undefined;
}
