import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { humanBytes, lsDate, modeString, shortDigest, statDate, table } from '../../lib/cli/format.js';
import { columns } from '../../lib/cli/commands/ls.js';

let savedTz: string | undefined;
beforeAll(() => {
  savedTz = process.env.TZ;
  process.env.TZ = 'UTC';
});
afterAll(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

describe('modeString', () => {
  it.each([
    ['file', 0o644, '-rw-r--r--'],
    ['file', 0o4755, '-rwsr-xr-x'],
    ['file', 0o4644, '-rwSr--r--'],
    ['dir', 0o2755, 'drwxr-sr-x'],
    ['dir', 0o2745, 'drwxr-Sr-x'],
    ['dir', 0o1777, 'drwxrwxrwt'],
    ['dir', 0o1770, 'drwxrwx--T'],
    ['file', 0o7777, '-rwsrwsrwt'],
    ['file', 0o7000, '---S--S--T'],
    ['file', 0, '----------'],
    ['symlink', 0o777, 'lrwxrwxrwx'],
    ['char', 0o666, 'crw-rw-rw-'],
    ['block', 0o660, 'brw-rw----'],
    ['fifo', 0o644, 'prw-r--r--'],
    ['socket', 0o755, 'srwxr-xr-x'],
  ] as const)('%s %o is %s', (type, mode, expected) => {
    expect(modeString(type, mode)).toBe(expected);
  });

  it('ignores type bits in the mode', () => {
    expect(modeString('dir', 0o40755)).toBe('drwxr-xr-x');
  });
});

describe('lsDate', () => {
  const now = Date.UTC(2024, 5, 15, 12, 0, 0);
  it('shows the time for the last six months', () => {
    expect(lsDate(Date.UTC(2024, 5, 1, 9, 5), now)).toBe('Jun  1 09:05');
    expect(lsDate(Date.UTC(2024, 0, 15, 23, 59), now)).toBe('Jan 15 23:59');
  });
  it('shows the year for older and future times', () => {
    expect(lsDate(Date.UTC(2023, 11, 1), now)).toBe('Dec  1  2023');
    expect(lsDate(Date.UTC(2024, 6, 1), now)).toBe('Jul  1  2024');
    expect(lsDate(0, now)).toBe('Jan  1  1970');
  });
});

describe('statDate', () => {
  it('prints nanoseconds and the zone offset, as coreutils stat', () => {
    expect(statDate(Date.UTC(2024, 0, 2, 3, 4, 5))).toBe('2024-01-02 03:04:05.000000000 +0000');
    expect(statDate(Date.UTC(2024, 0, 2) + 500)).toBe('2024-01-02 00:00:00.500000000 +0000');
    expect(statDate(Date.UTC(2024, 0, 2) + 1.5)).toBe('2024-01-02 00:00:00.001500000 +0000');
  });
});

describe('small formats', () => {
  it('humanBytes', () => {
    expect(humanBytes(0)).toBe('0 B');
    expect(humanBytes(1023)).toBe('1023 B');
    expect(humanBytes(1536)).toBe('1.5 KiB');
    expect(humanBytes(5 * 1024 * 1024)).toBe('5.0 MiB');
  });
  it('shortDigest', () => {
    expect(shortDigest(`sha256:${'ab'.repeat(32)}`)).toBe('sha256:abababababab');
    expect(shortDigest(undefined)).toBe('-');
  });
  it('table aligns columns, right-aligning the ones asked for', () => {
    expect(table([['A', 'BB', 'C'], ['100', 'x', 'long cell']], new Set([0]))).toEqual(['  A  BB  C', '100  x   long cell']);
  });
});

describe('ls columns (terminal output)', () => {
  it('fills columns top to bottom within the width', () => {
    const names = ['a', 'bb', 'ccc', 'dddd', 'e', 'f', 'g'];
    expect(columns(names, 20)).toEqual(['a   ccc   e  g', 'bb  dddd  f']);
    expect(columns(names, 12)).toEqual(['a    dddd  g', 'bb   e', 'ccc  f']);
  });
  it('falls back to one name a line when nothing fits', () => {
    expect(columns(['a'.repeat(30), 'b'], 20)).toEqual(['a'.repeat(30), 'b']);
  });
  it('prints one line when everything fits', () => {
    expect(columns(['bin', 'etc', 'usr'], 80)).toEqual(['bin  etc  usr']);
  });
});
