/**
 * Encodes tar headers (POSIX pax: ustar headers, with a PAX extended header wherever a value does not
 * fit the ustar field) for `imgfs export`. Every value is written exactly or not at all: ids beyond
 * 7 octal digits, mtimes before 1970 or from 2242 on, sub-second mtimes, sizes from 8 GiB, long
 * names, links and owner names, binary xattrs. Sparse files are written as GNU PAX 1.0 sparse entries,
 * which GNU tar, Go and Python read back as sparse files.
 */
import { BLOCK_SIZE } from './header.js';
import { nameToBytes } from './name-bytes.js';

export type TarWriteType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'character-device' | 'block-device' | 'fifo';

export interface TarWriteEntry {
  /** Path inside the archive, relative, without a trailing slash (added for directories). */
  name: string | Buffer;
  type: TarWriteType;
  /** Permission bits incl. setuid, setgid, sticky. */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Bytes of a regular file (its logical size when sparse); 0 for everything else. */
  size: number;
  /** Milliseconds since the epoch; may be negative or fractional. */
  mtimeMs: number;
  /** Symlink target or hard-link target name; '' otherwise. */
  linkname: string | Buffer;
  devmajor: number;
  devminor: number;
  xattrs: Readonly<Record<string, Buffer>>;
  /** Where a sparse file's data lies: flat `offset, length` pairs; only these bytes are written. */
  dataRegions?: readonly number[];
}

const TYPEFLAGS: Record<TarWriteType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK_SIZE);

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE);
}

/**
 * The blocks that precede an entry's data: a PAX extended header when needed, the ustar header, and
 * for a sparse file its GNU 1.0 map. `dataSize` bytes of data follow (for a sparse file, its regions
 * one after another), then `padding(dataSize)`.
 */
export function encodeEntry(entry: TarWriteEntry): { header: Buffer; dataSize: number } {
  // Names keep the bytes they were read as (name-bytes.ts), not the UTF-8 of their escapes.
  const name = typeof entry.name === 'string' ? nameToBytes(entry.name) : entry.name;
  const pax: Array<[string, Buffer]> = [];
  const record = (keyword: string, value: string | Buffer): void => {
    pax.push([keyword, Buffer.from(value)]);
  };
  const isFile = entry.type === 'file';
  let dataSize = isFile ? entry.size : 0;
  let sparseMap: Buffer = Buffer.alloc(0);
  let headerName: Buffer = entry.type === 'directory' ? Buffer.concat([name, Buffer.from('/')]) : name;

  if (isFile && entry.dataRegions !== undefined) {
    const regions = entry.dataRegions;
    const lines = [String(regions.length / 2), ...regions.map(String)];
    sparseMap = padded(Buffer.from(`${lines.join('\n')}\n`, 'latin1'));
    dataSize = regions.reduce((sum, value, i) => (i % 2 === 1 ? sum + value : sum), 0);
    record('GNU.sparse.major', '1');
    record('GNU.sparse.minor', '0');
    record('GNU.sparse.name', name);
    record('GNU.sparse.realsize', String(entry.size));
    // The stand-in name GNU tar gives the member itself; readers that know the format use the real one.
    headerName = joinName(dirName(name), Buffer.from(`GNUSparseFile.0/${baseName(name).toString('latin1')}`, 'latin1'));
  }

  const fields = ustarName(headerName);
  if (fields === undefined) record('path', headerName);
  const link = typeof entry.linkname === 'string' ? nameToBytes(entry.linkname) : entry.linkname;
  if (link.length > 100) record('linkpath', link);
  for (const [keyword, value] of [['uname', entry.uname], ['gname', entry.gname]] as const) {
    if (Buffer.byteLength(value) > 32) record(keyword, value);
  }
  const fits = (value: number, digits: number): boolean => Number.isSafeInteger(value) && value >= 0 && value < 8 ** digits;
  const uid = fits(entry.uid, 7) ? entry.uid : (record('uid', String(entry.uid)), 0);
  const gid = fits(entry.gid, 7) ? entry.gid : (record('gid', String(entry.gid)), 0);
  const devmajor = fits(entry.devmajor, 7) ? entry.devmajor : (record('SCHILY.devmajor', String(entry.devmajor)), 0);
  const devminor = fits(entry.devminor, 7) ? entry.devminor : (record('SCHILY.devminor', String(entry.devminor)), 0);
  const storedSize = sparseMap.length + dataSize;
  const size = fits(storedSize, 11) ? storedSize : (record('size', String(storedSize)), 0);
  const seconds = Math.floor(entry.mtimeMs / 1000);
  if (!Number.isInteger(entry.mtimeMs / 1000) || !fits(seconds, 11)) record('mtime', paxTime(entry.mtimeMs));
  const mtime = fits(seconds, 11) ? seconds : 0;
  for (const [key, value] of Object.entries(entry.xattrs)) record(`SCHILY.xattr.${key}`, value);

  const ustar = Buffer.alloc(BLOCK_SIZE);
  const [prefix, shortName] = fields ?? ['', truncate(headerName, 100)];
  Buffer.from(shortName).copy(ustar, 0);
  octal(ustar, 100, 8, entry.mode & 0o7777);
  octal(ustar, 108, 8, uid);
  octal(ustar, 116, 8, gid);
  octal(ustar, 124, 12, size);
  octal(ustar, 136, 12, mtime);
  ustar.write(TYPEFLAGS[entry.type], 156, 'latin1');
  truncate(link, 100).copy(ustar, 157);
  ustar.write('ustar\u000000', 257, 'latin1');
  truncate(Buffer.from(entry.uname), 32).copy(ustar, 265);
  truncate(Buffer.from(entry.gname), 32).copy(ustar, 297);
  octal(ustar, 329, 8, devmajor);
  octal(ustar, 337, 8, devminor);
  Buffer.from(prefix).copy(ustar, 345);
  checksum(ustar);

  const parts: Buffer[] = [];
  if (pax.length > 0) {
    const data = Buffer.concat(pax.map(([keyword, value]) => paxRecord(keyword, value)));
    parts.push(paxHeader(headerName, data.length), padded(data));
  }
  parts.push(ustar, sparseMap);
  return { header: Buffer.concat(parts), dataSize };
}

/**
 * `[prefix, name]` when the path fits ustar's 155 + 100 bytes split at a slash; undefined when only a
 * PAX `path` record can hold it.
 */
function ustarName(path: Buffer): [Buffer, Buffer] | undefined {
  if (path.length <= 100) return [Buffer.alloc(0), path];
  // The name part may not be empty, so a directory's trailing slash is not a split point.
  for (let slash = path.lastIndexOf(0x2f, path.length - 2); slash > 0; slash = path.lastIndexOf(0x2f, slash - 1)) {
    if (path.length - slash - 1 > 100) return undefined;
    if (slash <= 155) return [path.subarray(0, slash), path.subarray(slash + 1)];
  }
  return undefined;
}

/** The PAX header's own name, `DIR/PaxHeaders/NAME` as GNU tar and Go name it, or `PaxHeaders/NAME` cut to fit. */
function paxHeader(path: Buffer, dataLength: number): Buffer {
  const trimmed = path[path.length - 1] === 0x2f ? path.subarray(0, -1) : path;
  const own = Buffer.concat([Buffer.from('PaxHeaders/'), baseName(trimmed)]);
  const full = joinName(dirName(trimmed), own);
  const name = truncate(full.length <= 100 ? full : own, 100);
  const block = Buffer.alloc(BLOCK_SIZE);
  name.copy(block, 0);
  octal(block, 100, 8, 0o644);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  octal(block, 124, 12, dataLength);
  octal(block, 136, 12, 0);
  block.write('x', 156, 'latin1');
  block.write('ustar\u000000', 257, 'latin1');
  checksum(block);
  return block;
}

/** `"%d %s=%s\n"` where the length counts itself. Values are bytes: xattr values may be binary. */
function paxRecord(keyword: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${keyword}=`), value, Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

/**
 * Milliseconds (with sub-millisecond digits in the fraction) as PAX decimal seconds. The sign goes on
 * the whole value, as readers parse it: -1.5 is a second and a half before the epoch.
 */
export function paxTime(mtimeMs: number): string {
  const sign = mtimeMs < 0 ? '-' : '';
  const ms = Math.abs(mtimeMs);
  const whole = Math.floor(ms / 1000);
  const nanos = Math.round((ms - whole * 1000) * 1e6);
  if (nanos === 0) return `${sign}${whole}`;
  if (nanos >= 1e9) return `${sign}${whole + 1}`;
  return `${sign}${whole}.${String(nanos).padStart(9, '0').replace(/0+$/, '')}`;
}

function octal(block: Buffer, at: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, at, 'latin1');
}

function checksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

function padded(data: Buffer): Buffer {
  return Buffer.concat([data, padding(data.length)]);
}

/** At most `length` bytes, never cutting a UTF-8 sequence in two. */
function truncate(bytes: Buffer, length: number): Buffer {
  if (bytes.length <= length) return bytes;
  let end = length;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

function dirName(path: Buffer): Buffer {
  const slash = path.lastIndexOf(0x2f);
  return slash < 0 ? Buffer.alloc(0) : path.subarray(0, slash);
}

function baseName(path: Buffer): Buffer {
  return path.subarray(path.lastIndexOf(0x2f) + 1);
}

function joinName(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 0 ? name : Buffer.concat([dir, Buffer.from('/'), name]);
}
