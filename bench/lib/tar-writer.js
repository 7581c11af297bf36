// A streaming ustar/PAX writer for the benchmark image generator. It writes layer tars the way
// `docker save` and Go's archive/tar do: relative names, directories with a trailing `/`, a ustar
// prefix/name split when a name is over 100 bytes, a PAX header when even that does not fit. It hashes
// the bytes as it writes them, so the layer's diff_id costs no second read.

import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

const BLOCK = 512;
const FLUSH_AT = 4 << 20;
const TYPEFLAG = { file: '0', link: '1', symlink: '2', dir: '5' };

/**
 * @typedef {object} EntryMeta
 * @property {number} [mode]
 * @property {number} [uid]
 * @property {number} [gid]
 * @property {string} [uname]
 * @property {string} [gname]
 * @property {number} mtime   seconds since the epoch
 */

export class TarWriter {
  /** @param {string} file */
  constructor(file) {
    this.fd = openSync(file, 'w');
    this.hash = createHash('sha256');
    /** @type {Buffer[]} */
    this.pending = [];
    this.pendingBytes = 0;
    this.size = 0;
    this.entries = 0;
  }

  /** @param {string} name @param {Buffer} data @param {EntryMeta} meta */
  file(name, data, meta) {
    this.#entry('file', name, data.length, meta, '');
    this.#push(data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad > 0) this.#push(Buffer.alloc(pad));
  }

  /** @param {string} name @param {EntryMeta} meta */
  dir(name, meta) {
    this.#entry('dir', name.endsWith('/') ? name : `${name}/`, 0, meta, '');
  }

  /** @param {string} name @param {string} target @param {EntryMeta} meta */
  symlink(name, target, meta) {
    this.#entry('symlink', name, 0, meta, target);
  }

  /** @param {string} name @param {string} target name of an earlier entry @param {EntryMeta} meta */
  hardlink(name, target, meta) {
    this.#entry('link', name, 0, meta, target);
  }

  /** Two zero blocks, flush, close. @returns {{ size: number, entries: number, sha256: string }} */
  finish() {
    this.#push(Buffer.alloc(2 * BLOCK));
    this.#flush();
    closeSync(this.fd);
    return { size: this.size, entries: this.entries, sha256: this.hash.digest('hex') };
  }

  /**
   * @param {keyof typeof TYPEFLAG} type @param {string} name @param {number} size
   * @param {EntryMeta} meta @param {string} linkname
   */
  #entry(type, name, size, meta, linkname) {
    this.entries++;
    const nameBytes = Buffer.from(name);
    const linkBytes = Buffer.from(linkname);
    let split = splitName(nameBytes);
    /** @type {string[]} */
    const records = [];
    if (split === undefined) {
      records.push(paxRecord('path', name));
      split = { prefix: Buffer.alloc(0), name: nameBytes.subarray(0, 99) };
    }
    if (linkBytes.length > 100) records.push(paxRecord('linkpath', linkname));
    if (records.length > 0) {
      const body = Buffer.from(records.join(''));
      const paxName = Buffer.from(`PaxHeaders.0/${name.replace(/\/$/, '').split('/').pop()}`.slice(0, 99));
      this.#push(header({ name: paxName, prefix: Buffer.alloc(0), typeflag: 'x', size: body.length, meta, linkname: Buffer.alloc(0) }));
      this.#push(body);
      const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
      if (pad > 0) this.#push(Buffer.alloc(pad));
    }
    this.#push(header({ ...split, typeflag: TYPEFLAG[type], size, meta, linkname: linkBytes.subarray(0, 100) }));
  }

  /** @param {Buffer} buf */
  #push(buf) {
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    this.size += buf.length;
    if (this.pendingBytes >= FLUSH_AT) this.#flush();
  }

  #flush() {
    if (this.pendingBytes === 0) return;
    const buf = Buffer.concat(this.pending, this.pendingBytes);
    this.hash.update(buf);
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/** ustar name/prefix split, or undefined when the name needs a PAX record. @param {Buffer} name */
function splitName(name) {
  if (name.length <= 100) return { prefix: Buffer.alloc(0), name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    if (i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
    }
  }
  return undefined;
}

/** @param {string} key @param {string} value */
function paxRecord(key, value) {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body);
  let length = bodyLength + String(bodyLength).length;
  if (String(length).length + bodyLength !== length) length = bodyLength + String(length).length;
  return `${length}${body}`;
}

/** @param {number} value @param {number} width */
function octal(value, width) {
  return Math.floor(value).toString(8).padStart(width - 1, '0');
}

/**
 * @param {{ name: Buffer, prefix: Buffer, typeflag: string, size: number, meta: EntryMeta, linkname: Buffer }} h
 */
function header(h) {
  const buf = Buffer.alloc(BLOCK);
  const m = h.meta;
  const dflt = h.typeflag === '5' ? 0o755 : h.typeflag === '2' ? 0o777 : 0o644;
  h.name.copy(buf, 0);
  buf.write(octal(m.mode ?? dflt, 8), 100, 'ascii');
  buf.write(octal(m.uid ?? 0, 8), 108, 'ascii');
  buf.write(octal(m.gid ?? 0, 8), 116, 'ascii');
  buf.write(octal(h.size, 12), 124, 'ascii');
  buf.write(octal(m.mtime, 12), 136, 'ascii');
  buf.fill(0x20, 148, 156);
  buf.write(h.typeflag, 156, 'ascii');
  h.linkname.copy(buf, 157);
  buf.write('ustar\x0000', 257, 'binary');
  buf.write(m.uname ?? 'root', 265, 'ascii');
  buf.write(m.gname ?? 'root', 297, 'ascii');
  buf.write(octal(0, 8), 329, 'ascii');
  buf.write(octal(0, 8), 337, 'ascii');
  h.prefix.copy(buf, 345);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += /** @type {number} */ (buf[i]);
  buf.write(`${octal(sum, 7)}\0 `, 148, 'ascii');
  return buf;
}
