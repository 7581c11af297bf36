import { describe, expect, it } from 'vitest';
import { describeOptions, lastValue, parseArgs, UsageError, type OptionSpec } from '../../lib/cli/args.js';

const specs: OptionSpec[] = [
  { long: 'long', short: 'l', help: '' },
  { long: 'recursive', short: 'R', help: '' },
  { long: 'all', short: 'a', help: '' },
  { long: 'output', short: 'o', value: true, help: '' },
  { long: 'json', help: '' },
  { long: 'json-lines', help: '' },
  { long: 'type', value: true, help: '' },
  { long: 'no-cache', help: '' },
];

describe('parseArgs', () => {
  it('accepts combined short flags', () => {
    const args = parseArgs(['-lRa', 'img', '/'], specs);
    expect([...args.flags].sort()).toEqual(['all', 'long', 'recursive']);
    expect(args.positionals).toEqual(['img', '/']);
  });

  it('accepts options anywhere among the operands', () => {
    const args = parseArgs(['img', '-l', '/etc', '--no-cache'], specs);
    expect(args.flags).toEqual(new Set(['long', 'no-cache']));
    expect(args.positionals).toEqual(['img', '/etc']);
  });

  it('takes values as --opt=value, --opt value, -ovalue, -o value and -lo value', () => {
    expect(parseArgs(['--output=a'], specs).values.get('output')).toEqual(['a']);
    expect(parseArgs(['--output', 'b'], specs).values.get('output')).toEqual(['b']);
    expect(parseArgs(['-oc'], specs).values.get('output')).toEqual(['c']);
    expect(parseArgs(['-o', 'd'], specs).values.get('output')).toEqual(['d']);
    const combined = parseArgs(['-lo', 'e'], specs);
    expect(combined.flags.has('long')).toBe(true);
    expect(combined.values.get('output')).toEqual(['e']);
  });

  it('keeps every value of a repeated option; lastValue gives the last', () => {
    const args = parseArgs(['--type', 'f', '--type=d,l'], specs);
    expect(args.values.get('type')).toEqual(['f', 'd,l']);
    expect(lastValue(args, 'type')).toBe('d,l');
    expect(lastValue(args, 'output')).toBeUndefined();
  });

  it('takes a value that looks like an option', () => {
    expect(parseArgs(['-o', '-x'], specs).values.get('output')).toEqual(['-x']);
  });

  it('treats everything after -- as operands, and - alone as an operand', () => {
    const args = parseArgs(['-l', '--', '-R', '--json'], specs);
    expect(args.flags).toEqual(new Set(['long']));
    expect(args.positionals).toEqual(['-R', '--json']);
    expect(parseArgs(['-'], specs).positionals).toEqual(['-']);
  });

  it('accepts an unambiguous prefix of a long option, like getopt_long', () => {
    expect(parseArgs(['--rec'], specs).flags).toEqual(new Set(['recursive']));
    // An exact name wins over longer names that start with it.
    expect(parseArgs(['--json'], specs).flags).toEqual(new Set(['json']));
    expect(() => parseArgs(['--js'], specs)).toThrow("option '--js' is ambiguous; possibilities: '--json', '--json-lines'");
  });

  it('rejects unknown options, missing values and values given to flags', () => {
    expect(() => parseArgs(['-x'], specs)).toThrow(new UsageError("unknown option '-x'"));
    expect(() => parseArgs(['-lx'], specs)).toThrow("unknown option '-x'");
    expect(() => parseArgs(['--nope'], specs)).toThrow("unknown option '--nope'");
    expect(() => parseArgs(['--output'], specs)).toThrow("option '--output' requires an argument");
    expect(() => parseArgs(['-o'], specs)).toThrow("option '-o' requires an argument");
    expect(() => parseArgs(['--json=1'], specs)).toThrow("option '--json' doesn't allow an argument");
    expect(() => parseArgs(['--'], specs)).not.toThrow();
  });

  it('describes options in two aligned columns', () => {
    const text = describeOptions([
      { long: 'long', short: 'l', help: 'long listing' },
      { long: 'output', short: 'o', value: true, valueName: 'FILE', help: 'write to FILE' },
      { long: 'json', help: 'JSON' },
    ]);
    expect(text.split('\n')).toEqual([
      '  -l, --long         long listing',
      '  -o, --output FILE  write to FILE',
      '      --json         JSON',
    ]);
  });
});
