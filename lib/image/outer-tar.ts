/**
 * The member table of an outer tar (a docker save or an OCI archive): normalised member name → where
 * its data lies. Only headers are read; members are served as slices of the outer source, in place.
 * Symlink and hard-link members are followed inside the archive, never outside it.
 */
import { ImgfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { normalizeName } from '../table/entry-name.js';
import type { ByteSource } from '../source/byte-source.js';
import { SliceSource } from '../source/slice-source.js';
import { SparseView } from '../source/sparse-view.js';
import type { SparseMap } from '../tar/sparse-map.js';
import type { TarEntryType } from '../tar/tar-entry.js';
import { walkTar } from '../tar/walk-tar.js';
import type { OuterLimits } from './loaded-image.js';

/** Members of an outer archive accepted by default: as many as a layer may have. */
export const DEFAULT_MAX_MEMBERS = LIMITS.maxEntries.default;

/** Links followed while resolving one member name (docker writes one; a chain of 40 is hostile). */
export const MAX_MEMBER_LINK_HOPS = 40;

export interface OuterMember {
  /** Normalised name (no leading `./` or `/`, no trailing `/`). */
  name: string;
  /** Offset of the member's data in the outer source. */
  offset: number;
  size: number;
  type: TarEntryType;
  /** Link target as stored (symlinks: relative to the link's directory; hard links: a member name). */
  linkname: string;
  /** A member stored sparse (an archive re-packed with `tar --sparse`): `size` is then its real size. */
  sparse?: SparseMap;
}

/** A member name normalised as a layer's are (R1); undefined for a name that climbs above the archive root. */
export function normaliseMemberName(raw: string): string | undefined {
  const { path, climbsOut } = normalizeName(raw);
  return climbsOut ? undefined : path;
}

export class OuterTar {
  private constructor(
    /** The outer archive's bytes. */
    readonly source: ByteSource,
    /** The archive, for messages. */
    readonly archive: string,
    private readonly byName: ReadonlyMap<string, OuterMember>,
  ) {}

  /**
   * Reads every header of `source` (data is skipped). Later members of the same name win, as when
   * tar extracts. Members whose names climb above the root are left out: nothing can refer to them.
   */
  static async read(source: ByteSource, archive: string, limits: OuterLimits = {}): Promise<OuterTar> {
    const members = new Map<string, OuterMember>();
    const maxEntries = limits.maxEntries ?? DEFAULT_MAX_MEMBERS;
    let count = 0;
    for await (const entry of walkTar(source, { maxPaxSize: limits.maxPaxSize, maxNameLength: limits.maxNameLength })) {
      if (++count > maxEntries) {
        throw new ImgfsError('ELIMIT', `the archive has more than ${maxEntries} members; raise the limit with option maxEntries`, {
          archive,
          offset: entry.headerOffset,
        });
      }
      const name = normaliseMemberName(entry.name);
      if (name === undefined || name === '') continue;
      const member: OuterMember = { name, offset: entry.dataOffset, size: entry.size, type: entry.type, linkname: entry.linkname };
      if (entry.sparse !== undefined) {
        member.sparse = entry.sparse;
        member.size = entry.sparse.realSize;
      }
      members.set(name, member);
    }
    return new OuterTar(source, archive, members);
  }

  /** An archive whose members are known already (remembered-members.ts), in the order `members()` gives. */
  static fromMembers(source: ByteSource, archive: string, members: Iterable<OuterMember>): OuterTar {
    const byName = new Map<string, OuterMember>();
    for (const member of members) byName.set(member.name, member);
    return new OuterTar(source, archive, byName);
  }

  /** The members, in first-seen order (links not followed). */
  members(): IterableIterator<OuterMember> {
    return this.byName.values();
  }

  /** Number of members (after normalisation and de-duplication). */
  get size(): number {
    return this.byName.size;
  }

  /** Normalised member names, in first-seen order. */
  names(): IterableIterator<string> {
    return this.byName.keys();
  }

  /** The member stored under `name` (normalised), links not followed. */
  get(name: string): OuterMember | undefined {
    const normalised = normaliseMemberName(name);
    return normalised === undefined ? undefined : this.byName.get(normalised);
  }

  /** True when `name` resolves (links followed) to a regular file member. Escapes and loops throw. */
  hasFile(name: string): boolean {
    return this.lookup(name)?.type === 'file';
  }

  /**
   * The regular-file member that `name` denotes, following symlink and hard-link members (in the name
   * itself and in its parent directories). EIMGFORMAT when it is missing, not a file, escapes the
   * archive root or takes more than MAX_MEMBER_LINK_HOPS links.
   */
  resolve(name: string): OuterMember {
    const member = this.lookup(name);
    if (member === undefined) throw this.error(`member ${name} is missing`, name);
    if (member.type !== 'file') throw this.error(`member ${name} is a ${member.type}, not a file`, name);
    return member;
  }

  /** The member's data as a slice of the outer source (links followed as `resolve` does). */
  open(name: string): ByteSource {
    const member = this.resolve(name);
    const label = `${this.source.name}!${member.name}`;
    if (member.sparse !== undefined) return new SparseView(this.source, member.offset, member.size, member.sparse.regions, label);
    return new SliceSource(this.source, member.offset, member.size, label);
  }

  /** Links followed; undefined when nothing is there. */
  private lookup(name: string): OuterMember | undefined {
    const pending = name.split('/');
    const done: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.shift() as string;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (done.length === 0) throw this.error(`member ${name} points outside the archive`, name);
        done.pop();
        continue;
      }
      done.push(part);
      const member = this.byName.get(done.join('/'));
      if (member === undefined || (member.type !== 'symlink' && member.type !== 'hardlink')) continue;
      if (++hops > MAX_MEMBER_LINK_HOPS) throw this.error(`member ${name}: more than ${MAX_MEMBER_LINK_HOPS} links`, name);
      done.pop();
      const target = member.linkname;
      if (member.type === 'symlink' && target.startsWith('/')) {
        throw this.error(`member ${name}: symlink ${member.name} -> ${target} points outside the archive`, name);
      }
      // A symlink is relative to its own directory; a hard link names a member from the archive root.
      if (member.type === 'hardlink') done.length = 0;
      pending.unshift(...target.split('/'));
    }
    return done.length === 0 ? undefined : this.byName.get(done.join('/'));
  }

  private error(reason: string, member: string): ImgfsError {
    return new ImgfsError('EIMGFORMAT', reason, { archive: this.archive, member });
  }
}
