import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StagedField } from './layer-columns.js';

/** The compiled kernel (lib/table/wasm/plain-member-kernel.ts), as `npm run build` puts it beside this module or the bundle. */
const FILE = 'plain-member-kernel.wasm';

/** What the kernel exports (see its source for each). */
interface KernelExports {
  memory: { readonly buffer: ArrayBuffer };
  layoutEnd(): number;
  windowAt(): number;
  windowSize(): number;
  stageRows(): number;
  columnsAt(): number;
  kindsAt(): number;
  pathStartsAt(): number;
  linkStartsAt(): number;
  namesAt(): number;
  linksAt(): number;
  ownersAt(): number;
  lastNameAt(): number;
  statsAt(): number;
  rowCount(): number;
  namesLength(): number;
  linksLength(): number;
  stopReason(): number;
  stagedTarEnd(): number;
  stagedData(): number;
  lastDataOffsetOf(): number;
  lastSizeOf(): number;
  lastNameLengthOf(): number;
  begin(): void;
  summarise(): void;
  treeNamesAt(): number;
  treeNameRoom(): number;
  treeRows(): number;
  treeStartsAt(): number;
  treeKindsAt(): number;
  reachedAt(): number;
  blockedAt(): number;
  reachedCount(): number;
  blockedCount(): number;
  treeCheck(count: number): number;
  walk(windowStart: number, windowLength: number, offset: number, end: number, room: number, maxNameLength: number, ordinalBase: number, pathBase: number, linkBase: number): number;
}

/** Why `walk` stopped (the kernel's STOP_ values). */
export const STOP_NOT_TAKEN = 0;
export const STOP_OUTSIDE = 1;
export const STOP_FULL = 2;

const COLUMN_COUNT = 9;

/**
 * The plain-member lane's per-header work, and the in-order tree check of an ASCII path column, in
 * WebAssembly; with views of its memory, which is fixed in size (never detached). One instance per
 * thread, lent to one walk (or one tree check) at a time (`acquirePlainKernel`).
 */
export class PlainMemberKernel {
  readonly walk: KernelExports['walk'];
  readonly begin: () => void;
  /** The window's buffer: the walk's HeaderWindow refills into it, so headers are read where they land. */
  readonly window: Buffer;
  readonly bytes: Uint8Array;
  readonly kinds: Uint8Array;
  readonly pathStarts: Uint32Array;
  readonly linkStarts: Uint32Array;
  /** uid, gid, size, mtimeMs, dataOffset, devmajor, devminor, mode, ordinal (layer-columns.ts FIELDS order). */
  readonly fields: StagedField[];
  readonly stageRows: number;
  /** The owner names staged rows must have: each an i32 length (-1: none) and 32 bytes; uname, then gname 40 bytes on. */
  readonly ownersAt: number;
  readonly lastNameAt: number;
  private readonly numbers: Int32Array;
  private readonly largest: Float64Array;
  private readonly same: Uint32Array;
  /** Rows this kernel has staged, and path columns it has checked, since it was loaded (tests: that it was used). */
  staged = 0;
  treeChecks = 0;

  constructor(readonly exports: KernelExports) {
    const buffer = exports.memory.buffer;
    this.walk = exports.walk;
    this.begin = exports.begin;
    this.stageRows = exports.stageRows();
    this.window = Buffer.from(buffer, exports.windowAt(), exports.windowSize());
    this.bytes = new Uint8Array(buffer);
    this.numbers = new Int32Array(buffer);
    this.kinds = new Uint8Array(buffer, exports.kindsAt(), this.stageRows);
    this.pathStarts = new Uint32Array(buffer, exports.pathStartsAt(), this.stageRows);
    this.linkStarts = new Uint32Array(buffer, exports.linkStartsAt(), this.stageRows);
    this.largest = new Float64Array(buffer, exports.statsAt(), COLUMN_COUNT);
    this.same = new Uint32Array(buffer, exports.statsAt() + COLUMN_COUNT * 8, COLUMN_COUNT);
    this.fields = Array.from({ length: COLUMN_COUNT }, (_, field) => ({
      values: new Float64Array(buffer, exports.columnsAt() + field * this.stageRows * 8, this.stageRows),
      largest: 0,
      same: false,
    }));
    this.ownersAt = exports.ownersAt();
    this.lastNameAt = exports.lastNameAt();
  }

  /** The staged fields with their summaries filled in, after a walk. */
  stagedFields(): StagedField[] {
    for (let field = 0; field < COLUMN_COUNT; field++) {
      const staged = this.fields[field] as StagedField;
      staged.largest = this.largest[field] as number;
      staged.same = this.same[field] === 1;
    }
    return this.fields;
  }

  /** The staged path names' bytes (each with its NUL). */
  pathBytes(): Uint8Array {
    return this.bytes.subarray(this.exports.namesAt(), this.exports.namesAt() + this.exports.namesLength());
  }

  /** The staged link names' bytes (each with its NUL). */
  linkBytes(): Uint8Array {
    return this.bytes.subarray(this.exports.linksAt(), this.exports.linksAt() + this.exports.linksLength());
  }

  /** Sets the owner name at `which` (0 uname, 1 gname) staged rows must have: `bytes[0, length)`, or none (-1). */
  setOwner(which: 0 | 1, bytes: Uint8Array, length: number): void {
    const at = this.ownersAt + which * 40;
    this.numbers[at >>> 2] = length;
    if (length > 0) this.bytes.set(bytes.subarray(0, length), at + 4);
  }
}

/** The WebAssembly API, which the project's type libraries (ES2023, Node) do not declare. */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/**
 * What in-order-tree-check.ts finds in a path column, found by the kernel: whether it is in order,
 * and (when it is) each directory reached without a member as (slot of the path, its length) and each
 * blocked member as (slot, its holder's length, the holder's kind code), flat, in the order found.
 */
export interface KernelTreeCheck {
  ordered: boolean;
  reached: Uint32Array;
  blocked: Uint32Array;
}

/**
 * The tree check of a whole path column of ASCII names (NameColumnBuilder `layout`) by the kernel,
 * when it is there, free, and the column fits its memory; else undefined (the caller checks it).
 */
export function kernelTreeCheck(bytes: Uint8Array, starts: Uint32Array, kinds: Uint8Array, count: number): KernelTreeCheck | undefined {
  const kernel = acquirePlainKernel();
  if (kernel === undefined) return undefined;
  try {
    const exports = kernel.exports;
    const length = starts[count] as number;
    if (count > exports.treeRows() || length > exports.treeNameRoom()) return undefined;
    kernel.bytes.set(bytes.subarray(0, length), exports.treeNamesAt());
    new Uint32Array(kernel.bytes.buffer, exports.treeStartsAt(), count + 1).set(starts.subarray(0, count + 1));
    kernel.bytes.set(kinds.subarray(0, count), exports.treeKindsAt());
    const result = exports.treeCheck(count);
    if (result === 2) return undefined;
    kernel.treeChecks++;
    const buffer = kernel.bytes.buffer;
    return {
      ordered: result === 1,
      reached: new Uint32Array(buffer, exports.reachedAt(), exports.reachedCount() * 2).slice(),
      blocked: new Uint32Array(buffer, exports.blockedAt(), exports.blockedCount() * 3).slice(),
    };
  } finally {
    releasePlainKernel(kernel);
  }
}

let loaded: PlainMemberKernel | null | undefined;
let lent = false;

/**
 * The kernel, lent to one walk until `releasePlainKernel`; undefined when it is not built (tests run
 * from sources), cannot be loaded, or is lent already (two walks at once in one thread): the
 * JavaScript lane then does the work alone.
 */
export function acquirePlainKernel(): PlainMemberKernel | undefined {
  if (loaded === undefined) loaded = load(readBuilt());
  if (loaded === null || lent) return undefined;
  lent = true;
  return loaded;
}

export function releasePlainKernel(kernel: PlainMemberKernel): void {
  if (kernel === loaded) lent = false;
}

/** Tests: use the kernel compiled into `bytes` (null: none at all) instead of the one beside this module. */
export function usePlainKernel(bytes: Uint8Array | null): PlainMemberKernel | undefined {
  loaded = load(bytes);
  lent = false;
  return loaded ?? undefined;
}

/** The built kernel's bytes: under table/ beside the CLI's bundle (dist/), or beside this module (dist/table/). */
function readBuilt(): Uint8Array | null {
  for (const candidate of [`table/${FILE}`, FILE]) {
    try {
      return readFileSync(fileURLToPath(new URL(candidate, import.meta.url)));
    } catch {
      // not there: the next place, or none
    }
  }
  return null;
}

function load(bytes: Uint8Array | null): PlainMemberKernel | null {
  if (bytes === null) return null;
  try {
    // A few KB: compiled at once (Liftoff), synchronously.
    const instance = new wasm.Instance(new wasm.Module(bytes), {});
    return new PlainMemberKernel(instance.exports as unknown as KernelExports);
  } catch {
    return null;
  }
}
