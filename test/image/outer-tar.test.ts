import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_MEMBER_LINK_HOPS, normaliseMemberName, OuterTar } from '../../lib/image/outer-tar.js';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { FileSource } from '../../lib/source/file-source.js';
import { packTar, type OuterEntry } from '../helpers/image-builder.js';
import { expectImgfsError, readAll, scratch } from './fixtures.js';

const tmp = scratch('outer-tar');

async function outer(entries: OuterEntry[]): Promise<OuterTar> {
  return OuterTar.read(new BufferSource(await packTar(entries), 'outer.tar'), 'outer.tar');
}

describe('normaliseMemberName', () => {
  it.each([
    ['./a/b', 'a/b'],
    ['/a//b/', 'a/b'],
    ['a/./b/../c', 'a/c'],
    ['./', ''],
    ['../x', undefined],
    ['a/../../x', undefined],
  ])('%s → %s', (raw, expected) => {
    expect(normaliseMemberName(raw)).toBe(expected);
  });
});

describe('OuterTar', () => {
  it('records each member at its data offset, names normalised, the later duplicate winning', async () => {
    const tar = await outer([
      { name: './dir/', type: 'directory' },
      { name: './dir/a.json', data: '{"first":true}' },
      { name: 'dir//b.txt', data: 'bee' },
      { name: 'dir/a.json', data: '{"second":true}' },
      { name: '../escape', data: 'never' },
    ]);
    expect([...tar.names()]).toEqual(['dir', 'dir/a.json', 'dir/b.txt']);
    expect(tar.get('dir')?.type).toBe('directory');
    expect((await readAll(tar.open('dir/a.json'))).toString()).toBe('{"second":true}');
    expect((await readAll(tar.open('./dir/b.txt'))).toString()).toBe('bee');
    const member = tar.resolve('dir/b.txt');
    expect(member).toMatchObject({ name: 'dir/b.txt', size: 3, type: 'file' });
    const raw = await tar.source.read(member.offset, member.size);
    expect(raw.toString()).toBe('bee');
    expect(tar.get('../escape')).toBeUndefined();
  });

  it('follows a symlink member relative to its directory (<id>/layer.tar -> ../<hex>.tar)', async () => {
    const hex = 'ab'.repeat(32);
    const tar = await outer([
      { name: `${hex}.tar`, data: 'layer bytes' },
      { name: 'v1id/layer.tar', type: 'symlink', linkname: `../${hex}.tar` },
    ]);
    expect(tar.get('v1id/layer.tar')?.type).toBe('symlink');
    expect(tar.resolve('v1id/layer.tar').name).toBe(`${hex}.tar`);
    expect((await readAll(tar.open('v1id/layer.tar'))).toString()).toBe('layer bytes');
    expect(tar.open('v1id/layer.tar').name).toBe(`outer.tar!${hex}.tar`);
  });

  it('follows hard-link members from the archive root, and symlinked parent directories', async () => {
    const tar = await outer([
      { name: 'real/blob', data: 'content' },
      { name: 'other/hard', type: 'link', linkname: 'real/blob' },
      { name: 'alias', type: 'symlink', linkname: 'real' },
      { name: 'chain', type: 'symlink', linkname: 'alias/blob' },
    ]);
    expect(tar.resolve('other/hard').name).toBe('real/blob');
    expect(tar.resolve('alias/blob').name).toBe('real/blob');
    expect(tar.resolve('chain').name).toBe('real/blob');
    expect(tar.hasFile('chain')).toBe(true);
    expect(tar.hasFile('nope')).toBe(false);
  });

  it('refuses links that leave the archive root', async () => {
    const tar = await outer([
      { name: 'a/up', type: 'symlink', linkname: '../../etc/passwd' },
      { name: 'abs', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'etc/passwd', data: 'inside' },
    ]);
    await expectImgfsError(() => tar.resolve('a/up'), 'EIMGFORMAT', /points outside the archive.*member a\/up.*in outer\.tar/);
    await expectImgfsError(() => tar.resolve('abs'), 'EIMGFORMAT', /abs -> \/etc\/passwd points outside the archive/);
    await expectImgfsError(() => tar.open('../etc/passwd'), 'EIMGFORMAT', /outside the archive/);
  });

  it('refuses link loops and over-long chains', async () => {
    const loop = await outer([
      { name: 'x', type: 'symlink', linkname: 'y' },
      { name: 'y', type: 'symlink', linkname: 'x' },
    ]);
    await expectImgfsError(() => loop.resolve('x'), 'EIMGFORMAT', new RegExp(`more than ${MAX_MEMBER_LINK_HOPS} links`));

    const entries: OuterEntry[] = [{ name: 'end', data: 'ok' }];
    for (let i = 0; i < MAX_MEMBER_LINK_HOPS; i++) entries.push({ name: `l${i}`, type: 'symlink', linkname: i === 0 ? 'end' : `l${i - 1}` });
    const chain = await outer(entries);
    expect(chain.resolve(`l${MAX_MEMBER_LINK_HOPS - 1}`).name).toBe('end');
    const longer = await outer([...entries, { name: 'over', type: 'symlink', linkname: `l${MAX_MEMBER_LINK_HOPS - 1}` }]);
    await expectImgfsError(() => longer.resolve('over'), 'EIMGFORMAT', /more than/);
  });

  it('names the member when it is missing, dangling or not a file', async () => {
    const tar = await outer([
      { name: 'd/', type: 'directory' },
      { name: 'dangling', type: 'symlink', linkname: 'gone' },
    ]);
    const missing = await expectImgfsError(() => tar.resolve('abc/layer.tar'), 'EIMGFORMAT', /member abc\/layer\.tar is missing/);
    expect(missing.member).toBe('abc/layer.tar');
    expect(missing.archive).toBe('outer.tar');
    await expectImgfsError(() => tar.resolve('dangling'), 'EIMGFORMAT', /missing/);
    await expectImgfsError(() => tar.resolve('d'), 'EIMGFORMAT', /is a directory, not a file/);
  });

  it('reads a GNU tar archive in place (./ prefixes, real symlinks)', async () => {
    const root = await tmp();
    const src = join(root, 'src');
    await mkdir(join(src, 'id'), { recursive: true });
    await writeFile(join(src, 'data.tar'), Buffer.alloc(3000, 7));
    await symlink('../data.tar', join(src, 'id', 'layer.tar'));
    const archive = join(root, 'gnu.tar');
    execFileSync('tar', ['-cf', archive, '-C', src, '.']);
    const file = await FileSource.open(archive);
    try {
      const tar = await OuterTar.read(file, archive);
      expect(new Set(tar.names())).toEqual(new Set(['id', 'id/layer.tar', 'data.tar']));
      expect(await readAll(tar.open('id/layer.tar'))).toEqual(Buffer.alloc(3000, 7));
    } finally {
      await file.close();
    }
  });
});
