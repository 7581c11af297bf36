import type { TableEntry } from '../table/layer-table.js';
import type { TarEntry } from '../tar/tar-entry.js';

/** Bytes of member data one layer keeps at most: a larger file is read again from the layer. */
export const MAX_KEPT_BYTES = 4 * 1024 * 1024;
/** Paths one layer watches for at most; the oldest wish goes first. */
const MAX_WANTED = 16;

/**
 * The data of the files a question is about to read, kept as the pass that indexes a compressed layer
 * goes by them. Without it, reading such a file after the pass decodes the layer a second time: a
 * single-frame zstd layer has no checkpoint inside it, so the read starts again from the layer's start,
 * unless the file happens to lie in the few spans the span cache still holds (bench/README.md,
 * "Cold cat: zstd-cold"). Only regular, non-sparse members whose stored name is the path as asked are
 * kept (a file reached through a symlinked parent or a hard link is read from the layer as before),
 * and at most `budget` bytes per layer: MAX_KEPT_BYTES, or less, the layer's share of the decoded
 * bytes an image keeps (open-layers.ts), so that an image of many layers that all hold the file asked
 * for keeps no more than its span caches may.
 */
export class KeptMembers {
  /** Stored names to watch for, each wished path in the forms a tar writes it (`a/b`, `./a/b`, `/a/b`). */
  private readonly names = new Map<string, string>();
  /** Data kept, by the member's data offset in the tar stream (unique, also when a name repeats). */
  private readonly kept = new Map<number, Buffer>();
  private bytes = 0;
  private readonly budget: number;

  constructor(budget: number = MAX_KEPT_BYTES) {
    this.budget = Math.max(0, Math.min(MAX_KEPT_BYTES, budget));
  }

  /** Watches for the member stored as `path` (normalised: `usr/bin/env`, no leading `/`). */
  want(path: string): void {
    if (path === '' || this.names.has(path)) return;
    const wishes = new Set(this.names.values());
    if (wishes.size >= MAX_WANTED) {
      const oldest = wishes.values().next().value as string;
      for (const [name, wish] of this.names) if (wish === oldest) this.names.delete(name);
    }
    for (const name of [path, `./${path}`, `/${path}`]) this.names.set(name, path);
  }

  /** Whether any path is watched for (a pass then checks its members). */
  get watching(): boolean {
    return this.names.size > 0;
  }

  /** Whether the pass should keep this member's data. */
  wants(member: TarEntry): boolean {
    return (
      member.type === 'file' &&
      member.sparse === undefined &&
      member.size > 0 &&
      member.size <= this.budget - this.bytes &&
      this.names.has(member.name) &&
      !this.kept.has(member.dataOffset)
    );
  }

  /** Keeps `data` as the member's (only when it is all of it: a layer cut short is read, and fails, as before). */
  keep(member: TarEntry, data: Buffer): void {
    if (data.length !== member.size || member.size > this.budget - this.bytes) return;
    this.kept.set(member.dataOffset, data);
    this.bytes += data.length;
  }

  /** Bytes `[offset, offset + length)` of the entry's data, copied, when they are kept; else undefined. */
  read(entry: TableEntry, offset: number, length: number): Buffer | undefined {
    if (entry.sparse !== undefined) return undefined;
    const data = this.kept.get(entry.dataOffset);
    if (data === undefined || data.length !== entry.size) return undefined;
    return Buffer.from(data.subarray(offset, offset + length));
  }

  /** Lets go of what is kept; the paths are still watched for. */
  clear(): void {
    this.kept.clear();
    this.bytes = 0;
  }
}
