/**
 * Where umoci 0.4.7, the reference of the conformance test, and DESIGN.md's layer rules part ways.
 * Each case is left out of the field-by-field comparison and checked instead for exactly the
 * documented behaviour on both sides: when umoci or imgfs changes, the test says so and the entry
 * must be revisited. NOTES.md beside this file tells the same for the README.
 */
import type { SnapshotEntry } from './tree-snapshot.js';

/** What one side must show at a path: absent, or an entry with at least these fields. */
export type Expectation = 'absent' | Partial<SnapshotEntry>;

export interface KnownDeparture {
  /** Short name, as in NOTES.md. */
  name: string;
  /** The DESIGN.md rule imgfs follows here. */
  rule: string;
  /** Subtrees left out of the general comparison. */
  excluded: readonly string[];
  /** What each side must show. */
  expect: ReadonlyArray<{ path: string; umoci: Expectation; imgfs: Expectation }>;
  /** Words that one of imgfs's `onWarning` messages must contain. */
  imgfsWarning?: readonly string[];
  reason: string;
}

export const KNOWN_DEPARTURES: readonly KnownDeparture[] = [
  {
    name: 'aufs-plnk',
    rule: 'R4',
    excluded: ['/.wh..wh.plnk'],
    expect: [
      { path: '/.wh..wh.plnk', umoci: { type: 'dir' }, imgfs: 'absent' },
      { path: '/.wh..wh.plnk/1234.5678', umoci: { type: 'file' }, imgfs: 'absent' },
    ],
    reason:
      'umoci only looks at the basename: the directory entry `.wh..wh.plnk/` becomes a whiteout of ' +
      '`.wh.plnk` (which removes nothing), and the file `.wh..wh.plnk/1234.5678` is extracted, its ' +
      'directory made with mkdir -p. R4 hides every `.wh..wh.` name, and so what is under it, as ' +
      "Docker's layer unpacking skips aufs metadata at the layer root.",
  },
];

/** Cases umoci cannot serve as a reference for at all; they are not in the conformance image. */
export const NOT_IN_FIXTURE: ReadonlyArray<{ name: string; rule: string; reason: string }> = [
  {
    name: 'implicit-dir-over-file',
    rule: 'R6',
    reason:
      'A layer holding `srv/filedir/child.txt` (no entry for `srv/filedir`) over a lower layer where ' +
      '`srv/filedir` is a regular file: umoci 0.4.7 aborts the whole unpack with "mkdir parent: not a ' +
      'directory". R6 says the implicit directory replaces the file. Left to imgfs unit tests.',
  },
];
