import { execFileSync } from 'node:child_process';

/** Whether a command is on PATH (tests that need a real producer or peer skip, or fail in CI, without it). */
export function onPath(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
