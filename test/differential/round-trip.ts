/**
 * `imgfs export` of an image, read back by GNU tar (extracted as root), Python's tarfile and imgfs
 * itself, must equal the merged view it was exported from, field by field.
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import { imgfs } from '../cli/run-cli.js';
import { expectSameTree } from './compare-views.js';
import { gnuTarTree, imgfsTree, pythonMembers, type TreeView } from './readers.js';
import { pythonTree } from './compare-views.js';

export async function expectExportRoundTrip(source: string | string[], scratch: string, label: string): Promise<TreeView> {
  const original = await imgfsTree(source);
  const out = join(scratch, `${label.replace(/[^A-Za-z0-9.-]/g, '_')}.export.tar`);
  const result = await imgfs(['export', '-o', out, Array.isArray(source) ? source.join(':') : source]);
  expect(result.stderr, `${label}: export`).toBe('');
  expect(result.code, `${label}: export`).toBe(0);

  expectSameTree(await imgfsTree(out), original, `${label}: imgfs reading its export`);
  const gnu = gnuTarTree(out);
  expect(gnu.error, `${label}: GNU tar extracting the export`).toBeUndefined();
  // Extraction into a temp dir keeps no xattrs on filesystems without user xattrs; Python checks them.
  expectSameTree(gnu.tree, original, `${label}: GNU tar extracting the export`, { ignore: ['xattrs'], symlinkModes: 'linux' });
  expectSameTree(pythonTree(pythonMembers(out)), original, `${label}: Python tarfile reading the export`);
  return original;
}
