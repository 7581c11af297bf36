/**
 * Where umoci 0.4.7 (the reference of the conformance test) departs from DESIGN.md's layer rules.
 * Each case is left out of the field-by-field comparison, and instead checked for exactly the
 * documented behaviour on both sides: when umoci or imgfs changes, the test says so and the entry
 * must be revisited. See NOTES.md beside this file.
 */

export interface KnownDeparture {
  /** Short name, as in NOTES.md. */
  name: string;
  /** Root of the subtree excluded from the comparison. */
  path: string;
  /** The DESIGN.md rule imgfs follows here. */
  rule: string;
  /** Whether `path` exists in umoci's rootfs, and in imgfs's view. */
  umoci: 'present' | 'absent';
  imgfs: 'present' | 'absent';
  reason: string;
}

export const KNOWN_DEPARTURES: readonly KnownDeparture[] = [
  {
    name: 'aufs-plnk',
    path: '/.wh..wh.plnk',
    rule: 'R4',
    umoci: 'present',
    imgfs: 'absent',
    reason:
      'umoci treats only a basename starting with `.wh.` as a whiteout: the directory entry ' +
      '`.wh..wh.plnk/` becomes a whiteout of `.wh.plnk` (which removes nothing), and the file ' +
      '`.wh..wh.plnk/1234.5678` is extracted, creating the directory with mkdir -p. R4 hides every ' +
      '`.wh..wh.` name and so everything under it, as Docker and containerd do with aufs internals.',
  },
];

/** Cases umoci cannot serve as a reference for at all; they are not in the conformance image. */
export const NOT_IN_FIXTURE: ReadonlyArray<{ name: string; rule: string; reason: string }> = [
  {
    name: 'implicit-dir-over-file',
    rule: 'R6',
    reason:
      'A layer holding `srv/filedir/child.txt` (no entry for `srv/filedir`) over a lower layer where ' +
      '`srv/filedir` is a file: umoci 0.4.7 aborts the whole unpack with "mkdir parent: not a ' +
      'directory". R6 says the implicit directory replaces the file. Covered by imgfs unit tests only.',
  },
];
