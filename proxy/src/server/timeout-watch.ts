/**
 * The timeouts of every exchange in progress (its upstream's headers and body) and of every idle client
 * connection (keep-alive), checked by one timer per proxy server rather than by one or more timers per
 * request.
 *
 * undici's own timeouts (`headersTimeout`, `bodyTimeout`) allocate a timer and a `WeakRef` for every
 * request and keep the timer in a list until a sweep up to a second later. Under load each of them
 * outlived two young-generation collections, so every request left garbage in the old generation: about
 * half of what a busy proxy promoted (proxy/bench/HISTORY.md, fix 16). Node.js's keep-alive timeout
 * arms a new timer for every response and refreshes it on every read and write of the connection: ~4%
 * of the CPU per request (fix 17). Here an exchange or a connection only flips a flag when something
 * happens; the sweep does the rest.
 *
 * A timeout fires at least its limit after the last activity and at most two sweep intervals
 * ({@link SWEEP_MS}) later: activity is dated by the first sweep that sees it, never earlier than it
 * happened (so nothing ever times out early), and the sweep after the limit fires it.
 */
import { performance } from "node:perf_hooks";

/** How often the exchanges in progress and the client connections are checked. */
export const SWEEP_MS = 250;

/** What the watch needs from an exchange or a connection. */
export interface Watched {
  /** Its place in the watch's list; -1 when not watched. */
  watchIndex: number;
  /** Checks its timeouts at `now` (performance.now() of this sweep); may stop it (and unwatch it). */
  checkTimeouts(now: number): void;
}

export class TimeoutWatch {
  private readonly list: Watched[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  /** Watches an exchange or a connection until {@link remove}. Starts the sweep on first use. */
  add(x: Watched): void {
    if (x.watchIndex >= 0) return;
    x.watchIndex = this.list.length;
    this.list.push(x);
    if (this.timer === null && !this.stopped) this.timer = setInterval(this.sweep, SWEEP_MS).unref();
  }

  /** Stops watching one (in constant time: the last one takes its place). */
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

  /** Stops the sweep for good (the server is closing); nothing is timed any more. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Checks every one. From the end down, so none is skipped when checks remove some: the one that takes
   * a removed one's place comes from the end, checked already (one removed below the current place is
   * replaced by one that is then checked twice, which is harmless).
   */
  readonly sweep = (): void => {
    const now = performance.now();
    const list = this.list;
    for (let i = list.length - 1; i >= 0; i--) {
      if (i < list.length) list[i]!.checkTimeouts(now);
    }
  };
}
