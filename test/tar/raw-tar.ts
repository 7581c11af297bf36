/**
 * Hand-built tar blocks for what GNU tar will not write: global PAX headers, bad checksums, negative
 * base-256 numbers, absurd PAX lengths, truncated archives. Every byte is decided here.
 */

export const BLOCK = 512;

export interface RawHeaderFields {
  name?: string | Buffer;
  mode?: number | Buffer;
  uid?: number | Buffer;
  gid?: number | Buffer;
  size?: number | Buffer;
  mtime?: number | Buffer;
  typeflag?: string;
  linkname?: string;
  magic?: 'ustar' | 'gnu' | 'v7';
  uname?: string;
  gname?: string;
  devmajor?: number | Buffer;
  devminor?: number | Buffer;
  prefix?: string;
}

function put(block: Buffer, offset: number, length: number, value: string | Buffer): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (bytes.length > length) throw new Error(`field at ${offset} too long`);
  bytes.copy(block, offset);
}

function octal(value: number | Buffer, length: number): Buffer {
  if (Buffer.isBuffer(value)) return value;
  return Buffer.from(`${value.toString(8).padStart(length - 1, '0')}\0`, 'latin1');
}

/** Big-endian two's complement with the GNU marker bit, like GNU tar writes out-of-range numbers. */
export function base256(value: bigint | number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let v = BigInt.asUintN(length * 8, BigInt(value));
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out[0] = (out[0] ?? 0) | 0x80;
  return out;
}

export function rawHeader(fields: RawHeaderFields = {}): Buffer {
  const block = Buffer.alloc(BLOCK);
  put(block, 0, 100, fields.name ?? 'file.txt');
  put(block, 100, 8, octal(fields.mode ?? 0o644, 8));
  put(block, 108, 8, octal(fields.uid ?? 0, 8));
  put(block, 116, 8, octal(fields.gid ?? 0, 8));
  put(block, 124, 12, octal(fields.size ?? 0, 12));
  put(block, 136, 12, octal(fields.mtime ?? 1_700_000_000, 12));
  put(block, 156, 1, fields.typeflag ?? '0');
  put(block, 157, 100, fields.linkname ?? '');
  const magic = fields.magic ?? 'ustar';
  if (magic !== 'v7') {
    put(block, 257, 8, magic === 'ustar' ? 'ustar\u000000' : 'ustar  \u0000');
    put(block, 265, 32, fields.uname ?? '');
    put(block, 297, 32, fields.gname ?? '');
    put(block, 329, 8, octal(fields.devmajor ?? 0, 8));
    put(block, 337, 8, octal(fields.devminor ?? 0, 8));
    put(block, 345, 155, fields.prefix ?? '');
  }
  return withChecksum(block);
}

/** Recomputes the checksum after a test has poked bytes into a header. */
export function withChecksum(block: Buffer): Buffer {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

export function padded(data: Buffer): Buffer {
  const length = Math.ceil(data.length / BLOCK) * BLOCK;
  return Buffer.concat([data, Buffer.alloc(length - data.length)]);
}

/** A header followed by its data, padded to the block size; `size` defaults to the data's length. */
export function member(fields: RawHeaderFields, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([rawHeader({ size: bytes.length, ...fields }), padded(bytes)]);
}

/** `"%d %s=%s\n"` records with correct self-counting lengths. */
export function paxData(records: Array<[string, string | Buffer]>): Buffer {
  return Buffer.concat(
    records.map(([key, value]) => {
      const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
      let length = body.length + 1;
      while (String(length).length + body.length !== length) length = String(length).length + body.length;
      return Buffer.concat([Buffer.from(String(length)), body]);
    }),
  );
}

export function paxMember(records: Array<[string, string | Buffer]>, typeflag: 'x' | 'g' = 'x'): Buffer {
  return member({ name: typeflag === 'x' ? 'PaxHeaders/entry' : 'GlobalHead.0', typeflag }, paxData(records));
}

export const END = Buffer.alloc(2 * BLOCK);
