/**
 * Structured JSON logs (pino). Writes are asynchronous and batched (4 KiB, or every 100 ms) so logging
 * stays off the request's critical path; {@link flushLogger} drains the buffer before the process exits. The proxy logs one line
 * per request and never a credential, a header value or a body.
 */
import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  level?: string;
  /** Where lines go. Default: stdout, asynchronously. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  // Batched: one write per request line (minLength 0) cost ~15% of the proxy's CPU per request
  // (proxy/bench/README.md); the periodic flush still gets a quiet proxy's lines out within 100 ms.
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 100 });
  return pino(
    {
      level: options.level ?? "info",
      base: undefined,
      formatters: { level: (label) => ({ level: label }) },
      // Defence in depth: these never reach a log call, but if one ever did it would be masked.
      redact: { paths: ["headers.authorization", "headers[\"x-api-key\"]", "headers[\"api-key\"]", "key", "apiKey"], censor: "[redacted]" },
    },
    destination,
  );
}

/** Flushes buffered log lines synchronously (at exit). */
export function flushLogger(logger: Logger): void {
  try {
    logger.flush();
    const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { flushSync?: () => void } | undefined;
    stream?.flushSync?.();
  } catch {
    // The destination may already be closed.
  }
}
