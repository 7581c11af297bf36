/**
 * Opening an image where it lies: recognise its format (DESIGN.md F1–F4) from a directory's files or
 * an archive's member names, and hand back its layers (bottom first), config and a way to close it.
 * Only tar headers and small JSON documents are read here; layers stay where they are.
 */
import { statSync } from 'node:fs';
import { ImgfsError } from '../errors.js';
import type { ByteSource } from '../source/byte-source.js';
import { detectCompression, openDecompressed } from '../source/codec.js';
import { FileSource } from '../source/file-source.js';
import { NOT_A_HEADER } from '../tar/tar-errors.js';
import { bareLayer, openBareLayers } from './bare-layers.js';
import { DOCKER_MANIFEST, loadDockerArchive } from './docker-archive.js';
import { loadDockerLegacy, looksLikeDockerLegacy } from './docker-legacy.js';
import { DirLayoutFiles, TarLayoutFiles } from './layout-files.js';
import type { ImageConfig, ImageFormat, LayerBlob, LoadedImage, LoadOptions } from './loaded-image.js';
import { loadOciLayout } from './oci-layout.js';
import { classifyByFirstMember } from './first-members.js';
import { DEFAULT_MAX_MEMBERS, OuterTar } from './outer-tar.js';
import { MemberMemory } from './remembered-members.js';
import { loadRegistryImage } from './registry-image.js';
import { formatsOf, parseTransportName } from './transport-name.js';

const OCI_LAYOUT_FILES = ['oci-layout', 'index.json'] as const;

interface Closable {
  close(): Promise<void>;
}

interface Recognised {
  format: ImageFormat;
  layers: LayerBlob[];
  config: ImageConfig | undefined;
}

/**
 * Opens `source`: an array is a list of bare layer files, bottom first (F4, even with one element);
 * a directory is an OCI layout (F3); a file is a docker save (F1, F2), an OCI archive (F3) or, failing
 * those, a single layer tar (F4), told apart by the first member's name (first-members.ts). A gzip or
 * zstd file whose first member looks like an image archive's is read as that archive, through its
 * decompressed bytes.
 */
export async function loadImage(source: string | string[], options: LoadOptions = {}): Promise<LoadedImage> {
  const archive = Array.isArray(source) ? source.join(', ') : source;
  const opened: Closable[] = [];
  const closeAll = once(async () => {
    let failure: unknown;
    for (const item of opened.reverse()) {
      try {
        await item.close();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  });
  try {
    const recognised = Array.isArray(source)
      ? { format: 'layers' as const, layers: await openBareLayers(source, (s) => opened.push(s), options.limits?.maxLayers), config: undefined }
      : await recogniseNamed(source, options, opened);
    return { ...recognised, archive, close: closeAll };
  } catch (error) {
    await closeAll().catch(() => undefined);
    throw error instanceof ImgfsError && archive !== '' ? error.locate({ archive }) : error;
  }
}

/** A name with a transport prefix (transport-name.ts) is that transport only; anything else a path. */
async function recogniseNamed(source: string, options: LoadOptions, opened: Closable[]): Promise<Recognised> {
  const named = parseTransportName(source);
  if (named === undefined) return recognise(source, options, opened);
  if (named.transport === 'docker') {
    const image = await loadRegistryImage(named.name, options);
    opened.push(image);
    return { format: 'registry', layers: image.layers, config: image.config };
  }
  const recognised = await recognise(named.path, named.ref === undefined ? options : { ...options, ref: named.ref }, opened);
  if (!formatsOf(named.transport).has(recognised.format)) {
    throw new ImgfsError('EIMGFORMAT', `${named.transport}: expected ${[...formatsOf(named.transport)].join(' or ')}, found ${recognised.format}`, {
      archive: named.path,
    });
  }
  return recognised;
}

async function recognise(path: string, options: LoadOptions, opened: Closable[]): Promise<Recognised> {
  // Local metadata calls are synchronous here (and below): through the thread pool each costs a round
  // trip longer than the call, and node:fs/promises ~1 ms to load (bench/README.md, "warm-gzip").
  if (statSync(path).isDirectory()) return openLayoutDir(path, options, opened);

  const file = await FileSource.open(path);
  opened.push(file);
  if (file.size === 0) throw new ImgfsError('EIMGFORMAT', 'the file is empty', { archive: path });
  // An image archive walked before (this very file, unchanged) is read from its remembered members.
  const memory = options.members === undefined ? undefined : new MemberMemory(options.members, file, options.limits?.maxEntries ?? DEFAULT_MAX_MEMBERS);
  let tar = await memory?.recall();
  if (tar === undefined) {
    let outer: ByteSource = file;
    if ((await detectCompression(file)) !== 'none') {
      const maxRatio = options.limits?.maxRatio;
      const { source: decompressed } = await openDecompressed(file, maxRatio === undefined ? {} : { maxRatio });
      // A layer, or not a tar at all (the layer indexer then reports it with its own offsets).
      if ((await classifyByFirstMember(decompressed)).kind !== 'archive') {
        await decompressed.close();
        return single(file, path);
      }
      opened.push(decompressed);
      outer = decompressed;
    } else {
      // Recognised from the first member: a layer tar is not walked to its end (on every open, warm too)
      // only to learn that it has no manifest.json.
      const verdict = await classifyByFirstMember(file);
      if (verdict.kind === 'not-tar') throw notAnImage(path, verdict.error);
      if (verdict.kind === 'layer') return single(file, path);
    }
    try {
      tar = await OuterTar.read(outer, path, options.limits);
    } catch (error) {
      // Only a first block that is no header at all means "not a tar"; a header with bad values at
      // offset 0 is a damaged tar, and its own reason says how.
      if (error instanceof ImgfsError && error.code === 'ETARCORRUPT' && (error.offset ?? 0) === 0 && error.reason === NOT_A_HEADER) {
        throw notAnImage(path, error);
      }
      throw error;
    }
    // Only an image archive's members (a few dozen) are worth keeping, and only the file's own.
    if (outer === file && isImageArchive(tar)) await memory?.remember(tar.members());
  }

  if (tar.get(DOCKER_MANIFEST) !== undefined) {
    return { format: 'docker-archive', ...(await loadDockerArchive(tar, options)) };
  }
  if (tar.get('oci-layout') !== undefined) {
    return { format: 'oci-archive', ...(await loadOciLayout(new TarLayoutFiles(tar), options)) };
  }
  if (looksLikeDockerLegacy(tar)) {
    return { format: 'docker-legacy', ...(await loadDockerLegacy(tar, options)) };
  }
  // No image metadata: the file is itself a layer tar.
  return single(file, path);
}

async function openLayoutDir(dir: string, options: LoadOptions, opened: Closable[]): Promise<Recognised> {
  const missing: string[] = [];
  for (const name of OCI_LAYOUT_FILES) {
    if (!isFile(`${dir}/${name}`)) missing.push(name);
  }
  if (missing.length > 0) {
    throw new ImgfsError('EIMGFORMAT', `not an OCI image layout: ${missing.join(' and ')} missing`, {
      archive: dir,
      member: missing[0],
    });
  }
  const files = await DirLayoutFiles.open(dir);
  opened.push(files);
  return { format: 'oci-dir', ...(await loadOciLayout(files, options)) };
}

/** A regular file (through symlinks); anything else, or a failed stat, is not. */
function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isImageArchive(tar: OuterTar): boolean {
  return tar.get(DOCKER_MANIFEST) !== undefined || tar.get('oci-layout') !== undefined || looksLikeDockerLegacy(tar);
}

function single(file: ByteSource, path: string): Recognised {
  return { format: 'layers', layers: [bareLayer(file, path)], config: undefined };
}

function notAnImage(path: string, cause: ImgfsError): ImgfsError {
  return new ImgfsError('EIMGFORMAT', 'neither an image archive nor a layer tar', { archive: path, cause });
}

function once(run: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= run());
}
