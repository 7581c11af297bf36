/**
 * Platforms (`os/arch[/variant]`) as OCI indexes and docker manifest lists describe them, the host's
 * default, and matching the two the way containerd does (normalised architecture names, the default
 * variant of an architecture equal to none).
 */
import { ImgfsError } from '../errors.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string | undefined;
}

/** `process.arch` → OCI architecture. */
const hostArchitectures: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** Other spellings seen in the wild → the OCI name (and the variant they imply). */
const architectureAliases: Readonly<Record<string, Platform['architecture']>> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  i386: '386',
  i686: '386',
};

/** Parses `os/arch[/variant]`; EINVAL-like misuse is reported as ENOREF naming the bad string. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  const [os, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || !os || !architecture || variant === '') {
    throw new ImgfsError('ENOREF', `platform '${text}' is not os/arch[/variant]`);
  }
  return normalisePlatform({ os, architecture, variant });
}

/** The platform an image is chosen for by default: linux on the host's architecture. */
export function hostPlatform(): Platform {
  const architecture = hostArchitectures[process.arch] ?? process.arch;
  let variant: string | undefined;
  if (architecture === 'arm') {
    const armVersion = (process.config.variables as Record<string, unknown>)['arm_version'];
    if (typeof armVersion === 'string' || typeof armVersion === 'number') variant = `v${armVersion}`;
  }
  return normalisePlatform({ os: 'linux', architecture, variant });
}

/** Lower-cases, maps aliases, and drops variants that mean "the default" (amd64 v1, arm64 v8). */
export function normalisePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase();
  let architecture = platform.architecture.toLowerCase();
  let variant = platform.variant?.toLowerCase() || undefined;
  if (architecture === 'armhf' && variant === undefined) variant = 'v7';
  if (architecture === 'armel' && variant === undefined) variant = 'v6';
  architecture = architectureAliases[architecture] ?? architecture;
  if (architecture === 'arm64' && (variant === 'v8' || variant === '8')) variant = undefined;
  if (architecture === 'amd64' && (variant === 'v1' || variant === '1')) variant = undefined;
  if (variant !== undefined && /^\d+$/.test(variant)) variant = `v${variant}`;
  return { os, architecture, variant };
}

/**
 * Whether an image for `have` serves a request for `want`. A request without a variant accepts any
 * variant (the caller prefers the default one when several remain).
 */
export function platformMatches(have: Platform, want: Platform): boolean {
  const a = normalisePlatform(have);
  const b = normalisePlatform(want);
  if (a.os !== b.os || a.architecture !== b.architecture) return false;
  return b.variant === undefined || a.variant === b.variant;
}

/** `os/arch[/variant]`. */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter((part) => part).join('/');
}
