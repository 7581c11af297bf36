/** `imgfs mount -o …`: what each option becomes, and one line of usage error for anything else. */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../lib/cli/args.js';
import { parseMountOptions } from '../../lib/cli/commands/mount.js';
import { timespec } from '../../lib/mount/attributes.js';

describe('parseMountOptions', () => {
  it('reads allow_other, uid=N and gid=N, comma-separated and repeated; ro is implied', () => {
    expect(parseMountOptions(['allow_other,uid=1000', 'gid=50,ro'])).toEqual({ allowOther: true, uid: 1000, gid: 50 });
    expect(parseMountOptions([])).toEqual({});
  });

  it.each(['rw', 'uid=', 'uid=-1', 'gid=x', 'allow_other=1', 'debug'])('refuses %s with a usage error naming it', (option) => {
    expect(() => parseMountOptions([option])).toThrow(UsageError);
    expect(() => parseMountOptions([option])).toThrow(`'${option}'`);
  });
});

describe('timespec', () => {
  it('splits milliseconds into whole seconds and nanoseconds, before 1970 too', () => {
    expect(timespec(1_700_000_000_123)).toEqual({ seconds: 1_700_000_000, nanoseconds: 123_000_000 });
    expect(timespec(1_700_000_000_000.5)).toEqual({ seconds: 1_700_000_000, nanoseconds: 500_000 });
    expect(timespec(-1500)).toEqual({ seconds: -2, nanoseconds: 500_000_000 });
    expect(timespec(0)).toEqual({ seconds: 0, nanoseconds: 0 });
  });
});
