import { ImgfsError, type LayerRef } from '../errors.js';
import { LIMITS } from '../limits.js';
import type { TarEntry, TarEntryType } from '../tar/tar-entry.js';
import type { WarningSink } from '../warnings.js';
import { classifyName, normalizeEntryName, ROOT } from './entry-name.js';
import { LayerColumnsBuilder } from './layer-columns.js';
import type { EntryKind } from './layer-table.js';

const kindOfType: Partial<Record<TarEntryType, EntryKind>> = {
  file: 'file',
  directory: 'dir',
  symlink: 'symlink',
  hardlink: 'hardlink',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};

/** What the intake of a layer's members needs to know. */
export interface IntakeOptions {
  maxEntries?: number | undefined;
  onWarning?: WarningSink | undefined;
  layer?: LayerRef | undefined;
  onDataOffset?: ((dataOffset: number) => void) | undefined;
}

/**
 * A layer's members as they are read, in tar order, turned into what its table is sealed from: the
 * columns, the whiteouts and opaque markers, the counts. Members come as TarEntry objects (`add`) or,
 * for plain ones, straight from their header bytes (plain-member-lane.ts), which writes the same
 * fields in the same order.
 */
export class MemberIntake {
  readonly builder = new LayerColumnsBuilder();
  /** Whited-out path, and the ordinal of its first whiteout member. */
  readonly whiteouts = new Map<string, number>();
  /** Opaque directory, and the ordinal of its first marker. */
  readonly opaques = new Map<string, number>();
  memberCount = 0;
  whiteoutCount = 0;
  /** End of the furthest member's data. */
  tarEnd = 0;
  readonly maxEntries: number;
  readonly layer: LayerRef | undefined;
  /** The layer as warnings name it. */
  readonly label: string;
  readonly onWarning: WarningSink | undefined;
  /** Told of each member's data offset before it is indexed (progress). */
  readonly onDataOffset: ((dataOffset: number) => void) | undefined;

  constructor(options: IntakeOptions) {
    this.onDataOffset = options.onDataOffset;
    this.maxEntries = options.maxEntries ?? LIMITS.maxEntries.default;
    this.layer = options.layer;
    this.label = this.layer === undefined ? 'layer' : `layer ${this.layer.index}`;
    this.onWarning = options.onWarning;
  }

  /** ELIMIT for the member at `headerOffset` when the layer already has `maxEntries`. */
  private checkRoom(headerOffset: number): void {
    if (this.memberCount >= this.maxEntries) {
      throw new ImgfsError('ELIMIT', `layer has more than ${this.maxEntries} entries; raise the limit with option maxEntries`, { offset: headerOffset });
    }
  }

  add(member: TarEntry): void {
    this.onDataOffset?.(member.dataOffset);
    this.checkRoom(member.headerOffset);
    const ordinal = this.memberCount++;
    this.tarEnd = Math.max(this.tarEnd, member.dataOffset + member.size);
    const path = normalizeEntryName(member.name);
    const role = classifyName(path);
    if (role.role !== 'path') {
      this.whiteoutCount++;
      if (role.role === 'whiteout') setFirst(this.whiteouts, role.hides, ordinal);
      else if (role.role === 'opaque') setFirst(this.opaques, role.dir, ordinal);
      return;
    }
    const kind = kindOfType[member.type];
    if (kind === undefined) {
      this.onWarning?.({
        code: 'EUNSUPPORTED',
        message: `${this.label}: ${member.name}: unsupported tar entry type '${member.typeflag}' skipped`,
        layer: this.layer,
        path: `/${path}`,
      });
      return;
    }
    // The root can only ever be a directory; a non-directory member named `./` is meaningless.
    if (path === ROOT && kind !== 'dir') return;
    const link = kind === 'hardlink' ? normalizeEntryName(member.linkname) : kind === 'symlink' ? member.linkname : '';
    this.builder.push(path, kind, member, link, ordinal);
  }
}

/** Records the first ordinal seen for a key. */
function setFirst(map: Map<string, number>, key: string, ordinal: number): void {
  if (!map.has(key)) map.set(key, ordinal);
}
