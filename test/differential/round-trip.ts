/**
 * `imgfs export` of an image, read back by GNU tar (extracted as root), Python's tarfile and imgfs
 * itself, must equal the merged view it was exported from, field by field. The export runs the CLI's
 * `main` in-process: the same command, without a Node start-up per archive.
 */
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { expect } from 'vitest';
import type { CliIO } from '../../lib/cli/context.js';
import { main } from '../../lib/cli/main.js';
import { expectSameTree, pythonTree } from './compare-views.js';
import { BIG_FILE, gnuTarTree, imgfsTree, pythonMembers, type PathView, type PythonMember, type TreeView } from './readers.js';

/** `imgfs export -o OUT SOURCE` in-process; resolves to its exit status and stderr. */
export async function exportImage(source: string | string[], out: string): Promise<{ code: number; stderr: string }> {
  const chunks: Buffer[] = [];
  const sink = (keep: boolean): Writable =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (keep) chunks.push(Buffer.from(chunk));
        callback();
      },
    });
  const io: CliIO = { stdout: sink(false), stderr: sink(true), stdoutIsTTY: false, stderrIsTTY: false, columns: 80, env: {}, now: Date.now };
  const code = await main(['export', '-o', out, Array.isArray(source) ? source.join(':') : source, '--no-cache'], io);
  return { code, stderr: Buffer.concat(chunks).toString('utf8') };
}

/** Exports each source and checks the three readers against its merged view; Python runs once for all. */
export async function expectExportRoundTrips(sources: ReadonlyArray<{ label: string; source: string | string[] }>, scratch: string): Promise<void> {
  const exported: Array<{ label: string; out: string; original: TreeView }> = [];
  for (const { label, source } of sources) {
    const original = await imgfsTree(source);
    const out = join(scratch, `${label.replace(/[^A-Za-z0-9.-]/g, '_')}.export.tar`);
    const result = await exportImage(source, out);
    expect(result.code, `${label}: export`).toBe(0);
    // Warnings (members the view skips, e.g. a GNU dumpdir) are fine; nothing else may be said.
    expect(result.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('imgfs: warning: ')), `${label}: export`).toEqual([]);
    expectSameTree(await imgfsTree(out), original, `${label}: imgfs reading its export`);
    const gnu = gnuTarTree(out);
    expect(gnu.error, `${label}: GNU tar extracting the export`).toBeUndefined();
    // Extraction into a temp dir keeps no xattrs on filesystems without user xattrs; Python checks them.
    expectSameTree(gnu.tree, asChowned(original), `${label}: GNU tar extracting the export`, { ignore: ['xattrs'], symlinkModes: 'linux' });
    exported.push({ label, out, original });
  }
  const listings = pythonMembers(exported.map(({ out }) => out));
  for (const { label, out, original } of exported) {
    const members = listings.get(out);
    expect(members, `${label}: Python tarfile reading the export`).toBeInstanceOf(Array);
    expectSameTree(pythonTree(members as PythonMember[]), withoutBigHashes(original), `${label}: Python tarfile reading the export`);
  }
}

export async function expectExportRoundTrip(source: string | string[], scratch: string, label: string): Promise<void> {
  await expectExportRoundTrips([{ label, source }], scratch);
}

/** uid or gid 4294967295 is (uid_t)-1 to chown(2), "leave unchanged": extracted as root, it stays 0. */
function asChowned(tree: TreeView): TreeView {
  const copy: TreeView = new Map();
  const id = (value: number): number => (value === 0xffffffff ? 0 : value);
  for (const [path, view] of tree) copy.set(path, { ...view, uid: id(view.uid), gid: id(view.gid) });
  return copy;
}

/** Python does not read files beyond BIG_FILE (see readers.ts): their content is compared by the others. */
function withoutBigHashes(tree: TreeView): TreeView {
  const copy: TreeView = new Map();
  for (const [path, view] of tree) {
    copy.set(path, view.type === 'file' && view.size > BIG_FILE ? ({ ...view, sha256: 'not read (big file)' } satisfies PathView) : view);
  }
  return copy;
}
