/**
 * `imgfs mount [--daemon] [-o OPTIONS] IMAGE DIR` and `imgfs umount DIR`. The image is opened lazily:
 * the mount is ready at once and each layer is indexed when a question first reaches it. In the
 * foreground (the default) the command serves until the mount is unmounted or it gets SIGINT or
 * SIGTERM; with --daemon it returns once the mount is ready and a background process serves it.
 */
import { statSync } from 'node:fs';
import { UsageError, type ParsedArgs } from '../args.js';
import type { CliIO, CommandSpec } from '../context.js';
import { reportReady, READY_FD_VARIABLE, startDaemon } from '../../mount/daemon.js';
import { FuseUnavailable, loadFuse } from '../../mount/load-binding.js';
import { mount, type MountOptions } from '../../mount/mount.js';
import { unmountOnSignals } from '../../mount/signals.js';
import { unmountDir } from '../../mount/unmount-dir.js';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/** `-o allow_other,uid=1000,gid=1000` (repeatable), as MountOptions; `ro` is accepted and implied. */
export function parseMountOptions(values: readonly string[]): MountOptions {
  const options: MountOptions = {};
  for (const option of values.flatMap((value) => value.split(',')).filter((option) => option !== '')) {
    const [name, value] = option.split('=', 2);
    if (name === 'allow_other' && value === undefined) options.allowOther = true;
    else if (name === 'ro' && value === undefined) continue;
    else if ((name === 'uid' || name === 'gid') && value !== undefined && /^\d+$/.test(value)) options[name] = Number(value);
    else throw new UsageError(`-o: unknown or malformed option '${option}' (known: allow_other, uid=N, gid=N, ro)`);
  }
  return options;
}

export const mountCommand: CommandSpec = {
  name: 'mount',
  summary: 'serve the merged root filesystem read-only at DIR (FUSE), for tools that want a directory',
  usage: '[--daemon] [-o OPTIONS] IMAGE DIR',
  details: [
    'Serves until unmounted (imgfs umount DIR, fusermount3 -u DIR) or sent SIGINT/SIGTERM. Nothing is',
    'extracted: layers are indexed as paths are first asked for. A broken layer gives EIO (with a warning)',
    'on the paths that need it; the rest is served. Needs /dev/fuse, libfuse3 and the fuse-napi package.',
  ].join('\n'),
  options: [
    { long: 'foreground', short: 'f', help: 'serve in this process until unmounted (the default)' },
    { long: 'daemon', help: 'return once the mount is ready; a background process serves it' },
    { long: 'options', short: 'o', value: true, valueName: 'OPT[,OPT]', help: 'allow_other, uid=N, gid=N (show every file as owned by N)' },
  ],
  paths: { min: 1, max: 1 },
  lazy: true,
  async before(args, io) {
    parseMountOptions(args.values.get('options') ?? []);
    const dir = args.positionals[1];
    if (dir !== undefined && !isDirectory(dir)) {
      io.stderr.write(`imgfs: mount: ${dir}: not a directory\n`);
      return EXIT_USAGE;
    }
    // Say what is missing before anything else happens, in this process and the background one alike.
    try {
      await loadFuse();
    } catch (error) {
      if (!(error instanceof FuseUnavailable)) throw error;
      io.stderr.write(`imgfs: mount: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (!args.flags.has('daemon') || io.env[READY_FD_VARIABLE] !== undefined) return undefined;
    const script = process.argv[1];
    if (script === undefined) throw new Error('--daemon needs the imgfs script path in process.argv');
    const { status } = await startDaemon(script, daemonArgs(process.argv.slice(2)), io.stderr);
    return status;
  },
  async run(ctx) {
    const options = parseMountOptions(ctx.args.values.get('options') ?? []);
    const handle = await mount(ctx.img, ctx.paths[0] as string, { ...options, onWarning: (warning) => ctx.warn(warning.message) });
    unmountOnSignals(handle);
    reportReady(ctx.io.env);
    await handle.unmounted;
  },
};

export const umountCommand: CommandSpec = {
  name: 'umount',
  summary: 'unmount a directory mounted by imgfs mount',
  usage: '[--lazy] DIR',
  options: [{ long: 'lazy', short: 'z', help: 'detach now even while files are open (umount -l)' }],
  paths: { min: 0, max: 0 },
  async before(args: ParsedArgs, io: CliIO) {
    const [dir, extra] = args.positionals;
    if (dir === undefined) throw new UsageError('missing DIR');
    if (extra !== undefined) throw new UsageError(`extra operand '${extra}'`);
    const result = await unmountDir(dir, { lazy: args.flags.has('lazy') });
    if (result.ok) return 0;
    io.stderr.write(`imgfs: umount: ${dir}: ${result.message}\n`);
    return EXIT_FAILED;
  },
  async run() {
    throw new Error('umount runs in before()');
  },
};

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The user's arguments for the background process: the same, without the flag that sent it there. */
function daemonArgs(argv: readonly string[]): string[] {
  return argv.filter((arg) => arg !== '--daemon');
}
