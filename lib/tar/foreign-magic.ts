/**
 * Compressed formats a tar may arrive in that imgfs does not decode (it reads gzip and zstd, which is
 * what image specs allow). Recognised by their magic bytes where a tar header was expected, so the
 * error says what the data is instead of calling it a damaged tar.
 */
const MAGICS: ReadonlyArray<[string, Buffer]> = [
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['lzip', Buffer.from('LZIP', 'latin1')],
  ['lz4', Buffer.from([0x04, 0x22, 0x4d, 0x18])],
  ['7z', Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])],
];

/** The compressor whose output `block` starts like, if it is one imgfs cannot read. */
export function foreignCompression(block: Buffer): string | undefined {
  for (const [name, magic] of MAGICS) if (block.subarray(0, magic.length).equals(magic)) return name;
  // bzip2: 'BZh' and a block-size digit 1-9.
  if (block.toString('latin1', 0, 3) === 'BZh' && (block[3] ?? 0) >= 0x31 && (block[3] ?? 0) <= 0x39) return 'bzip2';
  return undefined;
}
