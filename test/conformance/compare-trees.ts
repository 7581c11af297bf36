/**
 * Field-by-field comparison of two tree snapshots, with the two allowances the conformance test makes:
 * implicit directories (DESIGN.md R6) and named departures of umoci from the rules (known-departures.ts).
 */
import { compareNames, type SnapshotEntry, type TreeSnapshot } from './tree-snapshot.js';

export interface Difference {
  path: string;
  /** Fields that differ, or `missing in image` / `missing in reference`. */
  what: string[];
  reference: SnapshotEntry | undefined;
  image: SnapshotEntry | undefined;
}

export interface CompareOptions {
  /**
   * Directories that no layer has a directory entry for (computed from the layer tars, not from
   * imgfs). R6 fixes their metadata in imgfs; the reference only has to agree that they are
   * directories, since umoci creates them with `mkdir -p` (mode 0777 &^ umask, the unpacking user).
   */
  implicitDirs: ReadonlySet<string>;
  /** Paths whose subtree is left out of the comparison (the known departures, checked separately). */
  excluded: readonly string[];
}

/** What DESIGN.md R6 says an implicit directory looks like. */
export const IMPLICIT_DIR = { type: 'dir', perm: 0o755, uid: 0, gid: 0 } as const;

const FIELDS = ['type', 'perm', 'uid', 'gid', 'size', 'sha256', 'target', 'mtimeMs', 'nlink', 'linkGroup', 'xattrs'] as const;
type Field = (typeof FIELDS)[number];

function fieldValue(entry: SnapshotEntry, field: Field): string {
  const value = entry[field];
  if (value === undefined) return '-';
  if (field === 'perm' && typeof value === 'number') return `0${value.toString(8)}`;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function isExcluded(path: string, excluded: readonly string[]): boolean {
  return excluded.some((root) => path === root || path.startsWith(`${root}/`));
}

export function compareTrees(reference: TreeSnapshot, image: TreeSnapshot, options: CompareOptions): Difference[] {
  const paths = new Set([...reference.entries.keys(), ...image.entries.keys()]);
  const differences: Difference[] = [];
  for (const path of [...paths].sort(compareNames)) {
    if (isExcluded(path, options.excluded)) continue;
    const ref = reference.entries.get(path);
    const img = image.entries.get(path);
    if (!ref || !img) {
      differences.push({ path, what: [ref ? 'missing in image' : 'missing in reference'], reference: ref, image: img });
      continue;
    }
    const what: string[] = [];
    if (options.implicitDirs.has(path) && ref.type === 'dir') {
      // R6: the image side must carry exactly R6's metadata; the reference only the type.
      for (const field of ['type', 'perm', 'uid', 'gid'] as const) {
        if (img[field] !== IMPLICIT_DIR[field]) what.push(`${field} (R6 implicit directory)`);
      }
    } else {
      for (const field of FIELDS) {
        if (fieldValue(ref, field) !== fieldValue(img, field)) what.push(field);
      }
    }
    if (what.length > 0) differences.push({ path, what, reference: ref, image: img });
  }
  return differences;
}

function describe(entry: SnapshotEntry | undefined): string {
  if (!entry) return '(absent)';
  return FIELDS.filter((field) => entry[field] !== undefined && !(field === 'xattrs' && fieldValue(entry, field) === '{}'))
    .map((field) => `${field}=${fieldValue(entry, field)}`)
    .join(' ');
}

/** The first `limit` differences, each with both sides, for an assertion message. */
export function formatDifferences(differences: readonly Difference[], limit = 20): string {
  const lines = [`${differences.length} path(s) differ between umoci's rootfs and imgfs:`];
  for (const difference of differences.slice(0, limit)) {
    lines.push(`  ${difference.path}: ${difference.what.join(', ')}`);
    lines.push(`      umoci: ${describe(difference.reference)}`);
    lines.push(`      imgfs: ${describe(difference.image)}`);
  }
  if (differences.length > limit) lines.push(`  ... and ${differences.length - limit} more`);
  return lines.join('\n');
}

/**
 * Checks DESIGN.md's walk contract: pre-order, children sorted by name bytes. Returns a message for
 * the first violation, or undefined.
 */
export function checkWalkOrder(order: readonly string[]): string | undefined {
  const expected = [...order].sort((a, b) => {
    const as = a.split('/');
    const bs = b.split('/');
    for (let i = 0; i < Math.min(as.length, bs.length); i++) {
      const c = compareNames(as[i] ?? '', bs[i] ?? '');
      if (c !== 0) return c;
    }
    return as.length - bs.length;
  });
  const duplicate = expected.find((path, i) => expected[i + 1] === path);
  if (duplicate !== undefined) return `walk yields ${duplicate} more than once`;
  const index = expected.findIndex((path, i) => order[i] !== path);
  if (index === -1) return undefined;
  return `walk order differs at position ${index}: got ${String(order[index])}, expected ${String(expected[index])}`;
}
