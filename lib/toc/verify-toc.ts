import { createHash } from '../lazy-crypto.js';
import type { ByteSource } from '../source/byte-source.js';
import { ImgfsError } from '../errors.js';
import { normalizeEntryName } from '../table/entry-name.js';
import type { TarEntry } from '../tar/tar-entry.js';
import type { TocLayer } from './toc-layer.js';
import { isTocMetadataName } from './toc-metadata.js';

/** Bytes compared per read when a file's content is held against the tar stream. */
const PIECE = 1024 * 1024;

/**
 * `verify` for a layer read through its TOC. The TOC is the layer's claim; the tar stream is what a
 * runtime that pulls the whole layer extracts, and a TOC that hides a file from a scanner is an
 * attack. So every member of the tar stream must have its TOC entry and the reverse, with the same
 * type, mode, owners, size, link target, device numbers, xattrs and (to the second eStargz keeps)
 * mtime; and every file's bytes read through the TOC's offsets must be the bytes the tar stream holds
 * (and hash to the TOC's `digest`). Any disagreement is EDIGEST naming the path.
 */
export async function verifyTocAgainstTar(toc: TocLayer, members: AsyncIterable<TarEntry>, tarStream: ByteSource): Promise<void> {
  const claimed = new Map<string, TarEntry[]>();
  for (const member of toc.members) {
    const path = normalizeEntryName(member.name);
    const list = claimed.get(path) ?? [];
    list.push(member);
    claimed.set(path, list);
  }
  const digests = new Map<string, string | undefined>();
  for (const entry of toc.toc.entries) digests.set(normalizeEntryName(entry.name), entry.digest);
  for await (const actual of members) {
    if (isTocMetadataName(actual.name)) continue;
    const path = normalizeEntryName(actual.name);
    const claim = claimed.get(path)?.shift();
    if (claim === undefined) throw disagreement(path, 'the tar stream has it, the table of contents does not list it', actual.headerOffset);
    compareMetadata(path, claim, actual);
    if (actual.type === 'file' && actual.size > 0) await compareContent(path, claim, actual, toc.content, tarStream, digests.get(path));
  }
  for (const [path, rest] of claimed) {
    if (rest.length > 0) throw disagreement(path, 'the table of contents lists it, the tar stream does not have it');
  }
}

function compareMetadata(path: string, claim: TarEntry, actual: TarEntry): void {
  const fields: Array<[string, unknown, unknown]> = [
    ['type', claim.type, actual.type],
    ['mode', claim.mode.toString(8), actual.mode.toString(8)],
    ['uid', claim.uid, actual.uid],
    ['gid', claim.gid, actual.gid],
    ['size', claim.size, actual.size],
    ['link target', linkOf(claim), linkOf(actual)],
    ['device numbers', deviceOf(claim), deviceOf(actual)],
    ['xattrs', xattrsOf(claim), xattrsOf(actual)],
  ];
  // zstd:chunked TOCs carry no user or group names; where a TOC states one it must match.
  if (claim.uname !== '') fields.push(['user name', claim.uname, actual.uname]);
  if (claim.gname !== '') fields.push(['group name', claim.gname, actual.gname]);
  for (const [what, claimed, found] of fields) {
    if (claimed !== found) throw disagreement(path, `${what}: the table of contents says ${String(claimed)}, the tar stream ${String(found)}`, actual.headerOffset);
  }
  // eStargz rounds mtimes to the second.
  if (Math.abs(claim.mtimeMs - actual.mtimeMs) > 500) {
    throw disagreement(path, `mtime: the table of contents says ${claim.mtimeMs} ms, the tar stream ${actual.mtimeMs} ms`, actual.headerOffset);
  }
}

/** The file's bytes through the TOC's runs and from the tar stream, piece by piece. */
async function compareContent(
  path: string,
  claim: TarEntry,
  actual: TarEntry,
  tocContent: ByteSource,
  tarStream: ByteSource,
  digest: string | undefined,
): Promise<void> {
  const hash = createHash('sha256');
  for (let done = 0; done < actual.size; done += PIECE) {
    const length = Math.min(PIECE, actual.size - done);
    const [viaToc, inTar] = await Promise.all([tocContent.read(claim.dataOffset + done, length), tarStream.read(actual.dataOffset + done, length)]);
    if (!viaToc.equals(inTar)) {
      throw disagreement(path, `bytes from ${done} read through the table of contents' offsets differ from the tar stream's`, actual.dataOffset + done);
    }
    hash.update(inTar);
  }
  const found = `sha256:${hash.digest('hex')}`;
  if (digest !== undefined && digest !== found) throw disagreement(path, `the table of contents says digest ${digest}, the tar stream's content is ${found}`, actual.dataOffset);
}

function linkOf(entry: TarEntry): string {
  if (entry.type === 'hardlink') return normalizeEntryName(entry.linkname);
  return entry.type === 'symlink' ? entry.linkname : '';
}

function deviceOf(entry: TarEntry): string {
  return entry.type === 'character-device' || entry.type === 'block-device' ? `${entry.devmajor},${entry.devminor}` : '';
}

function xattrsOf(entry: TarEntry): string {
  return Object.keys(entry.xattrs)
    .sort()
    .map((key) => `${key}=${(entry.xattrs[key] as Buffer).toString('base64')}`)
    .join(' ');
}

function disagreement(path: string, reason: string, offset?: number): ImgfsError {
  return new ImgfsError('EDIGEST', `/${path}: ${reason}`, offset === undefined ? {} : { offset });
}
