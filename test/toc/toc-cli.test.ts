/** `imgfs layers` names the TOC formats in its compression column; an unusable TOC is a warning on stderr. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { imgfs } from '../cli/run-cli.js';
import { writeEstargz, writeOciLayer, writeZstdChunked, type FixtureEntry } from './toc-writer.js';

const ENTRIES: FixtureEntry[] = [{ name: 'etc/', type: 'dir' }, { name: 'etc/motd', data: 'welcome\n' }];
const root = mkdtempSync(join(tmpdir(), 'imgfs-toc-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('imgfs layers', () => {
  it.each([
    ['estargz', () => writeEstargz(ENTRIES, { landmark: true }), 'application/vnd.oci.image.layer.v1.tar+gzip'],
    ['zstd:chunked', () => writeZstdChunked(ENTRIES), 'application/vnd.oci.image.layer.v1.tar+zstd'],
  ] as const)('shows %s in the compression column, and the layer reads', async (format, write, mediaType) => {
    const dir = writeOciLayer(join(root, format.replace(':', '-')), write(), mediaType);
    const table = await imgfs(['layers', dir]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n')[1]).toMatch(new RegExp(`\\s${format}\\s`));
    const json = await imgfs(['layers', '--json', dir]);
    expect((JSON.parse(json.stdout) as Array<{ compression: string }>)[0]?.compression).toBe(format);
    const ls = await imgfs(['ls', '-a', dir, '/']);
    expect(ls.stdout.trim().split('\n')).toEqual(['.', '..', 'etc']);
  });

  it('says why a TOC is not used, and shows the plain compression', async () => {
    const dir = writeOciLayer(join(root, 'stale'), writeEstargz(ENTRIES, { staleDigest: true, tamper: (toc) => toc.entries.pop() }), 'application/vnd.oci.image.layer.v1.tar+gzip');
    const result = await imgfs(['layers', '--json', dir]);
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as Array<{ compression: string }>)[0]?.compression).toBe('gzip');
    expect(result.stderr).toContain('EDIGEST');
    expect(result.stderr).toContain('reading the layer as a plain gzip stream');
  });
});
