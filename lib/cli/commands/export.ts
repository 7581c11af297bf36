/**
 * `imgfs export`: the merged view as one POSIX pax tar stream, like `docker export`.
 * Deterministic: entries in walk order, nothing taken from the clock. Hard links are kept: the first
 * name of an inode is written as itself, later names (same `ino`) as hard links to it. Owners, modes,
 * names from the headers, device numbers and xattrs are kept, each in a PAX record where the ustar
 * field cannot hold it (lib/tar/tar-writer.ts); sparse files stay sparse (GNU PAX 1.0). Whiteouts
 * never appear (the merged view has none). Sockets cannot be stored in a tar and are skipped with a
 * warning, as GNU tar does.
 */

import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { nameToBytes, type ImageStats } from '../../index.js';
import { encodeEntry, END_OF_ARCHIVE, padding, type TarWriteEntry } from '../../tar/tar-writer.js';
import { lastValue, UsageError } from '../args.js';
import type { CommandSpec, Context } from '../context.js';
import { Output } from '../output.js';

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
  /** First name written for each multiply-linked inode. */
  const firstName = new Map<number, string>();
  for await (const { path, stats } of ctx.img.walk('/')) {
    const name = path.replace(/^\/+/, '');
    if (stats.type === 'socket') {
      ctx.warn(`export: ${path}: socket ignored`);
      continue;
    }
    const entry = entryFor(name, stats, (key) => ctx.warn(`export: ${path}: xattr ${JSON.stringify(key)} cannot be stored in a tar; left out`));
    if (stats.type !== 'dir' && stats.nlink > 1) {
      const first = firstName.get(stats.ino);
      if (first !== undefined) {
        await out.write(encodeEntry({ ...entry, type: 'hardlink', linkname: nameToBytes(first), size: 0, dataRegions: undefined }).header);
        continue;
      }
      firstName.set(stats.ino, name);
    }
    const { header, dataSize } = encodeEntry(entry);
    await out.write(header);
    if (dataSize === 0) continue;
    const regions = entry.dataRegions ?? [0, stats.size];
    let written = 0;
    for (let i = 0; i < regions.length; i += 2) {
      const start = regions[i] as number;
      const length = regions[i + 1] as number;
      if (length === 0) continue;
      for await (const chunk of ctx.img.createReadStream(path, { start, end: start + length - 1 })) {
        await out.write(chunk as Buffer);
        written += (chunk as Buffer).length;
      }
    }
    // The header promised dataSize bytes: anything else would shift every later header.
    if (written !== dataSize) throw new Error(`${path}: read ${written} of ${dataSize} bytes`);
    await out.write(padding(dataSize));
  }
  await out.write(END_OF_ARCHIVE);
}

const tarTypes = {
  file: 'file',
  dir: 'directory',
  symlink: 'symlink',
  fifo: 'fifo',
  char: 'character-device',
  block: 'block-device',
} as const;

/** GNU tar extracts a sparse file region by region in whole blocks: regions are widened to 512-byte edges. */
const SPARSE_ALIGN = 512;

export function entryFor(name: string, stats: ImageStats, dropXattr: (key: string) => void = () => undefined): TarWriteEntry {
  if (stats.type === 'socket') throw new Error('sockets have no tar representation');
  const xattrs: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(stats.xattrs)) {
    // A PAX keyword ends at the first '=' and may hold no NUL: such a name would be read back as another.
    if (key.includes('=') || key.includes('\0')) dropXattr(key);
    else xattrs[key] = value;
  }
  const isDevice = stats.type === 'char' || stats.type === 'block';
  // Names are written as their bytes: one that is not UTF-8 is kept as lone surrogates (nameToBytes).
  return {
    name: nameToBytes(name),
    type: tarTypes[stats.type],
    mode: stats.mode & 0o7777,
    uid: stats.uid,
    gid: stats.gid,
    uname: stats.uname,
    gname: stats.gname,
    size: stats.type === 'file' ? stats.size : 0,
    mtimeMs: stats.mtimeMs,
    linkname: stats.type === 'symlink' ? nameToBytes(stats.target ?? '') : '',
    devmajor: isDevice ? stats.devmajor : 0,
    devminor: isDevice ? stats.devminor : 0,
    xattrs,
    dataRegions: stats.type === 'file' && stats.dataRegions !== undefined ? alignedRegions(stats.dataRegions, stats.size) : undefined,
  };
}

/**
 * A sparse file's data regions widened to whole blocks (the bytes added are zeros read from the
 * holes), merged where they touch, with GNU tar's closing empty region at the end of the file.
 */
function alignedRegions(regions: readonly number[], size: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < regions.length; i += 2) {
    const length = regions[i + 1] as number;
    if (length === 0) continue;
    const start = Math.floor((regions[i] as number) / SPARSE_ALIGN) * SPARSE_ALIGN;
    const end = Math.min(size, Math.ceil(((regions[i] as number) + length) / SPARSE_ALIGN) * SPARSE_ALIGN);
    const last = out.length - 2;
    if (last >= 0 && (out[last] as number) + (out[last + 1] as number) >= start) {
      out[last + 1] = Math.max((out[last] as number) + (out[last + 1] as number), end) - (out[last] as number);
    } else {
      out.push(start, end - start);
    }
  }
  const last = out.length - 2;
  if (last < 0 || (out[last] as number) + (out[last + 1] as number) < size) out.push(size, 0);
  return out;
}
