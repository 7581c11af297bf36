/**
 * DESIGN.md's architecture as a test: data flows one way, and each folder knows nothing of the stages
 * above it. A stage that reaches into a later one (or lib/fs into how bytes are stored) fails here,
 * naming the file and the import.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../cli/run-cli.js';

/** Folder under lib/ → the folders under lib/ it must not import from. */
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  source: ['tar', 'image', 'layer', 'table', 'merge', 'fs', 'cli', 'mount'],
  tar: ['image', 'layer', 'table', 'merge', 'fs', 'cli', 'mount'],
  image: ['layer', 'merge', 'fs', 'cli', 'mount'],
  layer: ['merge', 'fs', 'cli', 'mount'],
  table: ['source', 'image', 'layer', 'merge', 'fs', 'cli', 'mount'],
  merge: ['source', 'tar', 'image', 'layer', 'fs', 'cli', 'mount'],
  // The public API knows layers, not how their bytes are stored or walked.
  fs: ['source', 'tar', 'cli', 'mount'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

describe('layering', () => {
  it.each(Object.entries(FORBIDDEN))('lib/%s imports no later stage', (folder, forbidden) => {
    const offending: string[] = [];
    for (const file of sources(join(repoRoot, 'lib', folder))) {
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/from '(\.\.?\/[^']+)'/g)) {
        const resolved = relative(join(repoRoot, 'lib'), join(file, '..', target as string));
        const top = resolved.split('/')[0] ?? '';
        if (forbidden.includes(top)) offending.push(`${relative(repoRoot, file)} imports ${target}`);
      }
    }
    expect(offending).toEqual([]);
  });
});
