/**
 * A foreground mount ends cleanly on SIGINT (Ctrl-C) and SIGTERM (`kill`, systemd, docker stop):
 * the filesystem is unmounted (lazily, so readers that still hold files do not keep it busy)
 * before the process exits, and no stale mount point ("Transport endpoint is not connected") is left.
 */
import type { MountHandle } from './mount.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Unmounts `handle` on the first of these signals; returns a function that stops listening. */
export function unmountOnSignals(handle: MountHandle, onSignal: (signal: string) => void = () => undefined): () => void {
  const listener = (signal: NodeJS.Signals): void => {
    onSignal(signal);
    void handle.unmount().catch(() => undefined);
  };
  for (const signal of SIGNALS) process.on(signal, listener);
  const stop = (): void => {
    for (const signal of SIGNALS) process.off(signal, listener);
  };
  void handle.unmounted.then(stop);
  return stop;
}
