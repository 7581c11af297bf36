import type { RingLayout } from './header-ring.js';

/** What the body is started with (as worker data). */
export interface HeaderReaderData {
  control: SharedArrayBuffer;
  ring: SharedArrayBuffer;
  layout: RingLayout;
}

type ReadSync = (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number;

/**
 * The whole program of a header reader thread, run from its source text (`String(headerReaderBody)`,
 * see header-reader-thread.ts): it must use nothing from outside itself but its two arguments and
 * JavaScript's globals, so that the thread loads no module of imgfs and starts in a few milliseconds.
 *
 * For each job (a layer lying at [start, start + size) of the file `fd`) it walks the tar as a walk
 * would, reading with positional reads only what a walk reads (header blocks, the data of PAX headers
 * and GNU long names), and puts each piece in the ring tagged with its offset. It checks nothing: the
 * walk on the main thread decodes every header itself and takes a piece only when it is at the offset
 * its own walk reached; the first piece that is not, and anything this walk does not follow (sparse
 * members, a number it cannot read, a cut header, a large extension header), ends the job here, and
 * the walk reads on by itself.
 */
export function headerReaderBody(readSync: ReadSync, data: HeaderReaderData): void {
  const L = data.layout;
  const ctl = new Int32Array(data.control, 0, L.SLOTS);
  const numbers = new Float64Array(data.control, L.JOB_NUMBERS_AT, 3);
  const bytes = new Uint8Array(data.ring);
  const offsets = new Float64Array(data.ring);
  const lengths = new Int32Array(data.ring);
  const units = L.RING_BYTES / L.UNIT;
  const window = new Uint8Array(L.MAX_RECORD);
  /** Thrown to end a job early (cancelled, or a layer this walk does not follow). */
  const STOP = { stop: true };

  let job = 0;
  let head = 0;
  let published = 0;

  const cancelled = (): boolean => Atomics.load(ctl, L.CANCEL) === job;
  const publish = (): void => {
    if (published === head) return;
    published = head;
    Atomics.store(ctl, L.HEAD, head);
    Atomics.notify(ctl, L.HEAD);
  };
  /** Waits until `need` more units fit in the ring. */
  const room = (need: number): void => {
    for (;;) {
      const tail = Atomics.load(ctl, L.TAIL);
      if (head + need - tail <= units) return;
      publish();
      if (cancelled()) throw STOP;
      // Said before looking again: the walk wakes us only when it sees this (see RingFeed.take).
      Atomics.store(ctl, L.WAITING, 1);
      if (Atomics.load(ctl, L.TAIL) === tail) Atomics.wait(ctl, L.TAIL, tail, 50);
      Atomics.store(ctl, L.WAITING, 0);
    }
  };
  /** One record: `length` bytes of `from` at `at`, or a marker (WRAP, END) when `length` is negative. */
  const put = (offset: number, from: Uint8Array, at: number, length: number): void => {
    const need = 1 + (length > 0 ? Math.ceil(length / L.UNIT) : 0);
    let slot = head % units;
    if (slot + need > units) {
      room(units - slot);
      lengths[slot * 4 + 2] = L.WRAP;
      head += units - slot;
      slot = 0;
    }
    room(need);
    offsets[slot * 2] = offset;
    lengths[slot * 4 + 2] = length;
    if (length > 0) bytes.set(from.subarray(at, at + length), (slot + 1) * L.UNIT);
    head += need;
  };

  /** One job: the records of the layer's walk, then END. */
  const walk = (fd: number, start: number, size: number): void => {
    let windowStart = 0;
    let windowLength = 0;
    let gap = 0;
    let lastOffset = 0;
    /** Where [offset, offset + length) lies in `window`, read first if need be (as HeaderWindow reads). */
    const at = (offset: number, length: number): number => {
      if (offset >= windowStart && offset + length <= windowStart + windowLength) return offset - windowStart;
      publish();
      if (cancelled()) throw STOP;
      if (offset > lastOffset) {
        gap += (offset - lastOffset - gap) / 4;
        lastOffset = offset;
      }
      // Dense headers are read through in large reads; far-apart ones one small read each.
      const want = Math.min(Math.max(length, gap < 6 * 1024 ? L.MAX_RECORD : 4 * 1024), size - offset);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, window, got, want - got, start + offset + got);
        if (n <= 0) break;
        got += n;
      }
      windowStart = offset;
      windowLength = got;
      if (got < length) throw STOP;
      return 0;
    };
    const octal = (p: number, width: number): number => {
      if ((window[p] ?? 0) & 0x80) throw STOP;
      let i = p;
      const end = p + width;
      while (i < end && window[i] === 0x20) i++;
      let value = 0;
      for (; i < end; i++) {
        const c = window[i] ?? 0;
        if (c < 0x30 || c > 0x37) break;
        value = value * 8 + (c - 0x30);
      }
      if (i < end && window[i] !== 0 && window[i] !== 0x20) throw STOP;
      return value;
    };
    const zero = (p: number): boolean => {
      for (let i = p; i < p + 512; i++) if (window[i] !== 0) return false;
      return true;
    };
    /** Whether the NUL-ended name in window[p, p + width) ends with '/'. */
    const slashEnded = (p: number, width: number): boolean => {
      let end = p;
      while (end < p + width && window[end] !== 0) end++;
      return end > p && window[end - 1] === 0x2f;
    };
    /** A local PAX header's records: its size, and whether its path names a directory. */
    const pax = (p: number, length: number): { size: number; slash: boolean | undefined } => {
      const found: { size: number; slash: boolean | undefined } = { size: -1, slash: undefined };
      const text = Buffer.from(window.buffer, window.byteOffset + p, length).toString('latin1');
      for (let i = 0; i < text.length; ) {
        const space = text.indexOf(' ', i);
        const recordLength = Number(text.slice(i, space));
        const equals = text.indexOf('=', space);
        if (space < 0 || !Number.isSafeInteger(recordLength) || recordLength <= 0 || equals < 0 || equals >= i + recordLength) throw STOP;
        const key = text.slice(space + 1, equals);
        const value = text.slice(equals + 1, i + recordLength - 1);
        if (key.startsWith('GNU.sparse')) throw STOP;
        if (key === 'size' && value !== '') {
          if (!/^[0-9]+$/.test(value)) throw STOP;
          found.size = Number(value);
        }
        if (key === 'path' && value !== '') found.slash = value.endsWith('/');
        i += recordLength;
      }
      return found;
    };

    let offset = 0;
    let sent = -1;
    let paxSize = -1;
    let nameSlash: boolean | undefined;
    while (offset + 512 <= size) {
      let p = at(offset, 512);
      if (offset !== sent) put(offset, window, p, 512);
      sent = offset;
      if (zero(p)) {
        // Two zero blocks end the tar; a lone one is stepped over (as the walk does).
        const next = offset + 512;
        if (next + 512 > size) return;
        p = at(next, 512);
        put(next, window, p, 512);
        sent = next;
        if (zero(p)) return;
        offset = next;
        paxSize = -1;
        nameSlash = undefined;
        continue;
      }
      const typeflag = String.fromCharCode(window[p + 156] ?? 0);
      let stored = octal(p + 124, 12);
      const dataStart = offset + 512;
      if (typeflag === 'x' || typeflag === 'X' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
        if (stored > L.MAX_RECORD) throw STOP;
        const q = at(dataStart, stored);
        put(dataStart, window, q, stored);
        if (typeflag === 'x' || typeflag === 'X') {
          const found = pax(q, stored);
          paxSize = found.size;
          if (found.slash !== undefined) nameSlash = found.slash;
        } else if (typeflag === 'L') {
          nameSlash = slashEnded(q, stored);
        }
        offset = dataStart + Math.ceil(stored / 512) * 512;
        continue;
      }
      if (typeflag === 'S') throw STOP;
      if (paxSize >= 0) stored = paxSize;
      // A ustar name is prefix + '/' + name: an empty name field after a prefix ends with '/' too.
      const slash = nameSlash ?? (slashEnded(p, 100) || (window[p] === 0 && window[p + 345] !== 0));
      const dataLess = '123456'.includes(typeflag) || ((typeflag === '0' || typeflag === '\0') && slash);
      offset = dataStart + (dataLess ? 0 : Math.ceil(stored / 512) * 512);
      paxSize = -1;
      nameSlash = undefined;
    }
  };

  Atomics.store(ctl, L.READY, 1);
  Atomics.notify(ctl, L.READY);
  for (;;) {
    Atomics.wait(ctl, L.JOB, job);
    const next = Atomics.load(ctl, L.JOB);
    if (next < 0) return;
    job = next;
    head = 0;
    published = 0;
    try {
      walk(Atomics.load(ctl, L.FD), numbers[0] ?? 0, numbers[1] ?? 0);
    } catch {
      // STOP, or a read that failed: the walk reads on by itself.
    }
    try {
      if (!cancelled()) put(0, window, 0, L.END);
      publish();
    } catch {
      // cancelled while waiting for room: nobody reads the ring any more
    }
    const cpu = process.threadCpuUsage();
    numbers[2] = cpu.user + cpu.system;
    Atomics.store(ctl, L.DONE, job);
    Atomics.notify(ctl, L.DONE);
  }
}
