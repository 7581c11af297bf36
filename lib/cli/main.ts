/**
 * `imgfs COMMAND [options] IMAGE [PATH...]`: dispatch, exit statuses and error printing.
 *
 * Exit 0 on success; 1 when a named path failed (the others are still served); 2 for a usage error or
 * an image that cannot be read. Errors are one line on stderr (`imgfs: IMAGE: why`), with the stack
 * only when IMGFS_DEBUG=1. stdout carries command output only: progress and warnings go to stderr.
 */

import { existsSync, readFileSync } from 'node:fs';
import { openImage, LIMITS, type ImageFS, type ImgfsWarning, type IndexProgress, type LimitName, type OpenLimits, type OpenOptions } from '../index.js';
import { describeOptions, lastValue, parseArgs, UsageError, type OptionSpec, type ParsedArgs } from './args.js';
import { cat } from './commands/cat.js';
import { diff } from './commands/diff.js';
import { exportCommand } from './commands/export.js';
import { find } from './commands/find.js';
import { history } from './commands/history.js';
import { layers } from './commands/layers.js';
import { ls } from './commands/ls.js';
import { mountCommand, umountCommand } from './commands/mount.js';
import { readlink, realpath } from './commands/readlink.js';
import { scan } from './commands/scan.js';
import { stat } from './commands/stat.js';
import { createContext, type CliIO, type CommandSpec } from './context.js';
import { describeError, ImageFatal, isImgfsErrorLike, isPathError } from './errors.js';
import { Output, PipeClosed, textBytes } from './output.js';
import { byteArguments } from './byte-argv.js';
import { ProgressBar } from './progress.js';
import { FileStdout, isFileDescriptorOfFile, type OutputStream } from './file-stdout.js';
import { hasTransportPrefix } from '../image/transport-name.js';
import { keepYoungGenerationSmall } from './young-generation.js';
import { tierUpToTurbofanLater } from './late-turbofan.js';

export const commands: readonly CommandSpec[] = [ls, cat, stat, readlink, realpath, find, scan, layers, history, diff, exportCommand, mountCommand, umountCommand];

export const globalOptions: readonly OptionSpec[] = [
  { long: 'ref', value: true, valueName: 'REF', help: 'image to use when the archive holds several (RepoTags or OCI ref name)' },
  { long: 'platform', value: true, valueName: 'OS/ARCH[/VARIANT]', help: 'platform to use from a multi-platform index' },
  { long: 'no-cache', help: 'do not read or write the index cache' },
  { long: 'cache-dir', value: true, valueName: 'DIR', help: 'keep the index cache in DIR' },
  { long: 'verify', help: 'check layer digests while indexing' },
  { long: 'strict', help: 'fail (exit 2) where imgfs would warn about the image and leave something out' },
  { long: 'creds', value: true, valueName: 'USER[:PASS]', help: 'registry credentials (default: auth.json / ~/.docker/config.json)' },
  { long: 'tls-verify', value: true, valueName: 'BOOL', help: 'docker://: check TLS certificates (default true); false also allows plain HTTP' },
  {
    long: 'limit',
    value: true,
    valueName: 'NAME=N',
    help: `raise or lower a safety limit (${Object.keys(LIMITS).join(', ')}; N or inf)`,
  },
  { long: 'quiet', short: 'q', help: 'no progress bar and no warnings' },
  { long: 'help', short: 'h', help: 'show help (for a command: imgfs COMMAND --help)' },
  { long: 'version', help: 'print the version' },
];

/** A layer at least this large (stored bytes) gets V8 tuned for its walk before its first member. */
const TUNE_AT_START_BYTES = 8 * 1024 * 1024;

const EXIT_OK = 0;
const EXIT_PATH = 1;
const EXIT_USAGE = 2;

/** Runs one command line; resolves to the exit status. Throws only on a bug of its own. */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const debug = io.env.IMGFS_DEBUG === '1';
  const errorLine = (text: string): void => {
    io.stderr.write(textBytes(`${text}\n`));
  };
  const printStack = (error: unknown): void => {
    if (debug && error instanceof Error && error.stack !== undefined) errorLine(error.stack);
  };

  let command: CommandSpec | undefined;
  let args: ParsedArgs;
  try {
    const split = splitCommand(argv);
    if (split.name === undefined) {
      const globals = parseArgs(split.before, globalOptions);
      if (globals.flags.has('version')) return printVersion(io);
      if (globals.flags.has('help')) {
        io.stdout.write(mainHelp());
        return EXIT_OK;
      }
      throw new UsageError('missing COMMAND');
    }
    if (split.name === 'help') {
      const topic = split.after.find((arg) => !arg.startsWith('-'));
      const spec = commands.find((c) => c.name === topic);
      io.stdout.write(spec === undefined ? mainHelp() : commandHelp(spec));
      return EXIT_OK;
    }
    command = commands.find((c) => c.name === split.name);
    if (command === undefined) throw new UsageError(`unknown command '${split.name}'`);
    args = parseArgs([...split.before, ...split.after], [...globalOptions, ...command.options]);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const where = command === undefined ? '' : `${command.name}: `;
    const hint = command === undefined ? 'imgfs --help' : `imgfs ${command.name} --help`;
    errorLine(`imgfs: ${where}${error.message} (see '${hint}')`);
    return EXIT_USAGE;
  }

  if (args.flags.has('version')) return printVersion(io);
  if (args.flags.has('help')) {
    io.stdout.write(commandHelp(command));
    return EXIT_OK;
  }

  const usage = (message: string): number => {
    errorLine(`imgfs: ${command.name}: ${message} (see 'imgfs ${command.name} --help')`);
    return EXIT_USAGE;
  };
  if (command.before !== undefined) {
    try {
      const status = await command.before(args, io);
      if (status !== undefined) return status;
    } catch (error) {
      if (error instanceof UsageError) return usage(error.message);
      throw error;
    }
  }
  const [image, ...paths] = args.positionals;
  if (image === undefined) return usage('missing IMAGE');
  if (paths.length < command.paths.min) return usage(command.paths.min === 1 ? 'missing PATH' : 'too few PATHs');
  if (paths.length > command.paths.max) {
    return usage(command.paths.max === 0 ? `unexpected operand '${paths[0] ?? ''}'` : `extra operand '${paths[command.paths.max] ?? ''}'`);
  }

  const quiet = args.flags.has('quiet');
  // stderr is looked at only when a bar or a message is due (CliIO: a fast command never creates it).
  const progress = new ProgressBar({ write: (text: string) => io.stderr.write(text) }, {
    enabled: () => !quiet && io.stderrIsTTY,
    get columns() {
      return io.columns;
    },
    now: io.now,
    perLayer: image.startsWith('docker://'),
  });
  let openOptions: OpenOptions;
  try {
    openOptions = buildOpenOptions(args, command, progress, (warning) => {
      if (!quiet) {
        progress.done();
        errorLine(`imgfs: warning: ${warning.message}`);
      }
    });
  } catch (error) {
    if (error instanceof UsageError) return usage(error.message);
    throw error;
  }
  const source = imageSource(image);
  // A command that walks the image tunes V8 now; one that answers a few paths only once a layer is
  // being indexed (buildOpenOptions), so that a warm answer never loads node:v8.
  if (command.fewPaths !== true) {
    keepYoungGenerationSmall();
    tierUpToTurbofanLater();
  }

  let img: ImageFS;
  try {
    img = await openImage(source, openOptions);
  } catch (error) {
    progress.done();
    errorLine(`imgfs: ${image}: ${imageProblem(error)}`);
    printStack(error);
    return EXIT_USAGE;
  }
  // With a lazily opened image, indexing goes on while the command runs: the bar stays until the
  // first output, or until the command ends.
  const out = new Output(io.stdout, () => progress.done());
  const ctx = createContext({ command: command.name, image, source, openOptions, img, args, paths, out, io, quiet });
  let status: number = EXIT_OK;
  try {
    await command.run(ctx);
    await out.flush();
    if (ctx.failed) status = EXIT_PATH;
  } catch (error) {
    progress.done();
    if (error instanceof PipeClosed) {
      // The reader has what it wanted (`| head`): end quietly, as if the output were complete.
      status = ctx.failed ? EXIT_PATH : EXIT_OK;
    } else {
      await out.flush().catch(() => undefined);
      if (error instanceof UsageError) {
        status = usage(error.message);
      } else if (isImgfsErrorLike(error) || error instanceof ImageFatal) {
        errorLine(`imgfs: ${image}: ${imageProblem(error)}`);
        printStack(error);
        status = EXIT_USAGE;
      } else {
        errorLine(`imgfs: ${command.name}: ${describeError(error)}`);
        printStack(error);
        status = isPathError(error) ? EXIT_PATH : EXIT_USAGE;
      }
    }
  } finally {
    progress.done();
    await img.close().catch(() => undefined);
  }
  return status;
}

/** Used by bin/imgfs.js before it writes V8's code cache of the bundle (see v8-flags.ts). */
export { restoreV8Flags } from './v8-flags.js';

/**
 * Whether a finished run left nothing under way: no output still buffered in stdout or stderr, and no
 * handle or request open but their pipes or terminals (a cache file still being written is one).
 * bin/imgfs.js then ends the process with process.exit, which spares the tear-down of V8's heap that
 * a natural exit does first (~1 ms of a ~45 ms warm `cat`).
 */
export function nothingPending(): boolean {
  // Node's own streams, each on a pipe or terminal handle (a FileStdout has none and queues nothing).
  const streams: NodeJS.WriteStream[] = [];
  if (stdoutIsNodes) streams.push(process.stdout);
  if (stderrReady) streams.push(process.stderr);
  if (streams.some((stream) => stream.writableLength > 0)) return false;
  const open = process.getActiveResourcesInfo();
  return open.length <= streams.length && open.every((kind) => kind === 'PipeWrap' || kind === 'TTYWrap');
}

/** Whether `runCli` gave the commands process.stdout (not a FileStdout): reading it would create it. */
let stdoutIsNodes = false;

/** Wires `main` to the real process. Used by bin/imgfs.js. */
export async function runCli(argv: readonly string[] = byteArguments()): Promise<void> {
  let code: number;
  // A file or /dev/null is written without node:stream (file-stdout.ts); anything else through Node's stream.
  stdoutIsNodes = !isFileDescriptorOfFile(1);
  const stdout: OutputStream = stdoutIsNodes ? process.stdout : new FileStdout(1);
  const stdoutIsTTY = stdoutIsNodes && process.stdout.isTTY === true;
  try {
    code = await main(argv, {
      stdout,
      // Created on first use: process.stderr costs a warm start 1-2 ms (a pipe loads node:net), and a
      // command that succeeds quickly writes nothing there.
      get stderr() {
        return stderr();
      },
      stdoutIsTTY,
      get stderrIsTTY() {
        return stderr().isTTY === true;
      },
      get columns() {
        return stdoutIsTTY ? process.stdout.columns : stderr().isTTY ? stderr().columns : undefined;
      },
      env: process.env,
      now: Date.now,
    });
  } catch (error) {
    // A bug in the CLI itself: still one line, and the stack on request.
    stderr().write(`imgfs: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (process.env.IMGFS_DEBUG === '1' && error instanceof Error) stderr().write(`${error.stack ?? ''}\n`);
    code = EXIT_USAGE;
  }
  process.exitCode = code;
  // Everything is closed by now, so the process ends by itself; should some handle linger, the
  // status is still delivered instead of a hang.
  setTimeout(() => process.exit(code), 2000).unref();
}

let stderrReady = false;

/** process.stderr, with a listener so that a closed pipe loses a message rather than crashing. */
function stderr(): NodeJS.WriteStream {
  const stream = process.stderr;
  if (!stderrReady) {
    stderrReady = true;
    stream.on('error', () => undefined);
  }
  return stream;
}

/** Global options may come before the command: `imgfs --quiet ls IMAGE`. */
function splitCommand(argv: readonly string[]): { name: string | undefined; before: string[]; after: string[] } {
  const valued = new Set(globalOptions.filter((o) => o.value === true).map((o) => `--${o.long}`));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    if (arg.startsWith('-') && arg !== '-') {
      if (valued.has(arg)) i++;
      continue;
    }
    return { name: arg, before: argv.slice(0, i), after: argv.slice(i + 1) };
  }
  return { name: undefined, before: [...argv], after: [] };
}

function buildOpenOptions(
  args: ParsedArgs,
  command: CommandSpec,
  progress: ProgressBar,
  warn: (warning: ImgfsWarning) => void,
): OpenOptions {
  const onProgress = (report: IndexProgress): void => {
    // A layer reported before it is done is being walked (a layer read from the cache reports once,
    // whole). V8 is tuned as a walk of a large layer starts: raised later, the TurboFan threshold spares
    // less (a cold docker-archive `cat` then spent ~20 ms, 13 %, more CPU: bench/README.md, "cold-start"); a
    // small layer's walk is tuned only once it has gone on for a while (its first report), so that a
    // question the top layer answers never loads node:v8.
    const done = report.layerBytesDone ?? 0;
    const total = report.layerBytesTotal ?? 0;
    if (done < total && (done > 0 || total >= TUNE_AT_START_BYTES)) {
      keepYoungGenerationSmall();
      tierUpToTurbofanLater();
    }
    progress.update(report);
  };
  const options: OpenOptions = { onProgress, onWarning: warn };
  // --verify promises every layer was checked, so it needs every layer indexed.
  if (command.lazy === true && !args.flags.has('verify')) options.lazy = true;
  const ref = lastValue(args, 'ref');
  const platform = lastValue(args, 'platform');
  const cacheDir = lastValue(args, 'cache-dir');
  if (ref !== undefined) options.ref = ref;
  if (platform !== undefined) options.platform = platform;
  if (args.flags.has('no-cache')) options.cache = false;
  else if (cacheDir !== undefined) options.cache = cacheDir;
  if (args.flags.has('verify')) options.verify = true;
  if (args.flags.has('strict')) options.strict = true;
  const creds = lastValue(args, 'creds');
  if (creds !== undefined) options.auth = creds;
  const tlsVerify = lastValue(args, 'tls-verify');
  if (tlsVerify !== undefined) {
    if (tlsVerify !== 'true' && tlsVerify !== 'false') throw new UsageError(`--tls-verify: expected true or false, got '${tlsVerify}'`);
    options.tlsVerify = tlsVerify === 'true';
  }
  const limits = parseLimits(args.values.get('limit') ?? []);
  if (limits !== undefined) options.limits = limits;
  return options;
}

const LIMIT_NAMES = Object.keys(LIMITS) as LimitName[];

/** `--limit maxRatio=5000` (repeatable; `inf` turns a limit off), as OpenOptions.limits. */
export function parseLimits(settings: readonly string[]): OpenLimits | undefined {
  if (settings.length === 0) return undefined;
  const limits: OpenLimits = {};
  for (const setting of settings) {
    const [name, value, extra] = setting.split('=');
    const known = LIMIT_NAMES.find((limit) => limit === name);
    if (known === undefined || value === undefined || extra !== undefined) {
      throw new UsageError(`--limit: expected NAME=N with NAME one of ${LIMIT_NAMES.join(', ')}, got '${setting}'`);
    }
    const number = value === 'inf' ? Infinity : /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
    if (!(number > 0)) throw new UsageError(`--limit: ${known} must be a number above 0 or 'inf', got '${value}'`);
    limits[known] = number;
  }
  return limits;
}

/**
 * IMAGE as typed, or several layer tars joined with `:` (bottom first), as PATH-like lists are. A
 * path that exists is always taken whole, so a file name holding a colon still works.
 */
export function imageSource(image: string): string | string[] {
  if (existsSync(image) || !image.includes(':') || hasTransportPrefix(image)) return image;
  const parts = image.split(':').filter((part) => part !== '');
  return parts.length > 1 ? parts : image;
}

/** The "why" of `imgfs: IMAGE: why`. */
function imageProblem(error: unknown): string {
  if (isImgfsErrorLike(error)) return error.message;
  return describeError(error);
}

function printVersion(io: CliIO): number {
  io.stdout.write(`imgfs ${version()}\n`);
  return EXIT_OK;
}

export function version(): string {
  // The nearest package.json above this module: dist/cli/main.js, the bundle dist/imgfs-cli.js and
  // lib/cli/main.ts (tests) sit at different depths.
  const candidates = ['../package.json', '../../package.json'].map((relative) => new URL(relative, import.meta.url));
  const found = candidates.find((url) => existsSync(url) && isImgfsPackage(url));
  if (found === undefined) return 'unknown';
  const parsed: unknown = JSON.parse(readFileSync(found, 'utf8'));
  if (typeof parsed === 'object' && parsed !== null && 'version' in parsed && typeof parsed.version === 'string') {
    return parsed.version;
  }
  return 'unknown';
}

function isImgfsPackage(url: URL): boolean {
  try {
    return (JSON.parse(readFileSync(url, 'utf8')) as { name?: unknown }).name === 'imgfs';
  } catch {
    return false;
  }
}

export function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: imgfs COMMAND [options] IMAGE [PATH...]',
    '',
    "Serves a container image's merged root filesystem read-only, straight from the archive.",
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    describeOptions(globalOptions),
    '',
    'IMAGE is a docker save tar, an OCI layout (directory or tar), or a layer tar; several layer tars,',
    "bottom first, are joined with ':' (base.tar:app.tar).",
    '',
    'Exit status: 0 success, 1 a PATH failed, 2 usage error or an image that cannot be read.',
    "Run 'imgfs COMMAND --help' for a command's options.",
    '',
  ].join('\n');
}

export function commandHelp(spec: CommandSpec): string {
  const lines = [`Usage: imgfs ${spec.name} ${spec.usage}`, '', `${spec.summary.charAt(0).toUpperCase()}${spec.summary.slice(1)}.`];
  if (spec.details !== undefined) lines.push('', spec.details);
  if (spec.options.length > 0) lines.push('', 'Options:', describeOptions(spec.options));
  lines.push('', 'Global options:', describeOptions(globalOptions), '');
  return lines.join('\n');
}
