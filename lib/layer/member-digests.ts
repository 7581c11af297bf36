import { createHash, hashOnce } from '../lazy-crypto.js';
import type { ByteSource } from '../source/byte-source.js';
import type { TarEntry } from '../tar/tar-entry.js';
import { normalizeEntryName } from '../table/entry-name.js';

/**
 * Bytes hashed per update: a decompressed layer's span (1 MiB), so that each read is served as a
 * view of one decoded span, and hashing one chunk overlaps with the thread pool decoding the next.
 */
const CHUNK = 1024 * 1024;

/**
 * Digests of one layer's regular files, computed while the pass that indexes the layer goes past
 * their data (a scan's `hash`): the pass and the hashing share one decode of the layer, where hashing
 * after indexing would decode a compressed layer a second time. Which of these files the merged view
 * shows is decided afterwards; a file hashed here that turns out hidden only cost its hashing.
 *
 * Kept compactly (an offset and the raw digest per file): a million-file layer costs ~40 MB at most.
 */
export class MemberDigests {
  private offsets = new Float64Array(256);
  private digests: Buffer;
  private count = 0;
  private readonly width: number;
  /** One buffer for positional reads of an uncompressed layer, reused for every file. */
  private reused: Buffer | undefined;

  constructor(
    readonly algorithm: string,
    /** Whether a member is worth hashing, by its normalised path ('/'-prefixed) and size. */
    private readonly wants: (path: string, size: number) => boolean,
  ) {
    this.width = createHash(algorithm).digest().length;
    this.digests = Buffer.alloc(this.offsets.length * this.width);
  }

  /**
   * Hashes a member's data if it is a regular file worth hashing; called by the pass in tar order,
   * before it reads the next header (so the bytes come from the spans it has just decoded).
   */
  async record(member: TarEntry, tar: ByteSource): Promise<void> {
    // A sparse file's stored bytes are not its content: left to the reader that expands it.
    if (member.type !== 'file' || member.sparse !== undefined) return;
    if (!this.wants(`/${normalizeEntryName(member.name)}`, member.size)) return;
    const end = member.dataOffset + member.size;
    const firstChunk = Math.min(end, (Math.floor(member.dataOffset / CHUNK) + 1) * CHUNK) - member.dataOffset;
    if (firstChunk === member.size) {
      // The usual small file, read in one piece: hashed in one call, leaving no Hash object (and its
      // native state) for the GC to finalise; a million-file layer would otherwise pile them up.
      const data = await this.readChunk(tar, member.dataOffset, member.size);
      if (data.length === member.size) this.add(member.dataOffset, hashOnce(this.algorithm, data, 'binary'));
      return;
    }
    const hash = createHash(this.algorithm);
    for (let at = member.dataOffset; at < end; ) {
      const want = Math.min(end, (Math.floor(at / CHUNK) + 1) * CHUNK) - at;
      const chunk = await this.readChunk(tar, at, want);
      if (chunk.length === 0) return; // cut short: the walk reports it; no digest is recorded
      hash.update(chunk);
      at += chunk.length;
    }
    this.add(member.dataOffset, hash.digest('binary'));
  }

  /** The hex digest of the file whose data starts at `dataOffset`, if the pass hashed it. */
  get(dataOffset: number): string | undefined {
    let low = 0;
    let high = this.count - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const offset = this.offsets[middle] as number;
      if (offset === dataOffset) return this.digests.toString('hex', middle * this.width, (middle + 1) * this.width);
      if (offset < dataOffset) low = middle + 1;
      else high = middle - 1;
    }
    return undefined;
  }

  private async readChunk(tar: ByteSource, at: number, length: number): Promise<Buffer> {
    if (!tar.seekable || tar.readInto === undefined) return tar.read(at, length);
    this.reused ??= Buffer.allocUnsafe(CHUNK);
    const got = await tar.readInto(this.reused.subarray(0, length), at);
    return this.reused.subarray(0, got);
  }

  /** Offsets arrive in increasing order (tar order), so the column stays sorted for `get`. */
  private add(dataOffset: number, digest: string): void {
    if (this.count > 0 && (this.offsets[this.count - 1] as number) >= dataOffset) return;
    if (this.count === this.offsets.length) {
      const offsets = new Float64Array(this.count * 2);
      offsets.set(this.offsets);
      this.offsets = offsets;
      const digests = Buffer.alloc(offsets.length * this.width);
      this.digests.copy(digests);
      this.digests = digests;
    }
    this.offsets[this.count] = dataOffset;
    this.digests.write(digest, this.count * this.width, 'latin1');
    this.count += 1;
  }
}
