/**
 * The member list of an outer archive (a docker save, an OCI tar) kept in the index cache, so that a
 * warm open reads no outer tar header: the list is keyed by the identity of the open file (device,
 * inode, size, mtime, ctime, from fstat of the very descriptor that is read), so an archive replaced or
 * rewritten is walked again. A list that is not exactly what `store` writes for a file of this size
 * (unknown version, a member outside the file, a bad type) is not used, and the archive is walked.
 * Like the tables, it is kept for speed, not trusted against someone who can write the cache: its
 * members can only point inside the archive that is being opened.
 */
import type { FileSource } from '../source/file-source.js';
import type { TarEntryType } from '../tar/tar-entry.js';
import { OuterTar, type OuterMember } from './outer-tar.js';

/** Where the lists are kept: the index cache's companion files (TableCache.loadExtra / storeExtra). */
export interface MemberListStore {
  loadExtra(identity: string, suffix: string): Promise<Buffer | undefined>;
  storeExtra(identity: string, suffix: string, bytes: Buffer): Promise<void>;
}

const SUFFIX = 'members';
/** Every member type (a type added to TarEntryType and not here only makes lists unusable). */
const ENTRY_TYPES: ReadonlySet<string> = new Set<TarEntryType>(['file', 'directory', 'symlink', 'hardlink', 'character-device', 'block-device', 'fifo', 'unsupported']);
const VERSION = 1;

type StoredMember = [name: string, offset: number, size: number, type: TarEntryType, linkname: string];

/** One opened archive file's remembered member list. */
export class MemberMemory {
  private readonly identity: string;

  constructor(
    private readonly store: MemberListStore,
    private readonly file: FileSource,
    private readonly maxEntries: number,
  ) {
    this.identity = archiveIdentity(file.statSync());
  }

  /** The archive as remembered, or undefined (never walked, changed since, or the list is unusable). */
  async recall(): Promise<OuterTar | undefined> {
    const members = await recallMembers(this.store, this.identity, this.file.size, this.maxEntries);
    return members === undefined ? undefined : OuterTar.fromMembers(this.file, this.file.name, members);
  }

  /** Keeps the members of the archive, walked in full. */
  async remember(members: Iterable<OuterMember>): Promise<void> {
    await rememberMembers(this.store, this.identity, members);
  }
}

/** The cache key of an archive opened as a file with these stats. */
function archiveIdentity(stats: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }): string {
  return `outer members ${stats.dev}:${stats.ino} ${stats.size} ${stats.mtimeMs} ${stats.ctimeMs}`;
}

/** The members remembered for the archive, or undefined (none, or unusable: walk the archive). */
async function recallMembers(store: MemberListStore, identity: string, fileSize: number, maxEntries: number): Promise<OuterMember[] | undefined> {
  const bytes = await store.loadExtra(identity, SUFFIX);
  if (bytes === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || !('v' in parsed) || parsed.v !== VERSION || !('members' in parsed)) return undefined;
    const list = parsed.members;
    if (!Array.isArray(list) || list.length > maxEntries) return undefined;
    const members: OuterMember[] = [];
    for (const item of list as unknown[]) {
      const member = checked(item, fileSize);
      if (member === undefined) return undefined;
      members.push(member);
    }
    return members;
  } catch {
    return undefined;
  }
}

/** Keeps the members of an archive walked in full; an archive with sparse members is not kept. */
async function rememberMembers(store: MemberListStore, identity: string, members: Iterable<OuterMember>): Promise<void> {
  const list: StoredMember[] = [];
  for (const member of members) {
    if (member.sparse !== undefined) return;
    list.push([member.name, member.offset, member.size, member.type, member.linkname]);
  }
  await store.storeExtra(identity, SUFFIX, Buffer.from(JSON.stringify({ v: VERSION, members: list }), 'utf8'));
}

function checked(item: unknown, fileSize: number): OuterMember | undefined {
  if (!Array.isArray(item) || item.length !== 5) return undefined;
  const [name, offset, size, type, linkname] = item as unknown[];
  if (typeof name !== 'string' || name === '' || typeof linkname !== 'string') return undefined;
  if (!isCount(offset) || !isCount(size) || offset + size > fileSize) return undefined;
  if (typeof type !== 'string' || !ENTRY_TYPES.has(type)) return undefined;
  return { name, offset, size, type: type as TarEntryType, linkname };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
