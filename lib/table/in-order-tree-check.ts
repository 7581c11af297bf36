import { isAscii as isAsciiBuffer } from 'node:buffer';
import { isAscii, latin1Slice, nameFromBytes, nameToBytes } from '../tar/name-bytes.js';
import { kindOfCode } from './layer-columns.js';
import { kernelTreeCheck } from './plain-member-kernel.js';
import type { EntryKind } from './layer-table.js';

const SLASH = 0x2f;

/** A member that lies at or below a non-directory member of the same layer, and that member. */
export interface BlockedMember {
  slot: number;
  holder: string;
  holderKind: EntryKind;
}

/**
 * The two tree checks a layer table needs of its members (which lie below a non-directory, and which
 * directories the layer reaches into without a member for them), made while the members arrive, for a
 * layer written in path order (what docker, buildkit and GNU tar write). Sorting makes them a walk along
 * one branch: every path starting with some prefix comes in one contiguous run, so a member's ancestors,
 * and the members that are prefixes of it, are stacks popped as the walk leaves their runs. No search
 * per member and no name decoded again once sealed: on a cold lookup the checks made after sealing
 * (binary searches by parent directory) had cost a third of building a table.
 *
 * It works on the paths' bytes, as the path column holds them (name-bytes.ts), once the layer has been
 * read (`addColumn`): every path on either stack is a prefix of the last path (or of the last kept
 * one), so the stacks hold lengths, and one comparison of a path with the last one, which stops where
 * they differ, tells both the order and which of them the new path still starts with. No string per
 * member: the plain-member lane (plain-member-lane.ts) writes paths it never decodes. '/' is never part
 * of a multi-byte sequence, so a prefix that ends where the path has a '/' is the same directory as text.
 *
 * Gives up (`ordered` false) at the first member not strictly after the one before it (out of order,
 * or a path repeated: R2); the table then checks the sealed, sorted columns instead, with the same
 * answers (test/table/in-order-tree-check.test.ts holds the two against each other).
 */
export class InOrderTreeCheck {
  /** Every member so far came in strictly ascending code unit order. */
  ordered = true;
  /** Members dropped by R5 within the layer, in slot order. */
  readonly blocked: BlockedMember[] = [];
  /** Directories reached without a member, in the order `reachedDirs` finds them (deepest of each new branch first). */
  readonly reached: string[] = [];

  private count = 0;
  /** The last path's bytes (with room to spare), and whether they are all ASCII (then byte order is code unit order). */
  private last = new Uint8Array(256);
  private lastLength = -1;
  private lastAscii = true;
  /** The last path as text, when the caller gave it and it is not ASCII (for the order of such paths). */
  private lastText: string | undefined;
  /** Lengths of the members that are prefixes of the last path (not always ancestors: `a` of `a-b`), shortest first. */
  private prefixLengths: number[] = [];
  private prefixKinds: EntryKind[] = [];
  /** How many of `prefixLengths` are not directories (usually none, so no scan). */
  private prefixNonDirs = 0;
  /** Lengths of the ancestors (root excluded) of the last kept member, shortest first: prefixes of `chainBase`. */
  private chain: number[] = [];
  /** The last kept member's parent directory, from the last time the chain grew. */
  private chainBase = new Uint8Array(256);
  /** The last member was kept: the chain's lengths are prefixes of the last path too. */
  private lastKept = true;
  /** The kernel checked the whole column (`addColumn`): its stacks are not here to add to. */
  private checkedWhole = false;

  /**
   * Checks the members of a path column in order (`names`: its bytes and starts, NameColumnBuilder
   * `layout`; `kinds`: their kind codes), as `add` would one by one. The check runs once over the
   * column when the layer has been read, in one loop: in a cold V8 a loop in one call is compiled
   * after a few hundred turns (on-stack replacement), where a call per member waits for hundreds of
   * calls and then for its feedback to settle.
   */
  addColumn(names: { bytes: Uint8Array; starts: Uint32Array }, kinds: Uint8Array, count: number): void {
    const { bytes, starts } = names;
    // Text is needed only to order names that are not ASCII (see `after`).
    const ascii = isAsciiBuffer(Buffer.from(bytes.buffer, bytes.byteOffset, count === 0 ? 0 : (starts[count] as number)));
    // A whole column of ASCII paths: the same loop in WebAssembly (plain-member-kernel.ts), when built.
    if (ascii && this.count === 0 && count > 0 && this.tookFromKernel(bytes, starts, kinds, count)) return;
    for (let slot = 0; slot < count && this.ordered; slot++) {
      const start = starts[slot] as number;
      const end = (starts[slot + 1] as number) - 1;
      const text = ascii || isAscii(bytes, start, end) ? undefined : nameFromBytes(bytes, start, end);
      this.addBytes(bytes, start, end, kindOfCode(kinds[slot] as number), text);
    }
  }

  /** `addColumn` by the kernel: false when it did not check the column. */
  private tookFromKernel(bytes: Uint8Array, starts: Uint32Array, kinds: Uint8Array, count: number): boolean {
    const found = kernelTreeCheck(bytes, starts, kinds, count);
    if (found === undefined) return false;
    this.count = count;
    this.checkedWhole = true;
    if (!found.ordered) {
      this.giveUp();
      return true;
    }
    const prefix = (slot: number, length: number): string => latin1Slice.call(bytes, starts[slot] as number, (starts[slot] as number) + length);
    const { reached, blocked } = found;
    for (let i = 0; i < reached.length; i += 2) this.reached.push(prefix(reached[i] as number, reached[i + 1] as number));
    for (let i = 0; i < blocked.length; i += 3) {
      const slot = blocked[i] as number;
      this.blocked.push({ slot, holder: prefix(slot, blocked[i + 1] as number), holderKind: kindOfCode(blocked[i + 2] as number) });
    }
    return true;
  }

  /** The next member pushed to the columns, with its normalised path (the root is ''). */
  add(path: string, kind: EntryKind): void {
    const bytes = nameToBytes(path);
    this.addBytes(bytes, 0, bytes.length, kind, path);
  }

  /**
   * `add` of the path whose bytes are `bytes[start, end)`. `text`: the path as a string, when the
   * caller has it; without it the bytes must be ASCII.
   */
  addBytes(bytes: Uint8Array, start: number, end: number, kind: EntryKind, text?: string): void {
    if (!this.ordered) return;
    if (this.checkedWhole) throw new Error('InOrderTreeCheck: a member added after a column the kernel checked');
    const slot = this.count++;
    const length = end - start;
    if (length > this.last.length) this.last = grown(this.last, length);
    const last = this.last;
    const lastLength = this.lastLength;
    // Where the path and the last one part: the order, and which stacked prefixes the path keeps.
    let common = 0;
    const shorter = Math.min(length, lastLength);
    while (common < shorter && bytes[start + common] === last[common]) common++;
    const ascii = text === undefined || isAscii(bytes, start, end);
    if (lastLength >= 0 && !this.after(bytes, start, common, length, lastLength, ascii, text)) {
      this.giveUp();
      return;
    }
    for (let i = common; i < length; i++) last[i] = bytes[start + i] as number;
    this.lastLength = length;
    this.lastAscii = ascii;
    this.lastText = ascii ? undefined : (text ?? nameFromBytes(last, 0, length));

    const kept = this.lastKept;
    const prefixes = this.prefixLengths;
    while (prefixes.length > 0 && (prefixes[prefixes.length - 1] as number) > common) {
      prefixes.pop();
      if (this.prefixKinds.pop() !== 'dir') this.prefixNonDirs--;
    }
    const holder = this.prefixNonDirs > 0 ? this.nearestNonDirAncestor(length) : -1;
    prefixes.push(length);
    this.prefixKinds.push(kind);
    if (kind !== 'dir') this.prefixNonDirs++;
    if (holder >= 0) {
      this.blocked.push({ slot, holder: nameFromBytes(last, 0, prefixes[holder] as number), holderKind: this.prefixKinds[holder] as EntryKind });
      this.lastKept = false;
      return;
    }
    this.lastKept = true;
    this.climb(length, kept ? common : this.sharedWithChainBase(length));
  }

  /** Whether the path (its first `common` bytes shared with the last path) sorts strictly after the last path. */
  private after(bytes: Uint8Array, start: number, common: number, length: number, lastLength: number, ascii: boolean, text: string | undefined): boolean {
    if (ascii && this.lastAscii) {
      // ASCII: code unit order is byte order.
      if (common === length || common === lastLength) return length > lastLength;
      return (bytes[start + common] as number) > (this.last[common] as number);
    }
    const previous = this.lastText ?? nameFromBytes(this.last, 0, lastLength);
    return previous < (text ?? nameFromBytes(bytes, start, start + length));
  }

  /** Index in `prefixLengths` of the deepest non-directory that is a proper ancestor of the path (in `last`), or -1. */
  private nearestNonDirAncestor(length: number): number {
    for (let i = this.prefixLengths.length - 1; i >= 0; i--) {
      const prefix = this.prefixLengths[i] as number;
      if (this.prefixKinds[i] !== 'dir' && prefix < length && this.last[prefix] === SLASH) return i;
    }
    return -1;
  }

  /** How many leading bytes the path (in `last`) shares with `chainBase` (after a member that was not kept). */
  private sharedWithChainBase(length: number): number {
    const top = this.chain.length === 0 ? 0 : (this.chain[this.chain.length - 1] as number);
    let shared = 0;
    while (shared < top && shared < length && this.chainBase[shared] === this.last[shared]) shared++;
    return shared;
  }

  /**
   * Takes the path's ancestors that no earlier kept member had into the chain, noting those without a
   * member. `shared`: how many leading bytes the path has in common with every chain entry's directory.
   */
  private climb(length: number, shared: number): void {
    const chain = this.chain;
    const last = this.last;
    // An ancestor: a prefix the path shares that ends where the path has a '/'.
    while (chain.length > 0) {
      const dir = chain[chain.length - 1] as number;
      if (dir <= shared && dir < length && last[dir] === SLASH) break;
      chain.pop();
    }
    const from = chain.length === 0 ? 0 : (chain[chain.length - 1] as number) + 1;
    let slash = from;
    while (slash < length && last[slash] !== SLASH) slash++;
    if (slash >= length) return; // the usual case: a sibling of the last member
    const first = chain.length;
    for (; slash < length; slash++) if (last[slash] === SLASH) chain.push(slash);
    const parent = chain[chain.length - 1] as number;
    if (parent > this.chainBase.length) this.chainBase = grown(this.chainBase, parent);
    for (let i = 0; i < parent; i++) this.chainBase[i] = last[i] as number;
    // Deepest first, as a climb from the parent finds them. A directory member that is an ancestor of
    // the path is a prefix of it and still stacked: among the stacked prefixes, the one as long as `dir`.
    for (let i = chain.length - 1; i >= first; i--) {
      const dir = chain[i] as number;
      if (!this.prefixLengths.includes(dir)) this.reached.push(nameFromBytes(last, 0, dir));
    }
  }

  private giveUp(): void {
    this.ordered = false;
    this.blocked.length = 0;
    this.reached.length = 0;
    this.prefixLengths = [];
    this.prefixKinds = [];
    this.chain = [];
  }
}

/** A copy of `bytes` with room for at least `length`. */
function grown(bytes: Uint8Array, length: number): Uint8Array<ArrayBuffer> {
  const to = new Uint8Array(Math.max(length, 2 * bytes.length));
  to.set(bytes);
  return to;
}
