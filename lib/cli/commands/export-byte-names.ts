/**
 * `export` for names that are not UTF-8. tar-stream writes names as UTF-8 text, which would turn each
 * byte kept as a lone surrogate (nameFromBytes) into U+FFFD. Such an entry is preceded by a PAX
 * extended header written here, whose `path`/`linkpath` records hold the name's own bytes (POSIX
 * lets PAX values be any bytes; GNU tar, Go and imgfs read them back as bytes), together with the
 * entry's other PAX records, so that it is the only extended header of the entry. tar-stream then
 * writes the ustar header with an ASCII stand-in name, which readers that know PAX never use.
 */

import type { Header, Pack } from 'tar-stream';
import { hasEscapedBytes, nameToBytes } from '../../index.js';

const BLOCK = 512;
/** ustar's name and linkname fields; a longer stand-in would make tar-stream add a PAX header itself. */
const NAME_FIELD = 100;

/**
 * When the entry's name or link target holds non-UTF-8 bytes: pushes its PAX header into `pack` (which
 * must be between entries) and returns the header to hand tar-stream instead. Otherwise `header`.
 */
export function withByteNames(pack: Pack, header: Header): Header {
  const linkname = header.linkname ?? '';
  if (!hasEscapedBytes(header.name) && !hasEscapedBytes(linkname)) return header;
  const records: Buffer[] = [paxRecord('path', nameToBytes(header.name))];
  if (linkname !== '') records.push(paxRecord('linkpath', nameToBytes(linkname)));
  for (const [key, value] of Object.entries(header.pax ?? {})) records.push(paxRecord(key, Buffer.from(value, 'utf8')));
  const data = Buffer.concat(records);
  const standIn = asciiStandIn(header.name);
  pack.push(Buffer.concat([paxHeaderBlock(`PaxHeaders/${standIn}`, data.length), data, Buffer.alloc(padding(data.length))]));
  const { pax: _merged, ...rest } = header;
  return { ...rest, name: standIn, linkname: linkname === '' ? linkname : asciiStandIn(linkname) };
}

/** `LEN key=value\n`, LEN counting the whole record including its own digits. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length), 'latin1'), body]);
}

/** The name with every non-ASCII character as `_`, cut from the left to fit the ustar field. */
function asciiStandIn(name: string): string {
  const trailingSlash = name.endsWith('/') ? '/' : '';
  const ascii = name.slice(0, name.length - trailingSlash.length).replace(/[^\x20-\x7e]/g, '_');
  return ascii.slice(Math.max(0, ascii.length - (NAME_FIELD - 1 - trailingSlash.length))) + trailingSlash;
}

function paxHeaderBlock(name: string, size: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(name.slice(0, NAME_FIELD), 0, 'latin1');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write('00000000000\0', 136, 'latin1');
  block.write('x', 156, 'latin1');
  block.write('ustar\u000000', 257, 'latin1');
  block.write('        ', 148, 'latin1');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function padding(length: number): number {
  return (BLOCK - (length % BLOCK)) % BLOCK;
}
