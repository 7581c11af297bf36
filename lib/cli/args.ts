/**
 * A small GNU-style argument parser: options anywhere among the operands, combined short flags
 * (`-lR`), `--opt=value` and `--opt value`, `-ovalue` and `-o value`, and `--` to end the options.
 * Hand-written rather than `node:util` `parseArgs` so that its messages are one short line in the
 * style of coreutils (`unknown option '-x'`), which `parseArgs` does not offer.
 */

export interface OptionSpec {
  /** Long name without the dashes, e.g. `json`, `no-cache`. */
  long: string;
  /** One-letter alias, without the dash. */
  short?: string;
  /** Takes a value (`--ref NAME`); otherwise a boolean flag. */
  value?: boolean;
  /** Placeholder shown in help, e.g. `FILE`. */
  valueName?: string;
  /** One line of help. */
  help: string;
}

export interface ParsedArgs {
  /** Boolean flags that were given, by long name. */
  flags: Set<string>;
  /** Every value given for a value option, by long name, in order. */
  values: Map<string, string[]>;
  positionals: string[];
}

/** A mistake in the command line: exit status 2, message printed as given. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const byLong = new Map(specs.map((spec) => [spec.long, spec]));
  const byShort = new Map<string, OptionSpec>();
  for (const spec of specs) if (spec.short !== undefined) byShort.set(spec.short, spec);

  const result: ParsedArgs = { flags: new Set(), values: new Map(), positionals: [] };
  const setValue = (spec: OptionSpec, value: string): void => {
    const list = result.values.get(spec.long) ?? [];
    list.push(value);
    result.values.set(spec.long, list);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      result.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byLong.get(name) ?? uniquePrefix(name, specs);
      if (spec === undefined) throw new UsageError(`unknown option '--${name}'`);
      if (spec.value === true) {
        let value: string | undefined;
        if (eq >= 0) value = arg.slice(eq + 1);
        else {
          value = argv[i + 1];
          i++;
        }
        if (value === undefined) throw new UsageError(`option '--${spec.long}' requires an argument`);
        setValue(spec, value);
      } else {
        if (eq >= 0) throw new UsageError(`option '--${spec.long}' doesn't allow an argument`);
        result.flags.add(spec.long);
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg.charAt(j);
        const spec = byShort.get(letter);
        if (spec === undefined) throw new UsageError(`unknown option '-${letter}'`);
        if (spec.value === true) {
          let value: string | undefined = arg.slice(j + 1);
          if (value === '') {
            value = argv[i + 1];
            i++;
          }
          if (value === undefined) throw new UsageError(`option '-${letter}' requires an argument`);
          setValue(spec, value);
          break;
        }
        result.flags.add(spec.long);
      }
      continue;
    }
    result.positionals.push(arg);
  }
  return result;
}

/** GNU getopt_long accepts any unambiguous prefix of a long option (`--jso` for `--json`). */
function uniquePrefix(name: string, specs: readonly OptionSpec[]): OptionSpec | undefined {
  if (name === '') return undefined;
  const matches = specs.filter((spec) => spec.long.startsWith(name));
  if (matches.length > 1) {
    const names = matches.map((spec) => `'--${spec.long}'`).join(', ');
    throw new UsageError(`option '--${name}' is ambiguous; possibilities: ${names}`);
  }
  return matches[0];
}

/** The last value given for an option (later ones override earlier ones, as in most tools). */
export function lastValue(args: ParsedArgs, long: string): string | undefined {
  const list = args.values.get(long);
  return list === undefined ? undefined : list[list.length - 1];
}

/** Help text for a list of options, aligned in two columns. */
export function describeOptions(specs: readonly OptionSpec[]): string {
  const heads = specs.map((spec) => {
    const short = spec.short === undefined ? '    ' : `-${spec.short}, `;
    const value = spec.value === true ? ` ${spec.valueName ?? 'VALUE'}` : '';
    return `  ${short}--${spec.long}${value}`;
  });
  const width = Math.max(0, ...heads.map((head) => head.length));
  return specs.map((spec, i) => `${(heads[i] as string).padEnd(width)}  ${spec.help}`).join('\n');
}
