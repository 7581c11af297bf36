// AssemblyScript, compiled by `npm run build` (asc) into dist/table/plain-member-kernel.wasm; not part
// of the TypeScript build. The plain-member lane's per-header work (plain-member-lane.ts `member`), run
// by WebAssembly: Liftoff compiles it at once, where the same JavaScript runs in a cold V8's
// interpreter for most of a layer. It walks consecutive plain headers of the header window (which the
// walk reads straight into this memory) and stages their rows; JavaScript appends the staged rows to
// the columns in bulk (plain-member-kernel-lane.ts). It takes a subset of what the JavaScript lane
// takes, each the same way: wherever it stops, the JavaScript lane looks at that header itself. It also
// runs in-order-tree-check.ts's loop over a whole column of ASCII paths (`treeCheck`).
// Memory is fixed (no memory.grow), so JavaScript's views of it are never detached.

/** The header window: SYNC_WINDOW_SIZE (header-window.ts) bytes. */
const WINDOW: u32 = 0x10000;
const WINDOW_SIZE: u32 = 0x10000;
/** Rows staged at most before JavaScript takes them. */
const STAGE: u32 = 4096;
/** Nine f64 columns of STAGE rows: uid, gid, size, mtimeMs, dataOffset, devmajor, devminor, mode, ordinal. */
const COLUMNS: u32 = 0x20000;
const COLUMN_COUNT: u32 = 9;
const KINDS: u32 = COLUMNS + COLUMN_COUNT * STAGE * 8; // u8 per row
/** Absolute starts (the path column's own offsets) of the staged names, then of the staged link names. */
const PATH_STARTS: u32 = KINDS + STAGE;
const LINK_STARTS: u32 = PATH_STARTS + STAGE * 4;
const NAMES: u32 = LINK_STARTS + STAGE * 4;
const NAME_ROOM: u32 = 0x80000;
const LINKS: u32 = NAMES + NAME_ROOM;
const LINK_ROOM: u32 = 0x40000;
/** The owner names every staged row must have: i32 length (-1: none yet), then 32 bytes; uname, then gname. */
const OWNERS: u32 = LINKS + LINK_ROOM;
/** The stored name of the last staged member with data (for `lastData`). */
const LAST_NAME: u32 = OWNERS + 80;
/** Per column: the largest staged value (f64), then whether all are the same (u32). */
const STATS: u32 = LAST_NAME + 256;
// The in-order tree check (in-order-tree-check.ts) over a whole path column, copied in: its names,
// starts and kind codes, the stacks, and what it finds.
const TREE_NAMES: u32 = 0x140000;
const TREE_NAME_ROOM: u32 = 0x400000;
const TREE_ROWS: u32 = 65536;
const TREE_STARTS: u32 = TREE_NAMES + TREE_NAME_ROOM; // u32, TREE_ROWS + 1
const TREE_KINDS: u32 = TREE_STARTS + (TREE_ROWS + 1) * 4 + 12;
/** Longest path the tree check takes (its stacks hold at most one entry per byte). */
const TREE_PATH: u32 = 4096;
const PREFIX_LENGTHS: u32 = TREE_KINDS + TREE_ROWS;
const PREFIX_KINDS: u32 = PREFIX_LENGTHS + (TREE_PATH + 1) * 4;
const CHAIN: u32 = PREFIX_KINDS + TREE_PATH + 4;
const CHAIN_BASE: u32 = CHAIN + (TREE_PATH + 1) * 4;
/** Found: (slot, length) per directory reached without a member; (slot, holder length, holder kind) per blocked member. */
const REACHED: u32 = CHAIN_BASE + TREE_PATH;
const REACHED_ROOM: u32 = 65536;
const BLOCKED: u32 = REACHED + REACHED_ROOM * 8;
const END: u32 = BLOCKED + TREE_ROWS * 12;

const BLOCK: u32 = 512;
const MAX_NAME: u32 = 256;
const SLASH: u8 = 0x2f;
const DOT: u8 = 0x2e;
const FILE: i32 = 0;
const DIR: i32 = 1;
const SYMLINK: i32 = 2;
const HARDLINK: i32 = 3;

/** Why `walk` stopped. */
const STOP_NOT_TAKEN: i32 = 0; // the header is not one the kernel takes: the JavaScript lane looks at it
const STOP_OUTSIDE: i32 = 1; // the header is not wholly in the window
const STOP_FULL: i32 = 2; // the stage is full

let rows: u32 = 0;
let namesUsed: u32 = 0;
let linksUsed: u32 = 0;
let stop: i32 = 0;
let tarEnd: f64 = 0;
let lastDataOffset: f64 = 0;
let lastSize: f64 = 0;
let lastNameLength: u32 = 0;
let tookData: bool = false;
let spanStart: u32 = 0;
let spanEnd: u32 = 0;

export function layoutEnd(): u32 { return END; }
export function treeNamesAt(): u32 { return TREE_NAMES; }
export function treeNameRoom(): u32 { return TREE_NAME_ROOM; }
export function treeRows(): u32 { return TREE_ROWS; }
export function treeStartsAt(): u32 { return TREE_STARTS; }
export function treeKindsAt(): u32 { return TREE_KINDS; }
export function reachedAt(): u32 { return REACHED; }
export function blockedAt(): u32 { return BLOCKED; }
export function reachedCount(): u32 { return reachedFound; }
export function blockedCount(): u32 { return blockedFound; }
export function windowAt(): u32 { return WINDOW; }
export function windowSize(): u32 { return WINDOW_SIZE; }
export function stageRows(): u32 { return STAGE; }
export function columnsAt(): u32 { return COLUMNS; }
export function kindsAt(): u32 { return KINDS; }
export function pathStartsAt(): u32 { return PATH_STARTS; }
export function linkStartsAt(): u32 { return LINK_STARTS; }
export function namesAt(): u32 { return NAMES; }
export function linksAt(): u32 { return LINKS; }
export function ownersAt(): u32 { return OWNERS; }
export function lastNameAt(): u32 { return LAST_NAME; }
export function statsAt(): u32 { return STATS; }
export function rowCount(): u32 { return rows; }
export function namesLength(): u32 { return namesUsed; }
export function linksLength(): u32 { return linksUsed; }
export function stopReason(): i32 { return stop; }
export function stagedTarEnd(): f64 { return tarEnd; }
export function stagedData(): bool { return tookData; }
export function lastDataOffsetOf(): f64 { return lastDataOffset; }
export function lastSizeOf(): f64 { return lastSize; }
export function lastNameLengthOf(): u32 { return lastNameLength; }

/** The kind code (layer-columns.ts KINDS) of a typeflag, or -1 for one the lane does not take. */
function kindOf(flag: u32): i32 {
  if (flag == 0 || flag == 0x30 || flag == 0x37) return FILE;
  if (flag == 0x35) return DIR;
  if (flag == 0x32) return SYMLINK;
  if (flag == 0x31) return HARDLINK;
  if (flag == 0x33) return 4; // char
  if (flag == 0x34) return 5; // block
  if (flag == 0x36) return 6; // fifo
  return -1;
}

/** large-numbers.ts `scanOctal`, with its two error values (-1 bad terminator, -2 too large). */
function scanOctal(start: u32, end: u32): f64 {
  let i = start;
  while (i < end && load<u8>(i) == 0x20) i++;
  let value: f64 = 0;
  for (; i < end; i++) {
    const c = <u32>load<u8>(i);
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + <f64>(c - 0x30);
  }
  if (i < end) {
    const terminator = load<u8>(i);
    if (terminator != 0 && terminator != 0x20) return -1;
  }
  // Integer-valued throughout: at most 2^53 - 1 is Number.isSafeInteger's answer.
  return value <= 9007199254740991.0 ? value : -2;
}

/** plain-member-lane.ts `numberAt`. */
function numberAt(start: u32, length: u32): f64 {
  if ((load<u8>(start) & 0x80) != 0) return -1;
  const value = scanOctal(start, start + length);
  return value < 0 ? -1 : value;
}

/** header.ts `checksumMatches`: the unsigned or the signed sum (the header is word-aligned here). */
function checksumMatches(at: u32): bool {
  let evenOdd: u32 = 0;
  let oddEven: u32 = 0;
  let highBits: u32 = 0;
  for (let p = at; p < at + BLOCK; p += 4) {
    const word = load<u32>(p);
    evenOdd += word & 0x00ff00ff;
    oddEven += (word >>> 8) & 0x00ff00ff;
    highBits += (word >>> 7) & 0x01010101;
  }
  let unsigned: i32 = 256 + <i32>((evenOdd & 0xffff) + (evenOdd >>> 16) + (oddEven & 0xffff) + (oddEven >>> 16));
  let high: i32 = <i32>((highBits & 0xff) + ((highBits >>> 8) & 0xff) + ((highBits >>> 16) & 0xff) + (highBits >>> 24));
  for (let i = at + 148; i < at + 156; i++) {
    const byte = <i32>load<u8>(i);
    unsigned -= byte;
    high -= byte >> 7;
  }
  const signed = unsigned - 256 * high;
  const recorded = scanOctal(at + 148, at + 156);
  return recorded == <f64>unsigned || recorded == <f64>signed;
}

/** "ustar  \0" (GNU) and "ustar\0" (POSIX) at `at`. */
function isGnu(at: u32): bool {
  return load<u32>(at) == 0x61747375 && load<u32>(at + 4) == 0x00202072;
}
function isUstar(at: u32): bool {
  return load<u32>(at) == 0x61747375 && load<u8>(at + 4) == 0x72 && load<u8>(at + 5) == 0;
}

/** The end of a NUL-terminated (or field-filling) ASCII field; -1 when a byte is not ASCII. */
function asciiFieldEnd(start: u32, end: u32): i32 {
  for (let i = start; i < end; i++) {
    const byte = load<u8>(i);
    if (byte == 0) return <i32>i;
    if (byte >= 0x80) return -1;
  }
  return <i32>end;
}

/** plain-member-lane.ts `copyName`: prefix (star's shorter one when "tar\0" is at 508), '/', name. */
function copyName(at: u32, ustar: bool, to: u32): i32 {
  let next = to;
  if (ustar) {
    const prefixEnd = at + (load<u32>(at + 508) == 0x00726174 ? 476 : 500);
    for (let i = at + 345; i < prefixEnd; i++) {
      const byte = load<u8>(i);
      if (byte == 0) break;
      if (byte >= 0x80) return -1;
      store<u8>(next++, byte);
    }
    if (next > to) store<u8>(next++, SLASH);
  }
  for (let i = at; i < at + 100; i++) {
    const byte = load<u8>(i);
    if (byte == 0) break;
    if (byte >= 0x80) return -1;
    store<u8>(next++, byte);
  }
  return <i32>next;
}

/** plain-member-lane.ts `plainSpan`: sets spanStart/spanEnd. */
function plainSpan(start: u32, end: u32, path: bool): bool {
  let from = start;
  for (;;) {
    if (from < end && load<u8>(from) == SLASH) from++;
    else if (from + 1 < end && load<u8>(from) == DOT && load<u8>(from + 1) == SLASH) from += 2;
    else break;
  }
  if (from >= end) return false;
  const to = load<u8>(end - 1) == SLASH ? end - 1 : end;
  if (load<u8>(to - 1) == SLASH) return false;
  let component = from;
  for (let i = from; i <= to; i++) {
    const byte = i < to ? load<u8>(i) : SLASH;
    if (byte == DOT) {
      if (path && i + 3 < to && load<u8>(i + 1) == 0x77 && load<u8>(i + 2) == 0x68 && load<u8>(i + 3) == DOT) return false;
      continue;
    }
    if (byte != SLASH) continue;
    const length = i - component;
    if (length == 0) return false;
    if (load<u8>(component) == DOT && (length == 1 || (length == 2 && load<u8>(component + 1) == DOT))) return false;
    component = i + 1;
  }
  spanStart = from;
  spanEnd = to;
  return true;
}

/** Whether the 32-byte owner field at `field` holds the owner name at `owner` (length, then bytes). */
function sameOwner(field: u32, owner: u32): bool {
  const length = load<i32>(owner);
  if (length < 0) return false;
  let nul: u32 = 0;
  while (nul < 32 && load<u8>(field + nul) != 0) nul++;
  if (<i32>nul != length) return false;
  for (let i: u32 = 0; i < nul; i++) if (load<u8>(field + i) != load<u8>(owner + 4 + i)) return false;
  return true;
}

/**
 * Stages the member whose header is at `at` (`offset` in the tar) and returns the next header's
 * offset; or -1, having staged nothing, when it is not one the kernel takes.
 */
function member(at: u32, offset: f64, end: f64, room: u32, maxNameLength: u32, ordinalBase: f64, pathBase: u32, linkBase: u32): f64 {
  // At the layer's maxEntries: the lane leaves the member to the walk, which raises ELIMIT.
  if (rows >= room || !checksumMatches(at)) return -1;
  const flag = <u32>load<u8>(at + 156);
  let code = kindOf(flag);
  if (code < 0) return -1;
  // Only ustar and GNU headers (a v7 header's owners are '', which JavaScript interns), with the owner
  // names of this batch.
  const gnu = isGnu(at + 257);
  const ustar = !gnu && isUstar(at + 257);
  if (!gnu && !ustar) return -1;
  if (!sameOwner(at + 265, OWNERS) || !sameOwner(at + 297, OWNERS + 40)) return -1;

  const size = numberAt(at + 124, 12);
  const uid = numberAt(at + 108, 8);
  const gid = numberAt(at + 116, 8);
  const devmajor = numberAt(at + 329, 8);
  const devminor = numberAt(at + 337, 8);
  const mode = numberAt(at + 100, 8);
  const mtime = numberAt(at + 136, 12);
  if (size < 0 || uid < 0 || gid < 0 || devmajor < 0 || devminor < 0 || mode < 0 || mtime < 0) return -1;

  const linkStart = at + 157;
  const linkEnd = asciiFieldEnd(linkStart, linkStart + 100);
  if (linkEnd < 0 || <u32>linkEnd - linkStart > maxNameLength) return -1;
  // Room for one more of the longest names (and its NUL) in either area.
  if (namesUsed + MAX_NAME + 2 > NAME_ROOM || linksUsed + 101 > LINK_ROOM) return -1;
  const nameStart = NAMES + namesUsed;
  const copied = copyName(at, ustar, nameStart);
  if (copied < 0) return -1;
  const nameEnd = <u32>copied;
  if (nameEnd - nameStart > maxNameLength) return -1;
  if (code == FILE && flag != 0x37 && nameEnd > nameStart && load<u8>(nameEnd - 1) == SLASH) code = DIR; // v7 had no directory type
  const dataSize = code == FILE ? size : 0;
  const dataOffset = offset + <f64>BLOCK;
  if (dataOffset + dataSize > end) return -1;
  if (!plainSpan(nameStart, nameEnd, true)) return -1;
  const pathStart = spanStart;
  const pathEnd = spanEnd;
  let targetStart = linkStart;
  let targetEnd: u32 = code == SYMLINK ? <u32>linkEnd : linkStart;
  if (code == HARDLINK) {
    if (!plainSpan(linkStart, <u32>linkEnd, false)) return -1;
    targetStart = spanStart;
    targetEnd = spanEnd;
  }

  // Taken: from here on, staged.
  const row = rows++;
  if (dataOffset + dataSize > tarEnd) tarEnd = dataOffset + dataSize;
  if (dataSize > 0) {
    lastNameLength = nameEnd - nameStart;
    memory.copy(LAST_NAME, nameStart, lastNameLength);
    lastDataOffset = dataOffset;
    lastSize = dataSize;
    tookData = true;
  }
  const pathLength = pathEnd - pathStart;
  store<u32>(PATH_STARTS + (row << 2), pathBase + namesUsed);
  if (pathStart != nameStart) memory.copy(nameStart, pathStart, pathLength);
  store<u8>(nameStart + pathLength, 0);
  namesUsed += pathLength + 1;
  const targetLength = targetEnd - targetStart;
  store<u32>(LINK_STARTS + (row << 2), linkBase + linksUsed);
  memory.copy(LINKS + linksUsed, targetStart, targetLength);
  store<u8>(LINKS + linksUsed + targetLength, 0);
  linksUsed += targetLength + 1;

  store<u8>(KINDS + row, <u8>code);
  const r8 = row << 3;
  store<f64>(COLUMNS + r8, uid);
  store<f64>(COLUMNS + STAGE * 8 + r8, gid);
  store<f64>(COLUMNS + STAGE * 16 + r8, dataSize);
  store<f64>(COLUMNS + STAGE * 24 + r8, mtime * 1000);
  store<f64>(COLUMNS + STAGE * 32 + r8, dataOffset);
  store<f64>(COLUMNS + STAGE * 40 + r8, devmajor);
  store<f64>(COLUMNS + STAGE * 48 + r8, devminor);
  store<f64>(COLUMNS + STAGE * 56 + r8, <f64>(<i64>mode & 0o7777));
  store<f64>(COLUMNS + STAGE * 64 + r8, ordinalBase + <f64>row);
  return dataOffset + Math.ceil(dataSize / <f64>BLOCK) * <f64>BLOCK;
}

/**
 * Stages the plain members from `offset` on while their headers lie wholly in the window (which holds
 * the tar's bytes [windowStart, windowStart + windowLength)), at most `room` rows, and returns the
 * offset of the first header it did not take (`stopReason` says why). `end`: the tar's length, or
 * Infinity. `pathBase`/`linkBase`: where the name columns' next names will start; `ordinalBase`: the
 * next member's ordinal; `room`: how many rows the layer may still have. All as at `begin`.
 */
export function walk(windowStart: f64, windowLength: u32, offset: f64, end: f64, room: u32, maxNameLength: u32, ordinalBase: f64, pathBase: u32, linkBase: u32): f64 {
  for (;;) {
    const relative = offset - windowStart;
    if (relative < 0 || relative + <f64>BLOCK > <f64>windowLength) {
      stop = STOP_OUTSIDE;
      break;
    }
    if (rows >= STAGE) {
      stop = STOP_FULL;
      break;
    }
    const next = member(WINDOW + <u32>relative, offset, end, room, maxNameLength, ordinalBase, pathBase, linkBase);
    if (next < 0) {
      stop = STOP_NOT_TAKEN;
      break;
    }
    offset = next;
  }
  return offset;
}

/** Starts a new stage: `walk` adds to it until JavaScript has taken its rows. */
export function begin(): void {
  rows = 0;
  namesUsed = 0;
  linksUsed = 0;
  tarEnd = 0;
  tookData = false;
}

/** Each column's largest staged value and whether all are the same, for the columns' bulk append. */
export function summarise(): void {
  for (let column: u32 = 0; column < COLUMN_COUNT; column++) {
    const base = COLUMNS + column * STAGE * 8;
    let largest: f64 = 0;
    let same: u32 = 1;
    const first = rows > 0 ? load<f64>(base) : 0;
    for (let row: u32 = 0; row < rows; row++) {
      const value = load<f64>(base + (row << 3));
      if (value > largest) largest = value;
      if (value != first) same = 0;
    }
    store<f64>(STATS + column * 8, largest);
    store<u32>(STATS + COLUMN_COUNT * 8 + column * 4, same);
  }
}

// ---- The in-order tree check (in-order-tree-check.ts `addColumn`, ASCII paths) ----

let prefixCount: u32 = 0;
let prefixNonDirs: u32 = 0;
let chainCount: u32 = 0;
let reachedFound: u32 = 0;
let blockedFound: u32 = 0;
/** The check ran out of room for what it found: JavaScript checks the column instead. */
let overflow: bool = false;

/** in-order-tree-check.ts `climb`, for the path at `path` (`length` bytes), of `slot`. */
function climb(path: u32, length: u32, shared: u32, slot: u32): void {
  while (chainCount > 0) {
    const dir = load<u32>(CHAIN + (chainCount - 1) * 4);
    if (dir <= shared && dir < length && load<u8>(path + dir) == SLASH) break;
    chainCount--;
  }
  const from: u32 = chainCount == 0 ? 0 : load<u32>(CHAIN + (chainCount - 1) * 4) + 1;
  let slash = from;
  while (slash < length && load<u8>(path + slash) != SLASH) slash++;
  if (slash >= length) return;
  const first = chainCount;
  for (; slash < length; slash++) if (load<u8>(path + slash) == SLASH) store<u32>(CHAIN + chainCount++ * 4, slash);
  const parent = load<u32>(CHAIN + (chainCount - 1) * 4);
  memory.copy(CHAIN_BASE, path, parent);
  for (let i = <i32>chainCount - 1; i >= <i32>first; i--) {
    const dir = load<u32>(CHAIN + i * 4);
    let member = false;
    for (let j: u32 = 0; j < prefixCount; j++) {
      if (load<u32>(PREFIX_LENGTHS + j * 4) == dir) {
        member = true;
        break;
      }
    }
    if (member) continue;
    if (reachedFound >= REACHED_ROOM) {
      overflow = true;
      return;
    }
    store<u32>(REACHED + reachedFound * 8, slot);
    store<u32>(REACHED + reachedFound * 8 + 4, dir);
    reachedFound++;
  }
}

/**
 * Checks the `count` ASCII paths copied in (TREE_NAMES, TREE_STARTS as NameColumnBuilder `layout`
 * gives them, TREE_KINDS) as in-order-tree-check.ts does: 1 in order (REACHED and BLOCKED hold what it
 * found), 0 not in order, 2 not checked here (a path too long, too much found).
 */
export function treeCheck(count: u32): i32 {
  prefixCount = 0;
  prefixNonDirs = 0;
  chainCount = 0;
  reachedFound = 0;
  blockedFound = 0;
  overflow = false;
  let lastKept = true;
  let last: u32 = 0;
  let lastLength: i32 = -1;
  for (let slot: u32 = 0; slot < count; slot++) {
    const path = TREE_NAMES + load<u32>(TREE_STARTS + slot * 4);
    const length = TREE_NAMES + load<u32>(TREE_STARTS + (slot + 1) * 4) - 1 - path;
    if (length > TREE_PATH) return 2;
    let common: u32 = 0;
    if (lastLength >= 0) {
      const shorter = min(length, <u32>lastLength);
      while (common < shorter && load<u8>(path + common) == load<u8>(last + common)) common++;
      const after = common == length || common == <u32>lastLength ? length > <u32>lastLength : load<u8>(path + common) > load<u8>(last + common);
      if (!after) return 0;
    }
    last = path;
    lastLength = <i32>length;
    const kind = load<u8>(TREE_KINDS + slot);
    const kept = lastKept;
    while (prefixCount > 0 && load<u32>(PREFIX_LENGTHS + (prefixCount - 1) * 4) > common) {
      prefixCount--;
      if (load<u8>(PREFIX_KINDS + prefixCount) != <u8>DIR) prefixNonDirs--;
    }
    let holder: i32 = -1;
    if (prefixNonDirs > 0) {
      for (let i = <i32>prefixCount - 1; i >= 0; i--) {
        const prefix = load<u32>(PREFIX_LENGTHS + i * 4);
        if (load<u8>(PREFIX_KINDS + i) != <u8>DIR && prefix < length && load<u8>(path + prefix) == SLASH) {
          holder = i;
          break;
        }
      }
    }
    store<u32>(PREFIX_LENGTHS + prefixCount * 4, length);
    store<u8>(PREFIX_KINDS + prefixCount, kind);
    prefixCount++;
    if (kind != <u8>DIR) prefixNonDirs++;
    if (holder >= 0) {
      store<u32>(BLOCKED + blockedFound * 12, slot);
      store<u32>(BLOCKED + blockedFound * 12 + 4, load<u32>(PREFIX_LENGTHS + holder * 4));
      store<u32>(BLOCKED + blockedFound * 12 + 8, load<u8>(PREFIX_KINDS + holder));
      blockedFound++;
      lastKept = false;
      continue;
    }
    lastKept = true;
    let shared = common;
    if (!kept) {
      const top: u32 = chainCount == 0 ? 0 : load<u32>(CHAIN + (chainCount - 1) * 4);
      shared = 0;
      while (shared < top && shared < length && load<u8>(CHAIN_BASE + shared) == load<u8>(path + shared)) shared++;
    }
    climb(path, length, shared, slot);
    if (overflow) return 2;
  }
  return 1;
}
