/**
 * `imgfs export`: the merged view as one tar stream (tar-stream pack), like `docker export`.
 * Deterministic: entries in walk order, nothing taken from the clock. Hard links are kept: the first
 * name of an inode is written as itself, later names (same `ino`) as hard links to it. Owners, modes,
 * names from the headers, device numbers and xattrs are kept; whiteouts never appear (the merged view
 * has none). Sockets cannot be stored in a tar and are skipped with a warning, as GNU tar does.
 */

import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Header, Pack } from 'tar-stream';
import type { ImageStats } from '../../index.js';
import { lastValue, UsageError } from '../args.js';
import type { CommandSpec, Context } from '../context.js';
import { Output } from '../output.js';
import { withByteNames } from './export-byte-names.js';

export const exportCommand: CommandSpec = {
  name: 'export',
  summary: 'write the merged filesystem as one tar archive',
  usage: '[-o FILE] IMAGE',
  details: 'Writes to stdout unless -o is given; refuses to write a tar to a terminal.',
  options: [{ long: 'output', short: 'o', value: true, valueName: 'FILE', help: 'write the archive to FILE' }],
  paths: { min: 0, max: 0 },
  async run(ctx) {
    const file = lastValue(ctx.args, 'output');
    if (file === undefined || file === '-') {
      if (ctx.io.stdoutIsTTY) throw new UsageError('refusing to write a tar archive to a terminal (use -o FILE or a pipe)');
      await writeArchive(ctx, ctx.out);
      return;
    }
    let stream: Writable;
    try {
      stream = createWriteStream(file);
      await new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', reject);
      });
    } catch (error) {
      ctx.pathFailed(file, error);
      return;
    }
    const out = new Output(stream);
    try {
      await writeArchive(ctx, out);
      await out.flush();
    } catch (error) {
      stream.destroy();
      ctx.pathFailed(file, error);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      stream.once('error', reject);
      stream.end(() => resolve());
    }).catch((error: unknown) => ctx.pathFailed(file, error));
  },
};

async function writeArchive(ctx: Context, out: Output): Promise<void> {
  // Loaded here, not at start-up: every other command would pay for it on each run.
  const { pack: createPack } = await import('tar-stream');
  const pack = createPack();
  const producing = addEntries(ctx, pack).then(
    () => pack.finalize(),
    (error: unknown) => {
      pack.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    },
  );
  let consumerError: unknown;
  try {
    for await (const chunk of pack) await out.write(chunk as Buffer);
  } catch (error) {
    consumerError = error;
    pack.destroy();
  }
  // The producer's error explains a destroyed pack better than the pack's own message.
  await producing.catch((error: unknown) => {
    consumerError ??= error;
  });
  if (consumerError !== undefined) throw consumerError;
}

async function addEntries(ctx: Context, pack: Pack): Promise<void> {
  /** First name written for each multiply-linked inode. */
  const firstName = new Map<number, string>();
  for await (const { path, stats } of ctx.img.walk('/')) {
    const name = path.replace(/^\/+/, '');
    if (stats.type === 'socket') {
      ctx.warn(`export: ${path}: socket ignored`);
      continue;
    }
    const header = headerFor(name, stats);
    if (stats.type !== 'dir' && stats.nlink > 1) {
      const first = firstName.get(stats.ino);
      if (first !== undefined) {
        await addEntry(pack, withByteNames(pack, { ...header, type: 'link', linkname: first, size: 0 }));
        continue;
      }
      firstName.set(stats.ino, name);
    }
    if (stats.type === 'file' && stats.size > 0) {
      await addFile(ctx, pack, withByteNames(pack, header), path);
    } else {
      await addEntry(pack, withByteNames(pack, header));
    }
  }
}

/** tar-stream's entry: a streamx Writable. */
type Sink = ReturnType<Pack['entry']>;

/**
 * Starts one archive entry. `done` settles by tar-stream's callback, which also reports a destroyed
 * entry (the reader went away, or the pack failed); the entry's own 'error' event says the same
 * thing again and is silenced, as an unheard 'error' would crash the process.
 */
function startEntry(pack: Pack, header: Header, data?: Buffer): { sink: Sink; done: Promise<void> } {
  let settle: (error?: Error | null) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  // Handled here so that an entry abandoned by a failing caller is no unhandled rejection;
  // callers that await `done` still see the error.
  done.catch(() => undefined);
  const sink = data === undefined ? pack.entry(header, settle) : pack.entry(header, data, settle);
  sink.on('error', () => undefined);
  return { sink, done };
}

/** An entry without data: a directory, link, device, fifo, or an empty file. */
function addEntry(pack: Pack, header: Header): Promise<void> {
  // tar-stream waits for the data of any 'file' entry, even an empty one: hand it zero bytes.
  return startEntry(pack, header, header.type === 'file' ? Buffer.alloc(0) : undefined).done;
}

/**
 * Streams one file into the archive. The entry is a streamx Writable, which node's `pipeline` does
 * not fully understand, so the copy is written out: write, wait for 'drain' when told to, end.
 */
async function addFile(ctx: Context, pack: Pack, header: Header, path: string): Promise<void> {
  const { sink, done } = startEntry(pack, header);
  const source = ctx.img.createReadStream(path);
  try {
    for await (const chunk of source) {
      if (sink.destroyed) break;
      if (!sink.write(chunk as Buffer)) {
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            sink.off('drain', wake);
            sink.off('close', wake);
            resolve();
          };
          sink.on('drain', wake);
          sink.on('close', wake);
        });
      }
    }
  } catch (error) {
    sink.destroy(error instanceof Error ? error : new Error(String(error)));
    await done.catch(() => undefined);
    throw error;
  } finally {
    source.destroy();
  }
  if (!sink.destroyed) sink.end(undefined);
  await done;
}

const tarTypes = {
  file: 'file',
  dir: 'directory',
  symlink: 'symlink',
  fifo: 'fifo',
  char: 'character-device',
  block: 'block-device',
} as const;

export function headerFor(name: string, stats: ImageStats): Header {
  if (stats.type === 'socket') throw new Error('sockets have no tar representation');
  const header: Header = {
    name: stats.type === 'dir' ? `${name}/` : name,
    type: tarTypes[stats.type],
    // With the type bits: tar-stream would replace a mode of 0 (`----------`) by its default.
    mode: stats.mode,
    uid: stats.uid,
    gid: stats.gid,
    uname: stats.uname,
    gname: stats.gname,
    size: stats.type === 'file' ? stats.size : 0,
    mtime: new Date(Math.floor(stats.mtimeMs / 1000) * 1000),
    linkname: stats.type === 'symlink' ? (stats.target ?? '') : '',
    devmajor: 0,
    devminor: 0,
  };
  if (stats.type === 'char' || stats.type === 'block') {
    header.devmajor = stats.devmajor;
    header.devminor = stats.devminor;
  }
  const pax: Record<string, string> = {};
  if (stats.mtimeMs % 1000 !== 0) pax.mtime = (stats.mtimeMs / 1000).toFixed(9).replace(/\.?0+$/, '');
  // Octal fields of 7 digits end at 2097151; larger ids need PAX records.
  if (stats.uid > 0o7777777) pax.uid = String(stats.uid);
  if (stats.gid > 0o7777777) pax.gid = String(stats.gid);
  for (const [key, value] of Object.entries(stats.xattrs)) {
    const text = value.toString('utf8');
    // PAX records are text here (tar-stream); a value that is not UTF-8 goes as libarchive's base64.
    if (Buffer.from(text, 'utf8').equals(value)) pax[`SCHILY.xattr.${key}`] = text;
    else pax[`LIBARCHIVE.xattr.${encodeURIComponent(key)}`] = value.toString('base64');
  }
  if (Object.keys(pax).length > 0) header.pax = pax;
  return header;
}
