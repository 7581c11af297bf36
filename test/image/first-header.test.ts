/**
 * Damage in the very first header is reported as what it is, not as "not an image": a file whose first
 * block is a tar header (its checksum holds) but with impossible values is a damaged tar. Only a first
 * block that is no tar header at all is EIMGFORMAT, and compressed data imgfs cannot decode is named.
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { openImage } from '../../lib/index.js';
import { base256, END, member, paxMember } from '../tar/raw-tar.js';
import { expectImgfsError, scratch } from './fixtures.js';

const tmp = scratch('first-header');

async function write(name: string, bytes: Buffer): Promise<string> {
  const path = join(await tmp(), name);
  await writeFile(path, bytes);
  return path;
}

describe('damage at offset 0', () => {
  it('a negative size is ETARCORRUPT "negative size"', async () => {
    const path = await write('neg.tar', Buffer.concat([member({ name: 'f', size: base256(-5, 12), magic: 'gnu' }), END]));
    await expectImgfsError(openImage(path, { cache: false }), 'ETARCORRUPT', /negative size .*offset 0/);
  });

  it('a huge negative base-256 size still says "negative"', async () => {
    const path = await write('neg2.tar', Buffer.concat([member({ name: 'f', size: base256(-(2n ** 80n), 12), magic: 'gnu' }), END]));
    await expectImgfsError(openImage(path, { cache: false }), 'ETARCORRUPT', /negative size/);
  });

  it('a bad PAX mtime in the first header is ETARCORRUPT naming it', async () => {
    const path = await write('mtime.tar', Buffer.concat([paxMember([['mtime', 'soon']]), member({ name: 'f' }, 'x'), END]));
    await expectImgfsError(openImage(path, { cache: false }), 'ETARCORRUPT', /invalid PAX mtime value "soon"/);
  });

  it('a first block that is no tar header at all stays EIMGFORMAT', async () => {
    const path = await write('notes.txt', Buffer.from('hello\n'.repeat(200)));
    await expectImgfsError(openImage(path, { cache: false }), 'EIMGFORMAT', /neither an image archive nor a layer tar/);
  });
});

describe('compressed layers imgfs does not decode', () => {
  it.each([
    ['xz', ['xz', '-c']],
    ['bzip2', ['bzip2', '-c']],
    ['lz4', ['lz4', '-c']],
  ] as const)('a %s-compressed layer is named as such', async (name, command) => {
    const tar = Buffer.concat([member({ name: 'etc/hostname' }, 'box\n'), END]);
    const compressed = execFileSync(command[0], command.slice(1), { input: tar });
    const path = await write(`layer.tar.${name}`, compressed);
    await expectImgfsError(openImage(path, { cache: false }), 'ECOMPRESSION', new RegExp(`^ECOMPRESSION: ${name}-compressed tar: not supported`));
    // The same inside a list of bare layers.
    await expectImgfsError(openImage([path], { cache: false }), 'ECOMPRESSION', new RegExp(`${name}-compressed tar: not supported`));
  });
});
