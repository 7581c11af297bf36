/**
 * `imgfs cat`: file bytes to stdout, file after file, streamed (never a whole file in memory).
 * Symlinks are followed inside the image root. A reader that closes the pipe ends the command
 * quietly: the Output turns EPIPE into PipeClosed, which main() treats as a normal end.
 */

import { hasFileRegions } from '../../fs/file-regions.js';
import type { CommandSpec, Context } from '../context.js';

/**
 * The first read, made without a stream: most files a `cat` asks for are smaller, and a Readable with
 * its async iterator is more work than the read itself in a warm `cat` that lasts ~45 ms. The stream
 * chunk size, so memory stays what a stream would hold.
 */
const FIRST_READ = 64 * 1024;

export const cat: CommandSpec = {
  name: 'cat',
  summary: 'write file contents to stdout',
  usage: 'IMAGE PATH...',
  options: [],
  paths: { min: 1, max: Infinity },
  lazy: true,
  fewPaths: true,
  async run(ctx) {
    for (const path of ctx.paths) {
      try {
        await copyFile(ctx, path);
      } catch (error) {
        ctx.pathFailed(path, error);
      }
    }
  },
};

/**
 * No `stat` first: the stream itself fails for a directory (EISDIR) or a missing path, and a stat
 * would compute what cat never prints (`nlink`, which builds every layer's hard-link index).
 */
async function copyFile(ctx: Context, path: string): Promise<void> {
  let start = 0;
  if (hasFileRegions(ctx.img)) {
    const head = await ctx.img.readRange(path, 0, FIRST_READ);
    if (head.length > 0) await ctx.out.write(head);
    if (head.length < FIRST_READ) return;
    start = FIRST_READ;
  }
  const stream = ctx.img.createReadStream(path, { start });
  try {
    for await (const chunk of stream) await ctx.out.write(chunk as Buffer);
  } finally {
    stream.destroy();
  }
}
