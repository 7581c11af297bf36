/**
 * Finds FUSE and loads the `fuse-napi` binding, which nothing else in imgfs ever loads: it is an
 * optional dependency, imported on demand, kept out of the CLI bundle (esbuild `--external`). Each
 * thing that can be missing (the kernel device, the binding, libfuse3, fusermount3) gives one
 * `FuseUnavailable` whose message says what is missing and how to get it.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BYTE_NAMES, packageBuild, utf8Names, type BindingBuild } from './binding-names.js';
import type { FuseConstructor } from './fuse-binding.js';
import type { ServedReadsNative } from './served-files.js';

/** FUSE cannot be used on this machine; `message` is one line, ready for `imgfs: mount: …`. */
export class FuseUnavailable extends Error {
  override readonly name = 'FuseUnavailable';
}

const BINDING = 'fuse-napi';
const DEVICE = '/dev/fuse';
const APT = 'apt-get install fuse3 libfuse3-3';

interface BindingModule {
  default: FuseConstructor & { checkEnvironment?: () => Promise<unknown> };
}

let loading: Promise<FuseConstructor> | undefined;

/** The binding's `Fuse` class, once per process; rejects with `FuseUnavailable`. */
export function loadFuse(): Promise<FuseConstructor> {
  loading ??= load();
  // A failed attempt is not remembered: the user may install what was missing and call again.
  loading.catch(() => (loading = undefined));
  return loading;
}

async function load(): Promise<FuseConstructor> {
  if (process.platform !== 'linux') throw new FuseUnavailable(`FUSE mounts are supported on Linux only (this is ${process.platform})`);
  if (!existsSync(DEVICE)) {
    throw new FuseUnavailable(
      `${DEVICE} is missing: load the kernel module (modprobe fuse), or in a container run with --device ${DEVICE} --cap-add SYS_ADMIN`,
    );
  }
  try {
    accessSync(DEVICE, constants.R_OK | constants.W_OK);
  } catch {
    throw new FuseUnavailable(`${DEVICE} is not readable and writable by this user: run as root or join the group that owns it`);
  }
  let binding: BindingModule;
  try {
    // A variable specifier keeps bundlers and tsc from resolving the optional package at build time.
    const specifier: string = BINDING;
    binding = (await import(specifier)) as BindingModule;
  } catch (error) {
    throw new FuseUnavailable(describeLoadFailure(error));
  }
  const Fuse = binding.default;
  if (typeof Fuse !== 'function') throw new FuseUnavailable(`${BINDING} does not export a Fuse class: reinstall it (npm install ${BINDING})`);
  try {
    await Fuse.checkEnvironment?.();
  } catch (error) {
    throw new FuseUnavailable(describeEnvironmentFailure(error));
  }
  return Fuse;
}

/**
 * What the installed binding can do: more than its package's prebuilds when it is
 * bin/build-fuse-binding.sh's build, which the package loads in preference to them and which
 * leaves `imgfs-build.json` beside itself. A new answer per call: one per mount.
 */
export function bindingBuild(): BindingBuild {
  try {
    const root = dirname(createRequire(import.meta.url).resolve(`${BINDING}/package.json`));
    const build = JSON.parse(readFileSync(join(root, 'build', 'Release', 'imgfs-build.json'), 'utf8')) as Record<string, unknown>;
    const native = build.servedReads === true && build.namesAsBytes === true ? servedReadsOf(join(root, 'build', 'Release', 'fuse.node')) : undefined;
    return {
      names: build.namesAsBytes === true ? BYTE_NAMES : utf8Names(),
      readdirPlus: build.readdirPlus === true,
      servedReads: native,
    };
  } catch {
    return packageBuild();
  }
}

/** The C read path's functions, from the very module the package loads (its loader prefers this build). */
function servedReadsOf(modulePath: string): ServedReadsNative | undefined {
  let native: Partial<ServedReadsNative>;
  try {
    native = createRequire(import.meta.url)(modulePath) as Partial<ServedReadsNative>;
  } catch {
    return undefined; // every read then goes through JavaScript
  }
  const complete = ['imgfs_serve_archive', 'imgfs_serve', 'imgfs_serve_clear', 'imgfs_serve_link'].every(
    (name) => typeof native[name as keyof ServedReadsNative] === 'function',
  );
  return complete ? (native as ServedReadsNative) : undefined;
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = (error as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0] ?? text;
}

function describeLoadFailure(error: unknown): string {
  const code = codeOf(error);
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
    return (
      `the optional dependency ${BINDING} is not installed: npm install ${BINDING} ` +
      `(under Node 22, 24 or 26; npm skips it on other versions) and ${APT}`
    );
  }
  if (code === 'EFUSEDEPENDENCY') return `libfuse3 is missing: ${APT}`;
  return `the ${BINDING} binding did not load (${messageOf(error)}): npm rebuild ${BINDING} (needs libfuse3-dev, pkg-config and a C compiler)`;
}

function describeEnvironmentFailure(error: unknown): string {
  switch (codeOf(error)) {
    case 'EFUSEHELPER':
      return `fusermount3 is missing: apt-get install fuse3`;
    case 'EFUSEDEVICE':
      return `${DEVICE} cannot be opened: run as root or join the group that owns it`;
    case 'EFUSEVERSION':
      return `libfuse3 is too old (3.10.3 or newer is needed): ${APT}`;
    default:
      return `FUSE is not usable here: ${messageOf(error)}`;
  }
}
