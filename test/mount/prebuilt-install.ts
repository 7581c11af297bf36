/**
 * An installation of imgfs whose `fuse-napi` is the package exactly as npm installs it: its own
 * prebuilt binding (`prebuilds/linux-<arch>/…`, shipped inside the package), without the build of
 * bin/build-fuse-binding.sh, which lives in `build/Release/` only and which the package's loader
 * prefers when it is there. So the unpatched binding is at hand on any machine that ran `npm ci`,
 * offline and whether or not `npm run build:fuse` ran, and the project's own node_modules is never
 * changed.
 *
 * The installation is a directory laid out as the package is installed: `bin/imgfs.js` and
 * `package.json` copied, `dist/` a link to the project's build, and a `node_modules/` of links to the
 * project's packages except `fuse-napi`, which is a copy without `build/`. The CLI resolves the
 * binding from its bundle's own place (`dist/imgfs-cli.js`, which Node does not resolve through the
 * link), so a mount started there loads the prebuilt binding, with no seam in imgfs itself.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import { repoRoot } from '../cli/run-cli.js';

const PACKAGE = 'fuse-napi';

export interface PrebuiltInstall {
  /** `bin/imgfs.js` of the installation, to run with `node`. */
  bin: string;
  /** The binding file the package's loader picks on this machine (platform, arch, libfuse, Node ABI). */
  binding: string;
  /** That binding's exports, loaded here the way the package loads them. */
  exports: Record<string, unknown>;
}

interface PackageLoader {
  loadNativeBinding(root: string, dependencies: { loadFile(file: string): unknown; loadDefault(root: string): unknown }): Record<string, unknown>;
}

/**
 * Lays the installation out in `dir` (which must exist); throws, saying why, when the package or a
 * prebuild for this platform and Node is not there.
 */
export function installWithPrebuiltBinding(dir: string): PrebuiltInstall {
  const modules = join(repoRoot, 'node_modules');
  const source = join(modules, PACKAGE);
  if (!existsSync(join(source, 'package.json'))) throw new Error(`${source} is missing: npm ci (under Node 22, 24 or 26)`);
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'node_modules'));
  cpSync(join(repoRoot, 'package.json'), join(dir, 'package.json'));
  cpSync(join(repoRoot, 'bin', 'imgfs.js'), join(dir, 'bin', 'imgfs.js'));
  symlinkSync(join(repoRoot, 'dist'), join(dir, 'dist'));
  for (const name of readdirSync(modules)) {
    if (name !== PACKAGE && !name.startsWith('.')) symlinkSync(join(modules, name), join(dir, 'node_modules', name));
  }
  const packageDir = join(dir, 'node_modules', PACKAGE);
  cpSync(source, packageDir, { recursive: true, filter: (path) => relative(source, path).split(sep)[0] !== 'build' });
  return { bin: join(dir, 'bin', 'imgfs.js'), ...bindingOf(packageDir) };
}

/**
 * Loads the binding through the package's own loader (lib/native-binding.js: a local build first,
 * then a prebuild for libfuse3.so.4, then node-gyp-build's pick among the prebuilds), noting the file.
 */
function bindingOf(packageDir: string): Pick<PrebuiltInstall, 'binding' | 'exports'> {
  const load = createRequire(join(packageDir, 'package.json'));
  const loader = load('./lib/native-binding.js') as PackageLoader;
  const nodeGypBuild = load('node-gyp-build') as { path(dir: string): string };
  let binding = '';
  const loadFile = (file: string): unknown => load((binding = file));
  try {
    const exports = loader.loadNativeBinding(packageDir, { loadFile, loadDefault: (root) => loadFile(nodeGypBuild.path(root)) });
    return { binding, exports };
  } catch (error) {
    throw new Error(`${PACKAGE} has no prebuilt binding that loads on ${process.platform}-${process.arch} under Node ${process.version}: ${String(error)}`);
  }
}
