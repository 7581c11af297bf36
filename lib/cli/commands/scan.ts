/**
 * `imgfs scan`: a file catalog of the merged view, like syft's: one line per visible regular file, in
 * archive order (each layer read once), with its hash and a MIME type guessed from its name. Files
 * that an upper layer deleted or replaced never appear.
 */

import { getHashes } from '../../lazy-crypto.js';
import { lastValue, UsageError } from '../args.js';
import type { CommandSpec } from '../context.js';

export const scan: CommandSpec = {
  name: 'scan',
  summary: 'list every visible regular file once, in archive order, optionally hashed',
  usage: '[--json] [--hash ALG] [--include GLOB]... [--exclude GLOB]... [--max-size BYTES] IMAGE',
  details:
    'GLOBs match absolute paths: ** any depth, * within a name, ? one character; a GLOB without / matches the name anywhere (*.so). ' +
    'Without --json each line is: [HASH  ]SIZE  LAYER  MIME  PATH.',
  options: [
    { long: 'json', help: 'one JSON object per file (NDJSON): path, size, mode, uid, gid, layer, mime, and the hash' },
    { long: 'hash', value: true, valueName: 'ALG', help: 'hash each file\'s content (sha256, sha512, sha1, md5)' },
    { long: 'include', value: true, valueName: 'GLOB', help: 'only files matching GLOB (repeatable)' },
    { long: 'exclude', value: true, valueName: 'GLOB', help: 'skip files matching GLOB (repeatable)' },
    { long: 'max-size', value: true, valueName: 'BYTES', help: 'skip files larger than BYTES' },
  ],
  paths: { min: 0, max: 0 },
  // Opened lazily: the scan indexes the layers itself, top-down, hashing each layer's files in the
  // pass that indexes it (one decode per layer).
  lazy: true,
  async run(ctx) {
    const algorithm = lastValue(ctx.args, 'hash');
    if (algorithm !== undefined && !['sha256', 'sha512', 'sha1', 'md5'].includes(algorithm)) {
      throw new UsageError(`--hash: unsupported algorithm '${algorithm}' (use sha256, sha512, sha1 or md5)`);
    }
    if (algorithm !== undefined && !getHashes().includes(algorithm)) throw new UsageError(`--hash: '${algorithm}' is not available here`);
    const maxSize = lastValue(ctx.args, 'max-size');
    if (maxSize !== undefined && !/^\d+$/.test(maxSize)) throw new UsageError(`--max-size: not a number of bytes: '${maxSize}'`);
    const json = ctx.args.flags.has('json');
    // Loaded here, not at start-up: its database is large and only this command needs it.
    const { lookup } = await import('mime-types');
    const mimeOf = (path: string): string => lookup(path) || 'application/octet-stream';

    const files = ctx.img.scan({
      include: ctx.args.values.get('include') ?? [],
      exclude: ctx.args.values.get('exclude') ?? [],
      ...(maxSize === undefined ? {} : { maxFileSize: Number(maxSize) }),
      ...(algorithm === undefined ? {} : { hash: algorithm }),
    });
    for await (const file of files) {
      const digest = file.digest;
      const mime = mimeOf(file.path);
      const { size, uid, gid } = file.stats;
      if (json) {
        const record: Record<string, string | number> = { path: file.path, size, mode: file.stats.mode & 0o7777, uid, gid, layer: file.layer, mime };
        if (algorithm !== undefined && digest !== undefined) record[algorithm] = digest;
        await ctx.out.line(JSON.stringify(record));
      } else {
        await ctx.out.line(`${digest === undefined ? '' : `${digest}  `}${size}  ${file.layer}  ${mime}  ${file.path}`);
      }
    }
  },
};
