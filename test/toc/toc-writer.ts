/**
 * Writes zstd:chunked and eStargz layers per their specifications, for tests that need layers the real
 * producers will not write (a hostile TOC, the 64-byte zstd:chunked footer that Debian's podman 4.3
 * predates). The layout follows the writers in containers/storage (pkg/chunked/compressor) and
 * stargz-snapshotter (estargz): headers in one frame or member, each file's data (each chunk of it)
 * starting a frame or member of its own, the TOC after the content, then the footer. The result is
 * cross-checked against the real producers' output in toc-writer.test.ts (same footer bytes, same
 * reader verdicts).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { END, member, padded } from '../tar/raw-tar.js';

export interface FixtureEntry {
  name: string;
  type?: 'reg' | 'dir' | 'symlink' | 'hardlink';
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  /** Seconds since the epoch (default 1 700 000 000). */
  mtime?: number;
}

export interface TocRecordJson {
  [key: string]: unknown;
  name: string;
  type: string;
}
export interface TocJson {
  version: number;
  entries: TocRecordJson[];
  [key: string]: unknown;
}

export interface WrittenLayer {
  blob: Buffer;
  annotations: Record<string, string>;
  /** The uncompressed tar stream the blob decompresses to. */
  tar: Buffer;
}

export interface WriteOptions {
  /** Bytes per chunk of a file (default 1 MiB). */
  chunkSize?: number;
  /** Changes the TOC before it is written; the annotation digests are of the TOC as written. */
  tamper?: (toc: TocJson) => void;
  /** Write the annotation digest of the TOC before `tamper` (a TOC that does not match its digest). */
  staleDigest?: boolean;
  /** zstd:chunked: footer layout (default 64, with a tar-split frame). */
  footer?: 40 | 64;
  /** eStargz: put a `.no.prefetch.landmark` member first, as stargz-snapshotter does. */
  landmark?: boolean;
  /**
   * eStargz `--estargz-min-chunk-size`: small files' data joins the current gzip member instead of
   * starting one, located by `innerOffset` (decompressed bytes of the member before it).
   */
  shareMembers?: boolean;
}

const TYPEFLAG = { reg: '0', hardlink: '1', symlink: '2', dir: '5' } as const;
const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const rfc3339 = (seconds: number): string => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');

function headerOf(entry: FixtureEntry): Buffer {
  const type = entry.type ?? 'reg';
  const data = type === 'reg' ? Buffer.from(entry.data ?? '') : Buffer.alloc(0);
  return member({
    name: entry.name,
    typeflag: TYPEFLAG[type],
    mode: entry.mode ?? (type === 'dir' ? 0o755 : 0o644),
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
    size: data.length,
    mtime: entry.mtime ?? 1_700_000_000,
    linkname: entry.linkname ?? '',
    // Names only the tar headers (and so the tar-split) carry: zstd:chunked TOCs have none.
    uname: entry.uid ? `user${entry.uid}` : 'root',
    gname: entry.gid ? `group${entry.gid}` : 'root',
  }).subarray(0, 512);
}

function recordOf(entry: FixtureEntry): TocRecordJson {
  const type = entry.type ?? 'reg';
  const data = Buffer.from(entry.data ?? '');
  const record: TocRecordJson = { name: entry.name, type, mode: entry.mode ?? (type === 'dir' ? 0o755 : 0o644), modtime: rfc3339(entry.mtime ?? 1_700_000_000) };
  if (entry.uid) record['uid'] = entry.uid;
  if (entry.gid) record['gid'] = entry.gid;
  if (entry.linkname !== undefined) record['linkName'] = entry.linkname;
  if (type === 'reg' && data.length > 0) {
    record['size'] = data.length;
    record['digest'] = sha256(data);
  }
  return record;
}

/** Splits compressed output into frames or members as the writers do, tracking offsets. */
class FramedWriter {
  readonly parts: Buffer[] = [];
  readonly tarParts: Buffer[] = [];
  /** The tar-split of what was written: the tar's own bytes as segments, file data as its length. */
  readonly tarSplit: string[] = [];
  private pending: Buffer[] = [];
  length = 0;
  constructor(private readonly compress: (bytes: Buffer) => Buffer) {}
  write(bytes: Buffer, fileName?: string): void {
    this.pending.push(bytes);
    this.tarParts.push(bytes);
    const position = this.tarSplit.length;
    const record = fileName === undefined ? { type: 2, payload: bytes.toString('base64'), position } : { type: 1, name: fileName, size: bytes.length, payload: null, position };
    this.tarSplit.push(JSON.stringify(record));
  }
  /** Closes the current frame or member (if it holds anything); returns where the next one starts. */
  /** Decompressed bytes in the member being written. */
  get pendingLength(): number {
    return this.pending.reduce((sum, part) => sum + part.length, 0);
  }
  cut(): number {
    if (this.pending.length > 0) {
      const frame = this.compress(Buffer.concat(this.pending));
      this.parts.push(frame);
      this.length += frame.length;
      this.pending = [];
    }
    return this.length;
  }
  raw(bytes: Buffer): void {
    this.cut();
    this.parts.push(bytes);
    this.length += bytes.length;
  }
}

/** Writes each entry's header, then its data in chunks, each chunk a new frame or member. */
function writeContent(writer: FramedWriter, entries: readonly FixtureEntry[], chunkSize: number, zstdStyle: boolean, shareMembers = false): TocRecordJson[] {
  // zstd:chunked keeps the tar's end blocks in the content; eStargz writes them after its TOC entry.
  const records: TocRecordJson[] = [];
  for (const entry of entries) {
    writer.write(headerOf(entry));
    const record = recordOf(entry);
    records.push(record);
    const data = (entry.type ?? 'reg') === 'reg' ? Buffer.from(entry.data ?? '') : Buffer.alloc(0);
    if (data.length === 0) continue;
    const chunkCount = Math.ceil(data.length / chunkSize);
    for (let i = 0; i < chunkCount; i++) {
      const chunk = data.subarray(i * chunkSize, Math.min(data.length, (i + 1) * chunkSize));
      const target: TocRecordJson = i === 0 ? record : { name: entry.name, type: 'chunk' };
      if (shareMembers && chunkCount === 1 && writer.pendingLength > 0) {
        // The member being written starts where everything written so far ends.
        target['offset'] = writer.length;
        target['innerOffset'] = writer.pendingLength;
      } else {
        target['offset'] = writer.cut();
      }
      if (i > 0) target['chunkOffset'] = i * chunkSize;
      if (chunkCount > 1) {
        target['chunkSize'] = chunk.length;
        target['chunkDigest'] = sha256(chunk);
      }
      writer.write(chunk, entry.name);
      if (i > 0) records.push(target);
    }
    // zstd:chunked closes the payload's frame; the padding goes with the next headers.
    if (zstdStyle) record['endOffset'] = writer.cut();
    const pad = padded(data).subarray(data.length);
    writer.write(pad);
  }
  if (zstdStyle) writer.write(END);
  return records;
}

function finishToc(records: TocRecordJson[], options: WriteOptions): { json: Buffer; original: Buffer } {
  const toc: TocJson = { version: 1, entries: records };
  const original = Buffer.from(JSON.stringify(toc, null, '\t'));
  options.tamper?.(toc);
  return { json: Buffer.from(JSON.stringify(toc, null, '\t')), original };
}

export function writeEstargz(entries: readonly FixtureEntry[], options: WriteOptions = {}): WrittenLayer {
  const writer = new FramedWriter((bytes) => gzipSync(bytes));
  const all = options.landmark === true ? [{ name: '.no.prefetch.landmark', data: Buffer.from([0x0f]) }, ...entries] : [...entries];
  const records = writeContent(writer, all, options.chunkSize ?? 1024 * 1024, false, options.shareMembers === true);
  const contentTar = Buffer.concat(writer.tarParts);
  const { json, original } = finishToc(records, options);
  const pendingEnd = writer.cut();
  const tocTar = Buffer.concat([member({ name: 'stargz.index.json', typeflag: '0', mode: 0o644, mtime: 0 }, json), END]);
  const tocOffset = pendingEnd;
  writer.raw(gzipSync(tocTar));
  writer.raw(estargzFooter(tocOffset));
  return {
    blob: Buffer.concat(writer.parts),
    annotations: { 'containerd.io/snapshot/stargz/toc.digest': sha256(options.staleDigest === true ? original : json) },
    tar: Buffer.concat([contentTar, tocTar]),
  };
}

/** The 51-byte footer: an empty gzip member whose `SG` extra subfield holds `%016xSTARGZ`. */
export function estargzFooter(tocOffset: number): Buffer {
  const subfield = Buffer.from(`${tocOffset.toString(16).padStart(16, '0')}STARGZ`, 'latin1');
  const extra = Buffer.concat([Buffer.from('SG', 'latin1'), u16(subfield.length), subfield]);
  return Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff]), u16(extra.length), extra, Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]), Buffer.alloc(8)]);
}

export function writeZstdChunked(entries: readonly FixtureEntry[], options: WriteOptions = {}): WrittenLayer {
  const writer = new FramedWriter((bytes) => zstdCompressSync(bytes));
  const records = writeContent(writer, entries, options.chunkSize ?? 1024 * 1024, true);
  const tar = Buffer.concat(writer.tarParts);
  const tarSplitJson = Buffer.from(`${writer.tarSplit.join('\n')}\n`);
  const tarSplit = zstdCompressSync(tarSplitJson);
  const { json: plainJson, original } = finishToc(records, options);
  const footerSize = options.footer ?? 64;
  const json = footerSize === 64 ? Buffer.from(JSON.stringify({ ...JSON.parse(plainJson.toString()), tarSplitDigest: sha256(tarSplit) }, null, '\t')) : plainJson;
  const compressedToc = zstdCompressSync(json);
  const tocOffset = writer.cut() + 8;
  writer.raw(skippable(compressedToc));
  const tarSplitOffset = writer.length + 8;
  if (footerSize === 64) writer.raw(skippable(tarSplit));
  const split = footerSize === 64 ? { offset: tarSplitOffset, length: tarSplit.length, uncompressedLength: tarSplitJson.length } : undefined;
  writer.raw(zstdChunkedFooterFrame(tocOffset, compressedToc.length, json.length, split));
  const checksumOf = options.staleDigest === true ? zstdCompressSync(original) : compressedToc;
  const keys = footerSize === 64 ? 'io.github.containers' : 'io.containers';
  return {
    blob: Buffer.concat(writer.parts),
    annotations: {
      [`${keys}.zstd-chunked.manifest-checksum`]: sha256(checksumOf),
      [`${keys}.zstd-chunked.manifest-position`]: `${tocOffset}:${compressedToc.length}:${json.length}:1`,
    },
    tar,
  };
}

/**
 * The footer frame: a skippable frame of 40 bytes (TOC offset, lengths, type 1, `GnUlInUx`) or, with a
 * tar-split, 64 bytes (the same, the tar-split's offset and lengths, `GNUlInUx`).
 */
export function zstdChunkedFooterFrame(
  tocOffset: number,
  tocLength: number,
  tocUncompressed: number,
  tarSplit?: { offset: number; length: number; uncompressedLength: number },
): Buffer {
  const words = [tocOffset, tocLength, tocUncompressed, 1];
  if (tarSplit !== undefined) words.push(tarSplit.offset, tarSplit.length, tarSplit.uncompressedLength);
  return skippable(Buffer.concat([...words.map(u64), Buffer.from(tarSplit === undefined ? 'GnUlInUx' : 'GNUlInUx', 'latin1')]));
}

function skippable(data: Buffer): Buffer {
  const header = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]);
  header.writeUInt32LE(data.length, 4);
  return Buffer.concat([header, data]);
}

function u16(value: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16LE(value);
  return bytes;
}

function u64(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(BigInt(value));
  return bytes;
}

/** An OCI layout holding one image of one layer, with the layer descriptor's annotations. */
export function writeOciLayer(dir: string, layer: WrittenLayer, mediaType: string): string {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (bytes: Buffer): { digest: string; size: number } => {
    const digest = sha256(bytes);
    writeFileSync(join(blobs, digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer.tar)] } })));
  const blob = put(layer.blob);
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType, ...blob, annotations: layer.annotations }],
      }),
    ),
  );
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { architecture: 'amd64', os: 'linux' } }] }),
  );
  return dir;
}
