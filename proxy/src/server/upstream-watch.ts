/**
 * The upstream headers and body timeouts of every exchange in progress, checked by one timer per proxy
 * server rather than one or two per request.
 *
 * undici's own timeouts (`headersTimeout`, `bodyTimeout`) allocate a timer and a `WeakRef` for every
 * request and keep the timer in a list until a sweep up to a second later. Under load each of them
 * outlives two young-generation collections, so every request left garbage in the old generation: about
 * half of what a busy proxy promoted, and ~3.5% of its CPU per request (proxy/bench/README.md, fix 16).
 * Here an exchange only flips a flag when it makes progress; the sweep does the rest.
 *
 * A timeout fires at least its limit after the last progress and at most one sweep interval
 * ({@link SWEEP_MS}) later: progress is dated by the first sweep that sees it, never earlier than it
 * happened, so nothing ever times out early.
 */
import { performance } from "node:perf_hooks";

/** How often the exchanges in progress are checked. */
export const SWEEP_MS = 250;

/** What the watch needs from an exchange. */
export interface Watched {
  /** Its place in the watch's list; -1 when not watched. */
  watchIndex: number;
  /** Checks its timeouts at `now` (performance.now() of this sweep); may stop the exchange (and unwatch it). */
  checkTimeouts(now: number): void;
}

export class UpstreamWatch {
  private readonly list: Watched[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  /** Watches an exchange until {@link remove}. Starts the sweep on first use. */
  add(x: Watched): void {
    if (x.watchIndex >= 0) return;
    x.watchIndex = this.list.length;
    this.list.push(x);
    if (this.timer === null && !this.stopped) this.timer = setInterval(this.sweep, SWEEP_MS).unref();
  }

  /** Stops watching an exchange (in constant time: the last one takes its place). */
  remove(x: Watched): void {
    const at = x.watchIndex;
    if (at < 0) return;
    x.watchIndex = -1;
    const last = this.list.pop()!;
    if (last !== x) {
      this.list[at] = last;
      last.watchIndex = at;
    }
  }

  get size(): number {
    return this.list.length;
  }

  /** Stops the sweep for good (the server is closing); exchanges still in progress are no longer timed. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Checks every exchange. From the end down, so none is skipped when checks remove exchanges: the one
   * that takes a removed one's place comes from the end, checked already (an exchange removed below the
   * current place is replaced by one that is then checked twice, which is harmless).
   */
  readonly sweep = (): void => {
    const now = performance.now();
    const list = this.list;
    for (let i = list.length - 1; i >= 0; i--) {
      if (i < list.length) list[i]!.checkTimeouts(now);
    }
  };
}
