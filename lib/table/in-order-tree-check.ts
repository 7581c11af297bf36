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
  private last: string | undefined;
  /** Members that are prefixes of the last path (not always ancestors: `a` of `a-b`), shallowest first. */
  private prefixPaths: string[] = [];
  private prefixKinds: EntryKind[] = [];
  /** How many of `prefixPaths` are not directories (usually none, so no scan). */
  private prefixNonDirs = 0;
  /** The ancestors (root excluded) of the last kept member, shallowest first. */
  private chain: string[] = [];

  /** The next member pushed to the columns, with its normalised path (the root is ''). */
  add(path: string, kind: EntryKind): void {
    if (!this.ordered) return;
    const slot = this.count++;
    if (this.last !== undefined && !(this.last < path)) {
      this.giveUp();
      return;
    }
    this.last = path;
    const paths = this.prefixPaths;
    while (paths.length > 0 && !path.startsWith(paths[paths.length - 1] as string)) {
      paths.pop();
      if (this.prefixKinds.pop() !== 'dir') this.prefixNonDirs--;
    }
    const holder = this.prefixNonDirs > 0 ? this.nearestNonDirAncestor(path) : -1;
    paths.push(path);
    this.prefixKinds.push(kind);
    if (kind !== 'dir') this.prefixNonDirs++;
    if (holder >= 0) {
      this.blocked.push({ slot, holder: paths[holder] as string, holderKind: this.prefixKinds[holder] as EntryKind });
      return;
    }
    this.climb(path);
  }

  /** Index in `prefixPaths` of the deepest non-directory that is a proper ancestor of `path`, or -1. */
  private nearestNonDirAncestor(path: string): number {
    for (let i = this.prefixPaths.length - 1; i >= 0; i--) {
      const prefix = this.prefixPaths[i] as string;
      if (this.prefixKinds[i] !== 'dir' && path.charCodeAt(prefix.length) === SLASH) return i;
    }
    return -1;
  }

  /** Takes `path`'s ancestors that no earlier kept member had into the chain, noting those without a member. */
  private climb(path: string): void {
    const chain = this.chain;
    while (chain.length > 0 && !isAncestor(chain[chain.length - 1] as string, path)) chain.pop();
    const from = chain.length === 0 ? 0 : (chain[chain.length - 1] as string).length + 1;
    let slash = path.indexOf('/', from);
    if (slash < 0) return; // the usual case: a sibling of the last member
    const fresh: string[] = [];
    for (; slash >= 0; slash = path.indexOf('/', slash + 1)) fresh.push(path.slice(0, slash));
    for (const dir of fresh) chain.push(dir);
    // Deepest first, as a climb from the parent finds them. A directory member that is an ancestor of
    // `path` is a prefix of it and still stacked: among the stacked prefixes, the one as long as `dir`.
    for (let i = fresh.length - 1; i >= 0; i--) {
      const dir = fresh[i] as string;
      if (!this.prefixPaths.some((prefix) => prefix.length === dir.length)) this.reached.push(dir);
    }
  }

  private giveUp(): void {
    this.ordered = false;
    this.blocked.length = 0;
    this.reached.length = 0;
    this.prefixPaths = [];
    this.prefixKinds = [];
    this.chain = [];
  }
}

function isAncestor(dir: string, path: string): boolean {
  return path.length > dir.length && path.charCodeAt(dir.length) === SLASH && path.startsWith(dir);
}
