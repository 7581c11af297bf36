/** What every command receives: the open image, its parsed arguments, and the ways to report. */

import type { Writable } from 'node:stream';
import type { ImageFS, OpenOptions } from '../index.js';
import type { OptionSpec, ParsedArgs } from './args.js';
import type { OutputStream } from './file-stdout.js';
import { describeError, isPathError } from './errors.js';
import { textBytes, type Output } from './output.js';
import { loadNames, numericNames, type Names } from './passwd.js';

/** The process around the CLI, injectable so that tests can run `main` in-process. */
export interface CliIO {
  stdout: OutputStream;
  stderr: Writable;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** Terminal width, when stdout or stderr is a terminal. */
  columns: number | undefined;
  env: Record<string, string | undefined>;
  now(): number;
}

export interface Context {
  command: string;
  /** The IMAGE operand as typed, for messages. */
  image: string;
  /** What was given to `openImage` (several layer tars for `a.tar:b.tar`). */
  source: string | string[];
  openOptions: OpenOptions;
  img: ImageFS;
  args: ParsedArgs;
  /** Operands after IMAGE. */
  paths: string[];
  out: Output;
  io: CliIO;
  quiet: boolean;
  /** Names from the image's /etc/passwd and /etc/group, read once on first use. */
  names(): Promise<Names>;
  /** A warning on stderr (unless --quiet); never on stdout. */
  warn(message: string): void;
  /**
   * Reports that one operand failed (`imgfs: cat: /x: No such file or directory`) and records exit
   * status 1. Errors that are not about a path (a broken image, a closed pipe) are rethrown.
   */
  pathFailed(operand: string, error: unknown): void;
  /** Whether any operand failed. */
  readonly failed: boolean;
}

export function createContext(init: Omit<Context, 'names' | 'warn' | 'pathFailed' | 'failed'>): Context {
  let names: Promise<Names> | undefined;
  let failed = false;
  const line = (text: string): void => {
    init.out.release();
    init.io.stderr.write(textBytes(`${text}\n`));
  };
  return {
    ...init,
    names() {
      names ??= loadNames(init.img);
      return names;
    },
    warn(message) {
      if (!init.quiet) line(`imgfs: warning: ${message}`);
    },
    pathFailed(operand, error) {
      if (!isPathError(error)) throw error;
      failed = true;
      line(`imgfs: ${init.command}: ${operand}: ${describeError(error)}`);
      if (init.io.env.IMGFS_DEBUG === '1' && error instanceof Error && error.stack) line(error.stack);
    },
    get failed() {
      return failed;
    },
  };
}

/** The names to show for -l / stat: the image's, or none with -n. */
export async function namesFor(ctx: Context, numeric: boolean): Promise<Names> {
  return numeric ? numericNames : ctx.names();
}

export interface CommandSpec {
  name: string;
  /** One line for `imgfs --help`. */
  summary: string;
  /** What follows `imgfs NAME`, e.g. `[-l] [-a] IMAGE [PATH...]`. */
  usage: string;
  /** Extra paragraphs of help, after the options. */
  details?: string;
  options: OptionSpec[];
  /** How many PATH operands the command takes after IMAGE. */
  paths: { min: number; max: number };
  /**
   * Whether the command asks about a few paths only, through the async API: the image is then opened
   * lazily, so layers that no answer reaches are never indexed.
   */
  lazy?: boolean;
  /**
   * Whether the command answers a few named paths (`cat`, `stat`): V8's memory tuning for walks
   * (young-generation.ts) is then left until a layer is actually indexed, so a warm answer skips it.
   */
  fewPaths?: boolean;
  /**
   * Runs before IMAGE is looked at or opened; a number ends the command with that exit status. For
   * commands that need no image (`umount`) or must check the machine first (`mount`).
   */
  before?(args: ParsedArgs, io: CliIO): Promise<number | undefined>;
  run(ctx: Context): Promise<void>;
}
