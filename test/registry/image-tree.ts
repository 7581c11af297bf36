import type { ImageFS } from '../../lib/index.js';

/** Every path with its type, mode, size, owner and (for files) content, as one comparable list. */
export async function imageTree(fs: ImageFS): Promise<string[]> {
  const out: string[] = [];
  for await (const { path, stats } of fs.walk('/')) {
    let line = `${path} ${stats.mode.toString(8)} ${stats.size} ${stats.uid}:${stats.gid}`;
    if (stats.isFile()) line += ` ${(await fs.readFile(path)).toString('base64')}`;
    if (stats.isSymbolicLink()) line += ` -> ${await fs.readlink(path)}`;
    out.push(line);
  }
  return out;
}
