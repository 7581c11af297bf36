/**
 * A hand-written tar encoder for tests: every byte of the archive is decided here, so a test controls
 * exactly what a layer holds — raw names kept verbatim (`./a`, `/a`, `a//b/`, duplicates, entries
 * without their parents), whiteouts, PAX and GNU long names, base-256 numbers, sub-second mtimes and
 * xattrs. No dependency: tar-stream normalises too much for that.
 *
 * Format reference: POSIX.1-2001 `pax` (ustar header, `x`/`g` extended headers) and GNU tar's
 * `tar.h` (`L`/`K` long-name records, base-256 numbers).
 */

const BLOCK = 512;

/** mtime (seconds) given to entries that do not set one; not 0, so implicit directories stand out. */
export const DEFAULT_MTIME = 1_700_000_000;

/** Fields every entry kind accepts. */
export interface EntryFields {
  /** Permission bits incl. setuid/setgid/sticky. Default: 0o644 files, 0o755 dirs, 0o777 symlinks. */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /**
   * Seconds since the epoch. A fractional number, or a decimal string such as `'1700000000.123456789'`
   * (written verbatim, for exact nanoseconds), adds a PAX `mtime` record; the header keeps the
   * whole seconds (floor). Negative values use base-256 in the header.
   */
  mtime?: number | string;
  /** PAX `SCHILY.xattr.NAME` records. */
  xattrs?: Record<string, string | Buffer>;
  /** Extra PAX records for this entry, written as given (after the ones the encoder adds). */
  pax?: Record<string, string | Buffer>;
  /** Always put the name in a PAX `path` record, even when it fits the header. */
  paxPath?: boolean;
  /** Override the header's typeflag (e.g. `'S'`, `'V'`, `'7'`) while keeping the entry's data. */
  typeflag?: string;
}

export interface FileSpec extends EntryFields {
  type: 'file';
  name: string;
  content?: string | Buffer;
}
export interface DirSpec extends EntryFields {
  type: 'dir';
  name: string;
}
export interface SymlinkSpec extends EntryFields {
  type: 'symlink';
  name: string;
  target: string;
}
export interface HardlinkSpec extends EntryFields {
  type: 'hardlink';
  name: string;
  /** The member name the link points to, verbatim. */
  target: string;
}
export interface FifoSpec extends EntryFields {
  type: 'fifo';
  name: string;
}
export interface DeviceSpec extends EntryFields {
  type: 'char' | 'block';
  name: string;
  devmajor: number;
  devminor: number;
}
/** A PAX global header (`g`): its records apply to every later entry. */
export interface GlobalPaxSpec {
  type: 'pax-global';
  records: Record<string, string | Buffer>;
}

export type LayerEntrySpec = FileSpec | DirSpec | SymlinkSpec | HardlinkSpec | FifoSpec | DeviceSpec | GlobalPaxSpec;

export interface BuildLayerOptions {
  /**
   * How names (and link targets) longer than the 100-byte header field are written:
   * `'pax'` (default) a PAX `path`/`linkpath` record; `'gnu'` a GNU `L`/`K` record (and GNU magic
   * `ustar  \0` in every header); `'ustar'` the ustar prefix/name split, throwing when no split fits.
   */
  longNames?: 'pax' | 'gnu' | 'ustar';
  /**
   * Numbers too big for their octal field (uid, gid, size, mtime, devices):
   * `'base256'` (default, as GNU tar) or `'pax'` records (`uid=`, `size=` ...).
   */
  bigNumbers?: 'base256' | 'pax';
  /** Zero blocks written at the end (default 2; 0 makes an archive that just stops). */
  endBlocks?: number;
}

// ---------------------------------------------------------------------------------------------------
// Entry helpers

export function file(name: string, content: string | Buffer = '', fields: EntryFields = {}): FileSpec {
  return { ...fields, type: 'file', name, content };
}
export function dir(name: string, fields: EntryFields = {}): DirSpec {
  return { ...fields, type: 'dir', name };
}
export function symlink(name: string, target: string, fields: EntryFields = {}): SymlinkSpec {
  return { ...fields, type: 'symlink', name, target };
}
export function hardlink(name: string, target: string, fields: EntryFields = {}): HardlinkSpec {
  return { ...fields, type: 'hardlink', name, target };
}
export function fifo(name: string, fields: EntryFields = {}): FifoSpec {
  return { ...fields, type: 'fifo', name };
}
export function charDevice(name: string, devmajor: number, devminor: number, fields: EntryFields = {}): DeviceSpec {
  return { ...fields, type: 'char', name, devmajor, devminor };
}
export function blockDevice(name: string, devmajor: number, devminor: number, fields: EntryFields = {}): DeviceSpec {
  return { ...fields, type: 'block', name, devmajor, devminor };
}

/** `whiteout('dir/name')` is the empty file `dir/.wh.name`, which deletes `dir/name` from lower layers. */
export function whiteout(path: string, fields: EntryFields = {}): FileSpec {
  const trimmed = path.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  const parent = slash < 0 ? '' : trimmed.slice(0, slash + 1);
  return file(`${parent}.wh.${trimmed.slice(slash + 1)}`, '', fields);
}

/** `opaque('dir')` is the empty file `dir/.wh..wh..opq`; `opaque('')` marks the root. */
export function opaque(dirPath: string, fields: EntryFields = {}): FileSpec {
  const trimmed = dirPath.replace(/\/+$/, '');
  return file(trimmed === '' ? '.wh..wh..opq' : `${trimmed}/.wh..wh..opq`, '', fields);
}

// ---------------------------------------------------------------------------------------------------
// Encoder

const typeflags: Record<Exclude<LayerEntrySpec['type'], 'pax-global'>, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

const defaultModes: Record<Exclude<LayerEntrySpec['type'], 'pax-global'>, number> = {
  file: 0o644,
  hardlink: 0o644,
  symlink: 0o777,
  char: 0o644,
  block: 0o644,
  dir: 0o755,
  fifo: 0o644,
};

/** Encodes `entries` in order as one tar archive. */
export function buildLayer(entries: readonly LayerEntrySpec[], options: BuildLayerOptions = {}): Buffer {
  const longNames = options.longNames ?? 'pax';
  const bigNumbers = options.bigNumbers ?? 'base256';
  const gnuMagic = longNames === 'gnu';
  const parts: Buffer[] = [];
  let paxCounter = 0;

  for (const entry of entries) {
    if (entry.type === 'pax-global') {
      const data = encodePaxRecords(Object.entries(entry.records));
      parts.push(
        encodeHeader({ name: Buffer.from('pax_global_header', 'latin1'), typeflag: 'g', size: data.length, gnuMagic, bigNumbers }).header,
        pad(data),
      );
      continue;
    }

    const name: Buffer = Buffer.from(entry.name, 'utf8');
    const content =
      entry.type === 'file' ? (typeof entry.content === 'string' ? Buffer.from(entry.content, 'utf8') : (entry.content ?? Buffer.alloc(0))) : Buffer.alloc(0);
    const linkname = entry.type === 'symlink' || entry.type === 'hardlink' ? Buffer.from(entry.target, 'utf8') : Buffer.alloc(0);
    const pax: Array<[string, string | Buffer]> = [];

    // Name: header field, ustar prefix split, PAX path, or GNU L record.
    let headerName: Buffer = name;
    let prefix: Buffer = Buffer.alloc(0);
    if (entry.paxPath === true) {
      pax.push(['path', name]);
      headerName = truncate(name, 100);
    } else if (name.length > 100) {
      if (longNames === 'pax') {
        pax.push(['path', name]);
        headerName = truncate(name, 100);
      } else if (longNames === 'gnu') {
        parts.push(...gnuLongRecord('L', name, gnuMagic, bigNumbers));
        headerName = truncate(name, 100);
      } else {
        [prefix, headerName] = splitUstar(name);
      }
    }
    if (linkname.length > 100) {
      if (longNames === 'gnu') {
        parts.push(...gnuLongRecord('K', linkname, gnuMagic, bigNumbers));
      } else {
        pax.push(['linkpath', linkname]);
      }
    }

    // Owner names longer than their 32-byte fields go to PAX.
    const uname = Buffer.from(entry.uname ?? '', 'utf8');
    const gname = Buffer.from(entry.gname ?? '', 'utf8');
    if (uname.length > 32) pax.push(['uname', uname]);
    if (gname.length > 32) pax.push(['gname', gname]);

    // mtime: whole seconds in the header, the exact value in PAX when it has a fraction.
    const mtimeSpec = entry.mtime ?? DEFAULT_MTIME;
    const mtimeText = typeof mtimeSpec === 'string' ? mtimeSpec : String(mtimeSpec);
    const mtimeSeconds = Math.floor(Number(mtimeSpec));
    if (!Number.isFinite(mtimeSeconds)) throw new Error(`buildLayer: bad mtime ${mtimeText} for ${entry.name}`);
    if (mtimeText.includes('.') || mtimeText.includes('e')) pax.push(['mtime', mtimeText]);

    const numbers = {
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      size: content.length,
      mtime: mtimeSeconds,
      devmajor: entry.type === 'char' || entry.type === 'block' ? entry.devmajor : 0,
      devminor: entry.type === 'char' || entry.type === 'block' ? entry.devminor : 0,
    };
    if (bigNumbers === 'pax') {
      if (!fitsOctal(numbers.uid, 8)) pax.push(['uid', String(numbers.uid)]);
      if (!fitsOctal(numbers.gid, 8)) pax.push(['gid', String(numbers.gid)]);
      if (!fitsOctal(numbers.size, 12)) pax.push(['size', String(numbers.size)]);
      if (!fitsOctal(numbers.mtime, 12) && !pax.some(([key]) => key === 'mtime')) pax.push(['mtime', mtimeText]);
    }

    for (const [key, value] of Object.entries(entry.xattrs ?? {})) pax.push([`SCHILY.xattr.${key}`, value]);
    for (const [key, value] of Object.entries(entry.pax ?? {})) pax.push([key, value]);

    if (pax.length > 0) {
      const data = encodePaxRecords(pax);
      const paxName = truncate(Buffer.from(`PaxHeaders.${paxCounter++}/${lastComponent(entry.name)}`, 'utf8'), 100);
      parts.push(encodeHeader({ name: paxName, typeflag: 'x', size: data.length, gnuMagic, bigNumbers }).header, pad(data));
    }

    const { header } = encodeHeader({
      name: headerName,
      prefix,
      typeflag: entry.typeflag ?? typeflags[entry.type],
      mode: entry.mode ?? defaultModes[entry.type],
      ...numbers,
      linkname: truncate(linkname, 100),
      uname: truncate(uname, 32),
      gname: truncate(gname, 32),
      gnuMagic,
      bigNumbers,
    });
    parts.push(header);
    if (content.length > 0) parts.push(pad(content));
  }

  parts.push(Buffer.alloc(BLOCK * (options.endBlocks ?? 2)));
  return Buffer.concat(parts);
}

interface HeaderFields {
  name: Buffer;
  prefix?: Buffer;
  typeflag: string;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: number;
  linkname?: Buffer;
  uname?: Buffer;
  gname?: Buffer;
  devmajor?: number;
  devminor?: number;
  gnuMagic: boolean;
  bigNumbers: 'base256' | 'pax';
}

function encodeHeader(fields: HeaderFields): { header: Buffer } {
  const header = Buffer.alloc(BLOCK);
  fields.name.copy(header, 0, 0, 100);
  writeNumber(header, 100, 8, fields.mode ?? 0);
  writeNumber(header, 108, 8, fields.uid ?? 0);
  writeNumber(header, 116, 8, fields.gid ?? 0);
  writeNumber(header, 124, 12, fields.size ?? 0);
  writeNumber(header, 136, 12, fields.mtime ?? 0);
  header.write(fields.typeflag.slice(0, 1), 156, 'latin1');
  fields.linkname?.copy(header, 157, 0, 100);
  if (fields.gnuMagic) {
    header.write('ustar  \0', 257, 'latin1');
  } else {
    header.write('ustar\u000000', 257, 'latin1');
  }
  fields.uname?.copy(header, 265, 0, 32);
  fields.gname?.copy(header, 297, 0, 32);
  // Device numbers are only meaningful for devices; GNU tar leaves them empty otherwise, but zeros are
  // what most writers (Docker's archive/tar included) put there.
  writeNumber(header, 329, 8, fields.devmajor ?? 0);
  writeNumber(header, 337, 8, fields.devminor ?? 0);
  fields.prefix?.copy(header, 345, 0, 155);
  writeChecksum(header);
  return { header };
}

/** Recomputes and writes the header checksum (bytes 148..156 counted as spaces). */
export function writeChecksum(header: Buffer): void {
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += header[i] ?? 0;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

function fitsOctal(value: number, width: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < 8 ** (width - 1);
}

/** Octal, zero-padded to width-1 digits and NUL-terminated; base-256 when the value does not fit. */
function writeNumber(header: Buffer, offset: number, width: number, value: number): void {
  if (fitsOctal(value, width)) {
    header.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'latin1');
    return;
  }
  if (!Number.isInteger(value)) throw new Error(`buildLayer: ${value} is not an integer`);
  // Base-256: the first byte's high bit set; the rest is the two's-complement big-endian value.
  let big = BigInt(value);
  if (big < 0n) big += 1n << BigInt(8 * width);
  for (let i = width - 1; i >= 1; i--) {
    header[offset + i] = Number(big & 0xffn);
    big >>= 8n;
  }
  header[offset] = value < 0 ? 0xff : 0x80;
}

function encodePaxRecords(records: ReadonlyArray<readonly [string, string | Buffer]>): Buffer {
  return Buffer.concat(
    records.map(([key, value]) => {
      const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), typeof value === 'string' ? Buffer.from(value, 'utf8') : value, Buffer.from('\n')]);
      // The length prefix counts itself: grow it until it is stable.
      let length = body.length + 1;
      while (String(length).length + body.length !== length) length = String(length).length + body.length;
      return Buffer.concat([Buffer.from(String(length), 'latin1'), body]);
    }),
  );
}

function gnuLongRecord(typeflag: 'L' | 'K', value: Buffer, gnuMagic: boolean, bigNumbers: 'base256' | 'pax'): Buffer[] {
  const data = Buffer.concat([value, Buffer.alloc(1)]);
  const { header } = encodeHeader({
    name: Buffer.from('././@LongLink', 'latin1'),
    typeflag,
    mode: 0o644,
    size: data.length,
    uname: Buffer.from('root'),
    gname: Buffer.from('root'),
    gnuMagic,
    bigNumbers,
  });
  return [header, pad(data)];
}

/** ustar: name = prefix + '/' + name, prefix ≤ 155 bytes, name ≤ 100 bytes, split at a slash. */
function splitUstar(name: Buffer): [Buffer, Buffer] {
  for (let i = Math.min(name.length - 1, 155); i > 0; i--) {
    if (name[i] === 0x2f && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return [name.subarray(0, i), name.subarray(i + 1)];
    }
  }
  throw new Error(`buildLayer: ${name.toString('utf8')} cannot be split into a ustar prefix and name`);
}

function truncate(value: Buffer, length: number): Buffer {
  return value.length <= length ? value : value.subarray(0, length);
}

function lastComponent(name: string): string {
  const parts = name.split('/').filter((part) => part !== '');
  return parts[parts.length - 1] ?? 'root';
}

function pad(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}
