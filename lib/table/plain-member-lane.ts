import { bytesAt, checksumMatches, GNU_MAGIC, STAR_TRAILER, USTAR_MAGIC } from '../tar/header.js';
import type { HeaderWindow } from '../tar/header-window.js';
import { scanOctal } from '../tar/large-numbers.js';
import { latin1Slice, nameFromBytes } from '../tar/name-bytes.js';
import type { DataSpan, PlainLane } from '../tar/walk-tar.js';
import { kindCode } from './layer-columns.js';
import type { EntryKind } from './layer-table.js';
import type { MemberIntake } from './member-intake.js';
import { STOP_FULL, STOP_OUTSIDE, type PlainMemberKernel } from './plain-member-kernel.js';

const BLOCK = 512;
/** The longest stored name a ustar header holds: a 155-byte prefix, '/', a 100-byte name. */
const MAX_NAME = 256;
const SLASH = 0x2f;
const DOT = 0x2e;
/** The largest limit handed to the kernel (see `take`). */
const U32_LIMIT = 0x7fff_ffff;
/** What `member` returns for a header it leaves to the general walk. */
const NOT_PLAIN = -1;

/** The kind of each typeflag byte the lane takes (`'0'` and NUL: a file, or a directory by its name). */
const KIND_OF_FLAG: ReadonlyArray<EntryKind | undefined> = (() => {
  const kinds = new Array<EntryKind | undefined>(256).fill(undefined);
  const set = (flag: string, kind: EntryKind): void => void (kinds[flag.charCodeAt(0)] = kind);
  for (const [flag, kind] of [['\0', 'file'], ['0', 'file'], ['7', 'file'], ['1', 'hardlink'], ['2', 'symlink'], ['3', 'char'], ['4', 'block'], ['5', 'dir'], ['6', 'fifo']] as const) set(flag, kind);
  return kinds;
})();
/** The kind column's code of each typeflag byte the lane takes. */
const KIND_CODE = Int8Array.from(KIND_OF_FLAG, (kind) => (kind === undefined ? -1 : kindCode(kind)));
const DIR_CODE = kindCode('dir');

/**
 * The cold table build's fast lane: a plain member (a ustar, GNU or v7 header with its checksum, no
 * extension header before it, an ordinary type, plain octal numbers, an ASCII name that at most loses
 * a leading `./` or `/` and a trailing `/`, no whiteout, its data within the source) is written from
 * its header's bytes straight into the columns: name bytes copied, numbers parsed in place, owner names
 * compared as bytes with the last ones. No TarEntry, no view, no string for the name column. Anything
 * else is left to the general walk (walk-tar.ts), which decodes it and hands it to the intake's `add`,
 * so the lane needs to get nothing unusual right, only to recognise it: every check here says "not
 * plain" where the general path would do anything but index an ordinary member (throw, warn, skip,
 * apply an extension, normalise). test/table/plain-member-lane.test.ts holds the two paths to the same
 * tables, warnings and errors.
 *
 * Why: a cold V8 runs the per-member objects, strings and calls of the general path in its interpreter;
 * a docker image's layers have ~18 k members, and that machinery cost about as much as reading them.
 */
export class PlainMemberLane implements PlainLane {
  /** Members taken so far. */
  taken = 0;
  /**
   * The stored name of the last member with data the current `take` took, when it is not the path
   * pushed (a leading `./` or `/`, or a trailing `/`, was dropped): for `lastData`, which is rare.
   */
  private lastName = new Uint8Array(MAX_NAME);
  /** The last member with data: its stored name's bytes in `lastName`, or else at `lastNameStart` of the path column. */
  private lastNameInCopy = false;
  private lastNameStart = 0;
  private lastNameLength = 0;
  private lastDataOffset = 0;
  private lastSize = 0;
  private tookData = false;
  /** Where `plainSpan` found a name's normalised form. */
  private spanStart = 0;
  private spanEnd = 0;
  private readonly uname = new OwnerCache();
  private readonly gname = new OwnerCache();

  constructor(
    private readonly intake: MemberIntake,
    /** The walk's maxNameLength: a longer name or link name is the walk's ELIMIT to raise. */
    private readonly maxNameLength: number,
    /**
     * The same work in WebAssembly (plain-member-kernel.ts), when built: it takes runs of plain
     * headers, and this lane each header it stops at. Its rows join the columns before any other.
     */
    private readonly kernel?: PlainMemberKernel | undefined,
  ) {}

  /** The walk's window is refilled into the kernel's memory, where it reads the headers. */
  get windowBuffer(): Buffer | undefined {
    return this.kernel?.window;
  }

  take(window: HeaderWindow, offset: number): number {
    this.tookData = false;
    const kernel = this.kernel;
    let staging = false;
    /** The kernel stopped at this header: this lane looks at it. */
    let kernelStopped = false;
    for (;;) {
      const at = window.locate(offset, BLOCK);
      if (at < 0) break;
      const bytes = window.bytes;
      if (kernel !== undefined && !kernelStopped && bytes.buffer === kernel.window.buffer && bytes.byteOffset === kernel.window.byteOffset) {
        if (!staging) this.beginStage(kernel);
        staging = true;
        const intake = this.intake;
        const builder = intake.builder;
        // Limits as the kernel's u32 (an Infinity would become 0 there); beyond 2^31 - 1 they cannot bind.
        const room = Math.min(intake.maxEntries - intake.memberCount, U32_LIMIT);
        offset = kernel.walk(offset - at, window.filledLength, offset, window.end ?? Infinity, room, Math.min(this.maxNameLength, U32_LIMIT), intake.memberCount, builder.pathNames.end, builder.linkNames.end);
        const stop = kernel.exports.stopReason();
        if (stop === STOP_FULL) {
          this.flush(kernel);
          staging = false;
        } else if (stop !== STOP_OUTSIDE) kernelStopped = true;
        continue;
      }
      kernelStopped = false;
      if (staging) this.flush(kernel as PlainMemberKernel);
      staging = false;
      const next = this.member(bytes, at, offset, window.end);
      if (next === NOT_PLAIN) break;
      offset = next;
    }
    if (staging) this.flush(kernel as PlainMemberKernel);
    return offset;
  }

  /** Starts the kernel's stage: its rows must have the owner names this lane has just seen. */
  private beginStage(kernel: PlainMemberKernel): void {
    kernel.begin();
    kernel.setOwner(0, this.uname.bytes, this.uname.length);
    kernel.setOwner(1, this.gname.bytes, this.gname.length);
  }

  /** Appends the rows the kernel staged to the columns, in bulk, as `member` would have one by one. */
  private flush(kernel: PlainMemberKernel): void {
    const exports = kernel.exports;
    const rows = exports.rowCount();
    if (rows === 0) return;
    exports.summarise();
    const intake = this.intake;
    const builder = intake.builder;
    const fields = kernel.stagedFields();
    if (intake.onDataOffset !== undefined) {
      const offsets = (fields[4] as (typeof fields)[number]).values; // FIELDS' dataOffset
      for (let row = 0; row < rows; row++) intake.onDataOffset(offsets[row] as number);
    }
    builder.pathNames.pushStaged(kernel.pathBytes(), kernel.pathStarts, rows);
    builder.linkNames.pushStaged(kernel.linkBytes(), kernel.linkStarts, rows);
    builder.pushStagedRows(kernel.kinds, fields, this.uname.cachedId, this.gname.cachedId, rows);
    intake.memberCount += rows;
    intake.tarEnd = Math.max(intake.tarEnd, exports.stagedTarEnd());
    if (exports.stagedData() !== 0) {
      const length = exports.lastNameLengthOf();
      this.lastName.set(kernel.bytes.subarray(kernel.lastNameAt, kernel.lastNameAt + length));
      this.lastNameInCopy = true;
      this.lastNameLength = length;
      this.lastDataOffset = exports.lastDataOffsetOf();
      this.lastSize = exports.lastSizeOf();
      this.tookData = true;
    }
    this.taken += rows;
    kernel.staged += rows;
  }

  lastData(): DataSpan | undefined {
    if (!this.tookData) return undefined;
    const { lastNameStart: start, lastNameLength: length } = this;
    const name = this.lastNameInCopy ? latin1Slice.call(this.lastName, 0, length) : this.intake.builder.pathNames.latin1(start, start + length);
    return { name, dataOffset: this.lastDataOffset, size: this.lastSize };
  }

  /**
   * Takes the member whose header is `bytes[at, at + 512)`, at `offset` in the tar, and returns the
   * offset of the next header; or NOT_PLAIN, having changed nothing the table keeps. Every check comes
   * before the first write.
   */
  private member(bytes: Uint8Array, at: number, offset: number, end: number | undefined): number {
    const intake = this.intake;
    if (intake.memberCount >= intake.maxEntries || !checksumMatches(bytes, at)) return NOT_PLAIN;
    const flag = bytes[at + 156] as number;
    let kind = KIND_OF_FLAG[flag];
    if (kind === undefined) return NOT_PLAIN;
    const gnu = bytesAt(bytes, at + 257, GNU_MAGIC);
    const ustar = !gnu && bytesAt(bytes, at + 257, USTAR_MAGIC);
    const extended = gnu || ustar;

    const size = numberAt(bytes, at + 124, 12);
    const uid = numberAt(bytes, at + 108, 8);
    const gid = numberAt(bytes, at + 116, 8);
    const devmajor = extended ? numberAt(bytes, at + 329, 8) : 0;
    const devminor = extended ? numberAt(bytes, at + 337, 8) : 0;
    const mode = numberAt(bytes, at + 100, 8);
    const mtime = numberAt(bytes, at + 136, 12);
    if (size < 0 || uid < 0 || gid < 0 || devmajor < 0 || devminor < 0 || mode < 0 || mtime < 0) return NOT_PLAIN;

    const linkStart = at + 157;
    const linkEnd = asciiFieldEnd(bytes, linkStart, linkStart + 100);
    if (linkEnd < 0 || linkEnd - linkStart > this.maxNameLength) return NOT_PLAIN;
    // The stored name, copied once: into the path column's room, where it stays when it is the path.
    const paths = intake.builder.pathNames;
    const names = paths.reserve(MAX_NAME);
    const nameStart = paths.end;
    const nameEnd = copyName(bytes, at, ustar, names, nameStart);
    if (nameEnd < 0 || nameEnd - nameStart > this.maxNameLength) return NOT_PLAIN;
    let code = KIND_CODE[flag] as number;
    if (kind === 'file' && flag !== 0x37 && names[nameEnd - 1] === SLASH) {
      kind = 'dir'; // v7 had no directory type
      code = DIR_CODE;
    }
    const dataSize = kind === 'file' ? size : 0;
    const dataOffset = offset + BLOCK;
    if (end !== undefined && dataOffset + dataSize > end) return NOT_PLAIN;

    if (!plainSpan(this, names, nameStart, nameEnd, true)) return NOT_PLAIN;
    const pathStart = this.spanStart;
    const pathEnd = this.spanEnd;
    let targetStart = linkStart;
    let targetEnd = kind === 'symlink' ? linkEnd : linkStart;
    if (kind === 'hardlink') {
      if (!plainSpan(this, bytes, linkStart, linkEnd, false)) return NOT_PLAIN;
      targetStart = this.spanStart;
      targetEnd = this.spanEnd;
    }

    // Plain: from here on, written.
    intake.onDataOffset?.(dataOffset);
    const ordinal = intake.memberCount++;
    intake.tarEnd = Math.max(intake.tarEnd, dataOffset + dataSize);
    if (dataSize > 0) this.rememberData(names, nameStart, nameEnd, pathStart !== nameStart || pathEnd !== nameEnd, dataOffset, dataSize);
    const builder = intake.builder;
    const unameId = extended ? this.uname.id(bytes, at + 265, builder) : builder.ownerId('');
    const gnameId = extended ? this.gname.id(bytes, at + 297, builder) : builder.ownerId('');
    paths.commit(pathStart, pathEnd);
    builder.linkNames.pushBytes(bytes, targetStart, targetEnd);
    builder.pushRow(code, uid, gid, dataSize, mtime * 1000, dataOffset, devmajor, devminor, mode, ordinal, unameId, gnameId);
    this.taken++;
    return dataOffset + Math.ceil(dataSize / BLOCK) * BLOCK;
  }

  /** Notes the member with data just taken, for `lastData`: its stored name copied only when it is not its path. */
  private rememberData(names: Uint8Array, start: number, end: number, copy: boolean, dataOffset: number, size: number): void {
    this.lastNameInCopy = copy;
    this.lastNameStart = start;
    this.lastNameLength = end - start;
    if (copy) for (let i = start; i < end; i++) this.lastName[i - start] = names[i] as number;
    this.lastDataOffset = dataOffset;
    this.lastSize = size;
    this.tookData = true;
  }

  /** Sets where `plainSpan` found the normalised form. */
  found(start: number, end: number): true {
    this.spanStart = start;
    this.spanEnd = end;
    return true;
  }
}

/**
 * Copies the stored name of the header at `at` to `to[from...]`: the ustar prefix (when the header has
 * one) and the name field joined by '/', as the general decoder joins them. Returns where it ends, or
 * -1 when a byte is not ASCII.
 */
function copyName(bytes: Uint8Array, at: number, ustar: boolean, to: Uint8Array, from: number): number {
  let next = from;
  if (ustar) {
    const prefixEnd = at + (bytesAt(bytes, at + 508, STAR_TRAILER) ? 476 : 500);
    for (let i = at + 345; i < prefixEnd; i++) {
      const byte = bytes[i] as number;
      if (byte === 0) break;
      if (byte >= 0x80) return -1;
      to[next++] = byte;
    }
    if (next > from) to[next++] = SLASH;
  }
  for (let i = at; i < at + 100; i++) {
    const byte = bytes[i] as number;
    if (byte === 0) break;
    if (byte >= 0x80) return -1;
    to[next++] = byte;
  }
  return next;
}

/**
 * An owner name field (32 bytes) as an id of the table's owner names, the same as last time when its
 * bytes are: a layer's members nearly all share one or two owners.
 */
class OwnerCache {
  readonly bytes = new Uint8Array(32);
  /** Bytes before the NUL of the cached field; -1 before the first. */
  length = -1;
  cachedId = 0;

  id(bytes: Uint8Array, start: number, builder: MemberIntake['builder']): number {
    let nul = start;
    while (nul < start + 32 && bytes[nul] !== 0) nul++;
    const length = nul - start;
    if (length === this.length) {
      let i = 0;
      while (i < length && bytes[start + i] === this.bytes[i]) i++;
      if (i === length) return this.cachedId;
    }
    this.length = length;
    for (let i = 0; i < length; i++) this.bytes[i] = bytes[start + i] as number;
    this.cachedId = builder.ownerId(length === 0 ? '' : nameFromBytes(bytes, start, nul));
    return this.cachedId;
  }
}

/** A numeric field as the general decoder reads it, or -1 where it reads it otherwise (base-256) or throws. */
function numberAt(bytes: Uint8Array, start: number, length: number): number {
  if (((bytes[start] as number) & 0x80) !== 0) return -1;
  const value = scanOctal(bytes, start, start + length);
  return value < 0 ? -1 : value;
}

/** The end of a NUL-terminated (or field-filling) ASCII field; -1 when a byte is not ASCII. */
function asciiFieldEnd(bytes: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    const byte = bytes[i] as number;
    if (byte === 0) return i;
    if (byte >= 0x80) return -1;
  }
  return end;
}

/**
 * Where the normalised form of the name `bytes[start, end)` lies in it, when normalising only drops
 * leading `/` and `./` and one trailing `/` (entry-name.ts `normalizeEntryName`'s quick path, on bytes):
 * told to `lane.found`. False when it needs more (`.` or `..` components, `//`), is the root, or (a
 * member's path, `path`) holds `.wh.`: a whiteout, an opaque marker or aufs bookkeeping.
 */
function plainSpan(lane: PlainMemberLane, bytes: Uint8Array, start: number, end: number, path: boolean): boolean {
  let from = start;
  for (;;) {
    if (from < end && bytes[from] === SLASH) from++;
    else if (from + 1 < end && bytes[from] === DOT && bytes[from + 1] === SLASH) from += 2;
    else break;
  }
  if (from >= end) return false;
  const to = bytes[end - 1] === SLASH ? end - 1 : end;
  if (bytes[to - 1] === SLASH) return false;
  // Each component: not empty (`//`), not `.` or `..`; and no `.wh.` anywhere in a path.
  let component = from;
  for (let i = from; i <= to; i++) {
    const byte = i < to ? (bytes[i] as number) : SLASH;
    if (byte === DOT) {
      if (path && i + 3 < to && bytes[i + 1] === 0x77 && bytes[i + 2] === 0x68 && bytes[i + 3] === DOT) return false;
      continue;
    }
    if (byte !== SLASH) continue;
    const length = i - component;
    if (length === 0) return false;
    if (bytes[component] === DOT && (length === 1 || (length === 2 && bytes[component + 1] === DOT))) return false;
    component = i + 1;
  }
  return lane.found(from, to);
}
