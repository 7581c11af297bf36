import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage, type ImgfsWarning } from '../../lib/index.js';
import { expectImgfsError } from '../helpers/expect-imgfs-error.js';
import { buildLayer, dir, file, hardlink, type LayerEntrySpec } from '../helpers/layer-tar.js';
import { openLayers } from '../helpers/open-layers.js';

/** A hard link whose target no layer has (R7: dropped with a warning). */
const danglingLink: LayerEntrySpec[][] = [[file('present', 'p')], [dir('links/'), hardlink('links/dangling', 'missing/target')]];
/** A file and a member below it in the same layer (dropped with a warning). */
const belowAFile: LayerEntrySpec[][] = [[file('a', 'file'), file('a/b', 'under a file'), file('ok', 'fine')]];
/** A tape volume label: a member type imgfs does not serve (skipped with a warning). */
const volumeLabel: LayerEntrySpec[][] = [[{ ...file('label', 'vol'), typeflag: 'V' }, file('kept', 'k')]];

describe('warnings as data', () => {
  it('a dropped hard link is EHARDLINK, naming the layer and the link', async () => {
    const seen: ImgfsWarning[] = [];
    const { fs } = await openLayers(danglingLink, { onWarning: (warning) => seen.push(warning) });
    expect(await fs.readdir('/links')).toEqual([]);
    expect(seen).toHaveLength(1);
    const [warning] = seen;
    expect(warning).toMatchObject({ code: 'EHARDLINK', layer: { index: 1 }, path: '/links/dangling' });
    expect(warning?.message).toMatch(/^layer 1: hard link \/links\/dangling -> \/missing\/target dropped: target not found$/);
  });

  it('a member below a file of the same layer is ECONFLICT; an unsupported member type is EUNSUPPORTED', async () => {
    const conflicts: ImgfsWarning[] = [];
    const { fs } = await openLayers(belowAFile, { onWarning: (warning) => conflicts.push(warning) });
    expect(await fs.readFile('/a', 'utf8')).toBe('file');
    expect(conflicts).toEqual([{ code: 'ECONFLICT', message: 'layer 0: /a/b dropped: /a is a file in the same layer', layer: { index: 0, digest: undefined }, path: '/a/b' }]);

    const unsupported: ImgfsWarning[] = [];
    const opened = await openLayers(volumeLabel, { onWarning: (warning) => unsupported.push(warning) });
    expect(await opened.fs.readdir('/')).toEqual(['kept']);
    expect(unsupported).toMatchObject([{ code: 'EUNSUPPORTED', layer: { index: 0 }, path: '/label' }]);
    expect(unsupported[0]?.message).toContain("unsupported tar entry type 'V'");
  });
});

describe('strict', () => {
  it('turns a warning met while indexing into a rejection of the open, with an ImgfsError of its code naming the layer', async () => {
    await expectImgfsError(openLayers(belowAFile, { strict: true }), { code: 'ECONFLICT', layer: 0, message: '/a/b dropped' });
    await expectImgfsError(openLayers(volumeLabel, { strict: true }), { code: 'EUNSUPPORTED', layer: 0, message: "type 'V'" });
  });

  it('turns a warning met by a question (a hard link is resolved when reached) into a rejection of that question, every time', async () => {
    for (const lazy of [false, true]) {
      const { fs } = await openLayers(danglingLink, { strict: true, lazy });
      expect(await fs.readFile('/present', 'utf8')).toBe('p');
      await expectImgfsError(fs.readdir('/links'), { code: 'EHARDLINK', layer: 1, message: '/links/dangling' });
      await expectImgfsError(fs.lstat('/links/dangling'), { code: 'EHARDLINK', layer: 1 });
    }
  });

  it('an image without problems opens as usual', async () => {
    const { fs, warnings } = await openLayers([[file('a', 'x')], [hardlink('b', 'a')]], { strict: true });
    expect(await fs.readFile('/b', 'utf8')).toBe('x');
    expect(warnings).toEqual([]);
  });

  const scratch = mkdtempSync(join(tmpdir(), 'imgfs-warnings-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('leaves cache problems (ECACHE, about this machine, not the image) as warnings', async () => {
    const layer = join(scratch, 'layer.tar');
    writeFileSync(layer, buildLayer([file('a', 'x')]));
    const cache = join(scratch, 'cache');
    await (await openImage([layer], { cache })).close();
    const [version] = readdirSync(cache);
    const cacheDir = join(cache, version as string);
    for (const name of readdirSync(cacheDir)) writeFileSync(join(cacheDir, name), 'not a table');

    const seen: ImgfsWarning[] = [];
    const fs = await openImage([layer], { cache, strict: true, onWarning: (warning) => seen.push(warning) });
    expect(await fs.readFile('/a', 'utf8')).toBe('x');
    await fs.close();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ code: 'ECACHE', message: expect.stringMatching(/unusable.*rebuilding it/) });
  });
});
