/**
 * The indexing progress bar: on stderr only, only for a terminal, and only once indexing has taken
 * longer than `delayMs` (fast opens stay silent). Fed by `OpenOptions.onProgress`.
 */

import type { Writable } from 'node:stream';
import type { IndexProgress } from '../index.js';
import { humanBytes } from './format.js';

export interface ProgressOptions {
  /**
   * Whether to draw at all (stderr is a TTY and not --quiet). A function is asked only when a bar is
   * due (after `delayMs`), so that a fast command never looks at stderr: creating process.stderr costs
   * a warm start ~1–2 ms (for a pipe it loads node:net).
   */
  enabled: boolean | (() => boolean);
  delayMs?: number;
  /**
   * A registry image: the bar shows the layer being downloaded (`downloading layer 3: 2.0 MiB / 7.0
   * MiB`), since a lazy question may fetch one layer of many.
   */
  perLayer?: boolean;
  /** Width of the terminal, for the bar. */
  columns?: number | undefined;
  now?: () => number;
}

export class ProgressBar {
  private last: IndexProgress | undefined;
  private drawn = false;
  private lastDraw = 0;
  private readonly started: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly delayMs: number;
  private readonly now: () => number;

  constructor(
    private readonly stream: Pick<Writable, 'write'>,
    private readonly options: ProgressOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.started = this.now();
    this.delayMs = options.delayMs ?? 1000;
    if (options.enabled !== false) {
      // Draws even when no progress event comes after the delay (one large layer being indexed).
      this.timer = setInterval(() => this.draw(), 250);
      this.timer.unref();
    }
  }

  /** The `onProgress` callback. */
  readonly update = (progress: IndexProgress): void => {
    this.last = progress;
    if (this.now() - this.lastDraw >= 100) this.draw();
  };

  /** Stops the timer and erases the bar, so the next stderr line starts clean. */
  done(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  /** The text of the bar, without the carriage return (exported for tests). */
  render(progress: IndexProgress | undefined, width: number): string {
    const perLayer = this.options.perLayer === true && progress?.layerBytesTotal !== undefined;
    const done = (perLayer ? progress?.layerBytesDone : progress?.bytesDone) ?? 0;
    const total = (perLayer ? progress?.layerBytesTotal : progress?.bytesTotal) ?? 0;
    const ratio = total > 0 ? Math.min(1, done / total) : 0;
    const what = perLayer ? `downloading layer ${progress?.layer ?? 0}:` : 'indexing';
    const label = `${what} ${humanBytes(done)} / ${humanBytes(total)} ${String(Math.floor(ratio * 100)).padStart(3)}%`;
    const barWidth = Math.max(10, Math.min(40, width - label.length - 4));
    const filled = Math.round(ratio * barWidth);
    return `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${label}`;
  }

  private draw(): void {
    const now = this.now();
    if (now - this.started < this.delayMs) return;
    const { enabled } = this.options;
    if (!(typeof enabled === 'function' ? enabled() : enabled)) {
      if (this.timer !== undefined) clearInterval(this.timer);
      return;
    }
    this.lastDraw = now;
    this.drawn = true;
    this.stream.write(`\r${this.render(this.last, this.options.columns ?? 80)}\x1b[K`);
  }
}
