/**
 * Structured JSON logs (pino). Writes are asynchronous and batched (4 KiB, or every 100 ms) so logging
 * stays off the request's critical path; {@link flushLogger} drains the buffer before the process exits. The proxy logs one line
 * per request and never a credential, a header value or a body. Request lines are gathered for up to
 * {@link REQUEST_LINES_MS} ms (or {@link REQUEST_LINES_MAX} lines) before they reach pino's buffer; any
 * other line flushes them first, so the output keeps its order.
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
  // (proxy/bench/HISTORY.md); the periodic flush still gets a quiet proxy's lines out within 100 ms.
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 100 });
  return pino(
    {
      level: options.level ?? "info",
      // Request lines gathered before this line go out before it.
      hooks: { streamWrite: (line) => (requestLines.get(destination)?.flush(), line) },
      base: undefined,
      formatters: { level: (label) => ({ level: label }) },
      // Defence in depth: these never reach a log call, but if one ever did it would be masked.
      redact: { paths: ["headers.authorization", "headers[\"x-api-key\"]", "headers[\"api-key\"]", "key", "apiKey"], censor: "[redacted]" },
    },
    destination,
  );
}

/** What one request's log line says. Strings from the client or the upstream are escaped. */
export interface RequestRecord {
  reqId: string;
  method: string;
  path: string;
  route: string | undefined;
  backend: string | undefined;
  status: number;
  durMs: number;
  ttfbMs: number | undefined;
  stream: boolean;
  bytesOut: number;
  error: string | null;
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  upstreamRequestId: string | undefined;
  /**
   * Work left for later: called once, just before the line is built with the rest of its batch (or at
   * once when the logger's level drops the line), to fill in what is costly to compute, such as the
   * token counts. Whatever else it records (metrics) happens then too.
   */
  complete?: (r: RequestRecord) => void;
}

const INFO = 30;
const WARN = 40;

/**
 * Writes the per-request line: the line `logger.info(record, "request")` would write (same keys, order
 * and level/time/msg framing; `test/admin.test.ts` compares the two), serialized directly. pino's generic
 * path walks the object key by key and, with sonic-boom's per-line appends, was the largest source of
 * allocation per request, about a quarter of it (proxy/bench/HISTORY.md). Numbers are finite by
 * construction; every string is written as `JSON.stringify` writes it ({@link jsonString}). Warn level when `warn`, else info; nothing
 * when the logger's level is above it. The record is kept, with its time, and serialized with the other
 * pending ones when they are handed to the destination (see {@link RequestLines}): the caller must not
 * change it afterwards.
 */
export function logRequest(logger: Logger, r: RequestRecord, warn: boolean): void {
  if (logger.levelVal > (warn ? WARN : INFO)) return completeRecord(r);
  linesOf(logger).add(r, warn, Date.now());
}

/** Completes and writes the pending request records now (before metrics are read, for one). */
export function flushRequestLines(logger: Logger): void {
  requestLines.get(destinationOf(logger))?.flush();
}

/** Runs a record's {@link RequestRecord.complete}, once. */
function completeRecord(r: RequestRecord): void {
  const complete = r.complete;
  if (complete === undefined) return;
  r.complete = undefined;
  complete(r);
}

function serialize(r: RequestRecord, warn: boolean, time: number): string {
  completeRecord(r);
  let line = `{"level":"${warn ? "warn" : "info"}","time":${time},"reqId":${jsonString(r.reqId)},"method":${jsonString(r.method)},"path":${jsonString(r.path)}`;
  if (r.route !== undefined) line += `,"route":${jsonString(r.route)}`;
  if (r.backend !== undefined) line += `,"backend":${jsonString(r.backend)}`;
  line += `,"status":${r.status},"durMs":${millis(r.durMs)}`;
  if (r.ttfbMs !== undefined) line += `,"ttfbMs":${millis(r.ttfbMs)}`;
  if (r.stream) line += `,"stream":true`;
  if (r.bytesOut > 0) line += `,"bytesOut":${r.bytesOut}`;
  if (r.error !== null) line += `,"error":${jsonString(r.error)}`;
  if (r.inputTokens !== undefined) line += `,"inputTokens":${r.inputTokens},"outputTokens":${r.outputTokens ?? 0}`;
  if (r.upstreamRequestId !== undefined) line += `,"upstreamRequestId":${jsonString(r.upstreamRequestId)}`;
  return `${line},"msg":"request"}\n`;
}

/**
 * `JSON.stringify(s)`. Most strings in a line (ids, methods, route and backend names, paths, error codes)
 * are printable ASCII without a quote or a backslash, which JSON writes as they are: those are quoted
 * here, without the cost of a call into the stringifier (the largest part of a line's cost); any other
 * string goes through `JSON.stringify`.
 */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/**
 * `String(ms)` for a duration in milliseconds rounded to the microsecond (a multiple of 0.001, as the
 * records hold them), written from its integer microseconds: the same digits as the number's shortest
 * decimal form, without the floating-point to decimal conversion. Negative or very large values (which a
 * record never holds) fall back to `String`.
 */
export function millis(ms: number): string {
  const us = Math.round(ms * 1000);
  if (!(us >= 0 && us < 1e15) || Math.abs(ms * 1000 - us) > 1e-6) return String(ms);
  const whole = Math.floor(us / 1000);
  const frac = us - whole * 1000;
  if (frac === 0) return String(whole);
  if (frac % 100 === 0) return `${whole}.${frac / 100}`;
  if (frac % 10 === 0) return `${whole}.${frac < 100 ? "0" : ""}${frac / 10}`;
  return `${whole}.${frac < 10 ? "00" : frac < 100 ? "0" : ""}${frac}`;
}

/** How long a request line may wait before it is handed to pino's destination, and how many may. */
export const REQUEST_LINES_MS = 20;
export const REQUEST_LINES_MAX = 128;

/**
 * Pending request records, serialized together and handed to the destination as one string every
 * {@link REQUEST_LINES_MS} ms or {@link REQUEST_LINES_MAX} lines. pino's asynchronous destination
 * (sonic-boom) appends each write to its pending buffer and measures that buffer's byte length first,
 * which flattens it: line by line, that copies the whole pending buffer again for every line. Handing
 * lines over once per event-loop turn still cost a busy proxy about 7% of its CPU per request (one
 * immediate and one append per turn); one timer per 20 ms does not. Serializing a batch in one loop,
 * rather than each line between two requests, runs the serializer with its code and data warm
 * (proxy/bench/HISTORY.md). Nothing waits longer than pino's own periodic flush would.
 */
class RequestLines {
  private records: RequestRecord[] = [];
  private warn: boolean[] = [];
  private times: number[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly destination: DestinationStream) {}

  add(record: RequestRecord, warn: boolean, time: number): void {
    this.records.push(record);
    this.warn.push(warn);
    this.times.push(time);
    if (this.records.length >= REQUEST_LINES_MAX) this.flush();
    else if (this.timer === null) this.timer = setTimeout(this.flush, REQUEST_LINES_MS).unref();
  }

  readonly flush = (): void => {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const { records, warn, times } = this;
    if (records.length === 0) return;
    this.records = [];
    this.warn = [];
    this.times = [];
    let text = "";
    for (let i = 0; i < records.length; i++) text += serialize(records[i]!, warn[i]!, times[i]!);
    this.destination.write(text);
  };
}

/** Keyed by destination, so every logger writing to one (children too) shares its pending lines. */
const requestLines = new WeakMap<DestinationStream, RequestLines>();

function linesOf(logger: Logger): RequestLines {
  const destination = destinationOf(logger);
  let lines = requestLines.get(destination);
  if (lines === undefined) {
    lines = new RequestLines(destination);
    requestLines.set(destination, lines);
  }
  return lines;
}

/** The stream a pino logger writes to. */
function destinationOf(logger: Logger): DestinationStream {
  return (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!;
}

/** Flushes buffered log lines synchronously (at exit). */
export function flushLogger(logger: Logger): void {
  try {
    flushRequestLines(logger);
    logger.flush();
    (destinationOf(logger) as DestinationStream & { flushSync?: () => void }).flushSync?.();
  } catch {
    // The destination may already be closed.
  }
}
