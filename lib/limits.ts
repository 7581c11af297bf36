/**
 * The one table of safety limits against hostile images: each limit's default and what it bounds. The
 * stages that enforce a limit take their default from here, `openImage` checks and resolves the
 * caller's values against it, the CLI's `--limit` accepts exactly its names, and the README's Limits
 * table is checked against it by a test. A limit exceeded is an ImgfsError ELIMIT naming the option.
 */

/** Raise a limit for an unusual but honest image; `Infinity` turns one off. */
export interface OpenLimits {
  /** Tar members in one layer, whiteouts included (default 5 000 000); members of an outer archive too. */
  maxEntries?: number;
  /** Layers in one image (default 256, twice Docker's limit). */
  maxLayers?: number;
  /** Bytes of one PAX extended header (default 1 MiB). */
  maxPaxSize?: number;
  /** UTF-8 bytes of one member or link name (default 16 KiB). */
  maxNameLength?: number;
  /**
   * Decompressed size of a gzip or zstd layer as a multiple of its compressed size (default 1100, plus
   * 64 MiB of slack): a gzip or zstd bomb stops here.
   */
  maxRatio?: number;
  /** Stored or decompressed bytes of a zstd:chunked or eStargz table of contents (default 150 MiB). */
  maxTocSize?: number;
}

export type LimitName = keyof OpenLimits;

export interface LimitSpec {
  readonly default: number;
  /** The default as the README shows it, with the reason for its size where one helps. */
  readonly shown: string;
  /** What the limit bounds, as the README shows it. */
  readonly bounds: string;
}

export const LIMITS: { readonly [name in LimitName]: LimitSpec } = {
  maxEntries: {
    default: 5_000_000,
    shown: '5 000 000',
    bounds: 'tar members in one layer (whiteouts included), and in an outer archive',
  },
  maxLayers: {
    // Docker's own limit is 127 (the deepest overlay stack it builds or runs). Each layer costs a file
    // handle and a decoder with its buffers, so an image listing thousands of tiny layers is refused
    // before any of them is opened.
    default: 256,
    shown: "256 (twice Docker's own limit)",
    bounds: 'layers in one image, checked before any layer is opened',
  },
  maxPaxSize: {
    default: 1024 * 1024,
    shown: '1 MiB',
    bounds: "one PAX extended header (as Go's `archive/tar`)",
  },
  maxNameLength: {
    // Path work downstream grows with the square of the depth: a 64 KiB name of `a/a/...` would take a
    // gigabyte to walk.
    default: 16 * 1024,
    shown: '16 KiB (4 × Linux `PATH_MAX`)',
    bounds:
      'one member or link name, in UTF-8 bytes. Path work grows with the square of the depth; this keeps the deepest possible tree (8 000 levels) to about a second and 70 MB to walk',
  },
  maxRatio: {
    // Above deflate's own ceiling (about 1032:1), so no honest gzip layer, not even one holding a huge
    // file of zeros, can trip it; zstd reaches 30 000:1 and more, which is where a bomb comes from.
    default: 1100,
    shown: '1100, plus 64 MiB',
    bounds:
      "decompressed size of a gzip or zstd layer (or outer archive) as a multiple of its compressed size: a gzip or zstd bomb stops with `ELIMIT`. 1100 is above deflate's own ceiling (about 1032:1), so no honest gzip layer reaches it",
  },
  maxTocSize: {
    // containers/storage's own limit: a TOC that podman or CRI-O would pull lazily is read here too.
    default: 150 * 1024 * 1024,
    shown: "150 MiB (containers/storage's limit)",
    bounds:
      'a zstd:chunked or eStargz table of contents (or tar-split), stored or decompressed; over it the TOC is not used and the layer is read as a plain stream, with a warning',
  },
};

/** The limit names, in the table's order. */
export const LIMIT_NAMES = Object.keys(LIMITS) as LimitName[];

/** Decompressed bytes always allowed on top of `maxRatio × compressed size`: small streams are not judged by their ratio. */
export const RATIO_SLACK = 64 * 1024 * 1024;

/** Every limit with a value: the caller's where given, else the table's default. */
export type ResolvedLimits = { readonly [name in LimitName]: number };

/**
 * The caller's limits over the defaults. A value that is not a number above 0 (`Infinity` turns a
 * limit off) is the caller's mistake: RangeError; so is a name the table does not have.
 */
export function resolveLimits(limits: OpenLimits | undefined): ResolvedLimits {
  const resolved = Object.fromEntries(LIMIT_NAMES.map((name) => [name, LIMITS[name].default])) as { [name in LimitName]: number };
  for (const [name, value] of Object.entries(limits ?? {}) as Array<[string, unknown]>) {
    if (value === undefined) continue;
    if (!isLimitName(name)) throw new RangeError(`unknown limit ${name} (known: ${LIMIT_NAMES.join(', ')})`);
    if (!(typeof value === 'number' && value > 0)) {
      throw new RangeError(`limits.${name} must be a number above 0 (Infinity turns it off), got ${String(value)}`);
    }
    resolved[name] = value;
  }
  return resolved;
}

export function isLimitName(name: string): name is LimitName {
  return Object.hasOwn(LIMITS, name);
}
