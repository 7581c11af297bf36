/**
 * Opens layers built inline as an image of bare layer tars (DESIGN.md F4), the way every rule test
 * does: build each layer with `buildLayer`, write it to a fresh temp dir, `openImage([...paths])`.
 * Cleanup (close + remove the dir) runs when the current test finishes, or by calling `dispose`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { onTestFinished } from 'vitest';
import { openImage, type ImageFS, type OpenOptions } from '../../lib/index.js';
import { buildLayer, type BuildLayerOptions, type LayerEntrySpec } from './layer-tar.js';

export interface OpenedLayers {
  fs: ImageFS;
  /** The temp dir that holds `l0.tar`, `l1.tar`, ... */
  dir: string;
  paths: string[];
  /** Every message passed to `onWarning`. */
  warnings: string[];
  dispose(): Promise<void>;
}

export interface OpenLayersOptions extends OpenOptions {
  build?: BuildLayerOptions;
  /** gzip every layer (`l0.tar.gz` ...). */
  gzip?: boolean;
  /** `'test'` (default): dispose when the current test finishes; `'manual'`: the caller disposes. */
  cleanup?: 'test' | 'manual';
}

/** Layers bottom first; each is a list of entries or an already encoded tar. Cache is off by default. */
export async function openLayers(layers: ReadonlyArray<readonly LayerEntrySpec[] | Buffer>, options: OpenLayersOptions = {}): Promise<OpenedLayers> {
  const { build, gzip, cleanup, ...openOptions } = options;
  const dir = mkdtempSync(join(tmpdir(), 'imgfs-rule-'));
  const paths = layers.map((layer, index) => {
    const tar = Buffer.isBuffer(layer) ? layer : buildLayer(layer, build);
    const path = join(dir, gzip === true ? `l${index}.tar.gz` : `l${index}.tar`);
    writeFileSync(path, gzip === true ? gzipSync(tar) : tar);
    return path;
  });
  const warnings: string[] = [];
  const userWarning = openOptions.onWarning;
  let fs: ImageFS;
  try {
    fs = await openImage(paths, {
      cache: false,
      ...openOptions,
      onWarning: (warning) => {
        warnings.push(warning.message);
        userWarning?.(warning);
      },
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  let disposed = false;
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    try {
      await fs.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  if (cleanup !== 'manual') onTestFinished(dispose);
  return { fs, dir, paths, warnings, dispose };
}

/** Every path the merged view holds, with `walk` (lstat semantics), in walk order. */
export async function walkPaths(fs: ImageFS, from = '/'): Promise<string[]> {
  const paths: string[] = [];
  for await (const entry of fs.walk(from)) paths.push(entry.path);
  return paths;
}

/** Octal permission bits (with setuid/setgid/sticky) of a mode. */
export function perm(mode: number): number {
  return mode & 0o7777;
}
