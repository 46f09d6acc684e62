/**
 * How many request-body bytes the proxy may hold in memory at once. A route that rewrites or checks
 * `model` reads each body whole, and while it is parsed a body costs about four times its size (the
 * bytes, the string, the parse tree, the rewritten copy): under the component's default 256Mi limit,
 * eight concurrent 9.5 MiB bodies (images sent inline) got the proxy killed for memory, every stream
 * on the pod with it (proxy/bench/README.md). Past the budget a request is answered 503 instead.
 */
import { totalmem } from "node:os";

/** What the proxy needs besides the bodies it holds, at its peak under load (proxy/bench/README.md). */
export const BODY_BUDGET_BASELINE_BYTES = 128 * 1024 * 1024;

/**
 * A quarter of what `memoryLimit` leaves above the baseline, for a body's four copies while it is parsed;
 * at least `maxBodyBytes`, so that under a small limit ordinary bodies are still served side by side.
 */
export function defaultBodyBudget(memoryLimit: number, maxBodyBytes: number): number {
  return Math.max(maxBodyBytes, Math.floor((memoryLimit - BODY_BUDGET_BASELINE_BYTES) / 4));
}

/** The memory limit of the process's cgroup (the container's), or the machine's memory without one. */
export function memoryLimit(): number {
  const total = totalmem();
  // An unlimited cgroup reads as a huge number (2^63 or 2^44 and so on), and none as 0.
  const constrained = process.constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < total ? constrained : total;
}
