/**
 * One client request and its upstream exchange: the proxy's data path.
 *
 * The `Exchange` object is itself the undici dispatch handler (one allocation per request). Bodies are
 * streamed both ways with backpressure; only a route that rewrites or checks `model` reads the request
 * body into memory, bounded by the body limit. Everything sent upstream (origin, path, Host, key) comes
 * from the compiled configuration; the client contributes only the path it asked for (validated, and
 * replaced or rewritten as configured), the query string, its other headers and the body.
 *
 * Failure handling: before any response byte is written, a failure answers with a catalogue error
 * (OpenAI shape). After an SSE response started, it ends the stream with one SSE `error` event. After
 * any other response started, the client connection is reset, since the status line is already out.
 */
import { randomBytes } from "node:crypto";
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Buffer, isUtf8 } from "node:buffer";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { timingSafeEqual } from "node:crypto";
import type { Dispatcher } from "undici";
import { ERROR_CATALOGUE, ProxyError, codeForError, errorBody, sseErrorEvent, type ErrorCode } from "./errors";
import { JSON_SCAN_FROM_BYTES, parseJsonObject, replaceModelBytes, tooManyJsonContainers } from "./model-rewrite";
import { RESPONSE_HOP_BY_HOP, findRoute, upstreamPathFor, type CompiledRoute, type MatchEntry, type RequestDetails, type RoutingTable, type Target } from "./routing-table";
import { hasDotSegment } from "../translate/path-segments";
import { StreamUsageReader, TailBuffer, type UsageReader } from "./token-usage";
import { digestKey } from "../config/resolve-credentials";
import { logRequest, type Logger, type RequestRecord } from "./logger";
import { operationForPath, type ProxyMetrics, type RouteMetrics } from "./metrics";
import type { TimeoutWatch, Watched } from "./timeout-watch";
import { failedToConnect } from "./upstream-pools";

/** What a request needs from the current config. Swapped as a whole on reload. */
export interface RuntimeState {
  readonly generation: number;
  readonly table: RoutingTable;
  readonly maxBodyBytes: number;
  /** The request-body bytes all exchanges may hold in memory at once (body-budget.ts). */
  readonly maxBufferedBodyBytes: number;
  readonly clientKeyDigests: readonly Buffer[] | null;
  /** The upstream connection pools its backends use (upstream-pools.ts). */
  readonly poolKeys: ReadonlySet<string>;
  /**
   * Exchanges routed by this config still in progress. Once a reload replaced it, its pools stay open
   * until this is 0: a request that reads its body before it is sent picks its pool before that.
   */
  inflight: number;
}

/** Shared by all exchanges of one proxy server. */
export interface ExchangeContext {
  state: RuntimeState;
  readonly logger: Logger;
  readonly metrics: ProxyMetrics;
  /** Metrics of requests that matched no route. */
  readonly unmatched: RouteMetrics;
  /** Requests in flight; the server drains them on shutdown. */
  inflight: number;
  /** Request-body bytes held in memory by the exchanges in progress, to read and parse them (body-budget.ts). */
  bufferedBodyBytes: number;
  draining: boolean;
  /**
   * Set when the shutdown's grace ends with exchanges in progress: those still running end as
   * `proxy_shutting_down`, not as a lost upstream connection or a client that left.
   */
  abandoning: boolean;
  /** Connections whose answer, given while draining, is their last (see `lastAnswer`). */
  readonly closingConnections: WeakSet<Socket>;
  onIdle: (() => void) | null;
  /** Called when the last exchange of a config that a reload replaced finishes. */
  onRetiredIdle: ((state: RuntimeState) => void) | null;
  /** Times the upstream headers and body of every exchange in progress, and idle client connections. */
  readonly watch: TimeoutWatch;
  /** How long an idle client connection is kept (after its last response); 0: for ever. */
  readonly clientKeepAliveMs: number;
}

/**
 * Makes `res` its connection's last answer (`Connection: close`): while draining, the answer to the latest
 * request on a connection (`Exchange.answersLast`), whenever it came, so that the client sends its next
 * request to another pod instead of racing the close at the end of the drain.
 */
export function lastAnswer(ctx: ExchangeContext, socket: Socket | null, res: ServerResponse): void {
  if (socket !== null) ctx.closingConnections.add(socket);
  res.shouldKeepAlive = false;
}

/**
 * Bodies up to this size are left out of the memory budget (body-budget.ts): 50 requests of 64 KiB in
 * flight cost ~13 MB even at four copies each, which the budget's baseline covers.
 */
const SMALL_BODY_BYTES = 64 * 1024;

/** What an exchange is waiting for from the upstream, for its headers and body timeouts. */
const WAIT_NONE = 0; // nothing timed: not sent yet, or the client is holding the response back
const WAIT_HEADERS = 1;
const WAIT_BODY = 2;

/** Socket errors that, while a TLS connection is being opened, mean the upstream cut the handshake short. */
const HANDSHAKE_CUT: ReadonlySet<unknown> = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]);

type DispatchOptionsWithServername = Dispatcher.DispatchOptions & { servername?: string };

const JSON_HEADERS = { "content-type": "application/json" } as const;
/** Methods whose requests carry a body, the JSON one that `model` is read from. */
const BODY_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH"]);
const SSE_PREFIX = "text/event-stream";
const LF = 0x0a;
const CR = 0x0d;
/**
 * An event stream's last line is held back up to this long while it is incomplete (`Exchange.wholeLines`):
 * memory per open stream, so bounded by what chat events need (tokens, tool-call fragments), not by the
 * longest line an upstream may send, which then flows as it comes.
 */
export const MAX_HELD_LINE_BYTES = 64 * 1024;
const ENCODED_SEPARATOR = /%(?:2f|5c)/i;

/**
 * A request target is accepted only as an origin-form absolute path (RFC 9112 section 3.2.1) without dot
 * segments, encoded slashes or backslashes, so the path that reaches the upstream is exactly the one
 * routed (no `..` climbing out of a prefix rewrite, no `%2F` read as a separator by the upstream).
 * Dot segments include `..;/`-style ones ({@link hasDotSegment}). A `#` anywhere in the target (path or
 * query) is refused too, by `Exchange.start` ({@link hasFragment}).
 */
export function isSafePath(path: string): boolean {
  if (path.charCodeAt(0) !== 47 /* / */) return false;
  if (path.indexOf("%") < 0 && path.indexOf("\\") < 0 && path.indexOf("/.") < 0) return true;
  return !ENCODED_SEPARATOR.test(path) && !path.includes("\\") && !hasDotSegment(path);
}

/**
 * Whether a request target has a `#`: a fragment is not part of one (RFC 9112 section 3.2), and an upstream
 * that drops it would serve another path or query than the one routed (`/exact#` escaping an Exact match,
 * `/x#?q=1` meeting a query match the upstream never sees).
 */
export function hasFragment(url: string): boolean {
  return url.indexOf("#") >= 0;
}

/** A request target up to its query. */
function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

/** The `scheme://` or `//` that starts an absolute-form or network-path target. */
const AUTHORITY_PREFIX = /^(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?\/\//;

/**
 * The request target as the log line gives it: its path, without the query. A target that is not an
 * origin-form path (absolute-form `http://user:key@host/`, `//user:key@host/`, CONNECT's `user:key@host:443`)
 * may carry a credential before its host: everything up to its last `@` is masked, the query included,
 * since a `?` can hide inside user information (`http://u:key?@host/`). Such targets are refused
 * (`isSafePath`) but still logged.
 */
export function loggedTarget(url: string, path = pathOf(url)): string {
  if (path.charCodeAt(0) === 47 /* / */ && path.charCodeAt(1) !== 47) return path; // origin-form: no authority
  const at = url.lastIndexOf("@");
  if (at < 0) return path;
  const rest = url.slice(at);
  const restQuery = rest.indexOf("?");
  return `${AUTHORITY_PREFIX.exec(url)?.[0] ?? ""}[redacted]${restQuery < 0 ? rest : rest.slice(0, restQuery)}`;
}

// Request ids: a random per-process prefix and a counter, unique across restarts and replicas without
// per-request randomness.
const ID_PREFIX = randomBytes(6).toString("hex");
let idCounter = 0;
function nextRequestId(): string {
  return `${ID_PREFIX}-${(++idCounter).toString(36)}`;
}

function rawHeader(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}

/**
 * Node.js keeps an idle connection this much longer than the keep-alive timeout it advertises, so that a
 * client sending its next request just as the advertised time runs out does not meet a closed connection;
 * so does the proxy.
 */
const KEEP_ALIVE_BUFFER_MS = 1000;

/**
 * Exchanges in progress on one client connection at most. Node.js hands the proxy every request a client
 * pipelines as soon as it is parsed, and each would go upstream at once: one connection and one write of
 * small requests opened thousands of upstream requests, all with the provider key. Requests beyond this
 * wait, unread, until an exchange on the connection finishes; their answers are in order either way.
 */
export const MAX_PIPELINED_EXCHANGES = 16;

/**
 * Requests waiting on one client connection beyond which it is not read until they have started
 * ({@link ClientConnection.wait}).
 */
export const MAX_WAITING_REQUESTS = 256;

const CONNECTION = Symbol("connection");
type TrackedSocket = Socket & { [CONNECTION]?: ClientConnection };

/**
 * A client connection, watched from its first request on.
 *
 * - The exchanges in progress on it (more than one when the client pipelines requests) all stop at once
 *   when it closes. A response's own `close` event is not enough: when a client pipelines requests,
 *   Node.js emits it only for the response being written, and the exchanges queued behind it would keep
 *   their upstream requests open until the upstream timeouts.
 * - At most {@link MAX_PIPELINED_EXCHANGES} exchanges are in progress on it; requests pipelined beyond
 *   them wait, in order, until one finishes ({@link pipelineWaiting}); beyond
 *   {@link MAX_WAITING_REQUESTS} of them, the connection is not read until none waits.
 * - It is closed once idle for the keep-alive timeout: no exchange in progress and nothing left to write
 *   since a sweep after its last request ended, or, while an answer waits to be written, not one byte of it
 *   taken by the client (its exchanges then end as `client_closed_request`). The server's own keep-alive
 *   timer is off (proxy-server.ts): it armed a new timer for every response.
 */
class ClientConnection implements Watched {
  readonly exchanges: Exchange[] = [];
  /** Requests pipelined beyond the exchanges in progress, each a function that starts its exchange. */
  readonly waiting: (() => void)[] = [];
  /** Exchanges started on it so far: the one numbered this owes the connection's last answer in order. */
  started = 0;
  watchIndex = -1;
  /** Set when a request ends; the idle time counts from the first sweep after that. */
  active = true;
  private since = 0;
  /** The bytes the client had taken (written to its socket) at the last sweep that found an answer waiting. */
  private taken = -1;

  constructor(
    readonly socket: Socket,
    private readonly idleMs: number,
    private readonly logger: Logger,
  ) {}

  /** Reading was stopped by {@link wait}. */
  private readingStopped = false;
  /** {@link keepStopped} listens to the socket's `resume`. */
  private resumeWatched = false;
  /** A response of the connection's, whose `_onPendingData` asks Node.js whether the connection may be read ({@link startWaiting}). */
  private response: (ServerResponse & { _onPendingData?: (delta: number) => void }) | null = null;

  /**
   * Queues a request until an exchange finishes. Node.js hands the server every request it parses, and it
   * parses all a client sends: a client pipelining requests behind ones the upstream holds had every one
   * parsed and queued here, a request of some 28 bytes costing 1.5 KB of memory (its request and response
   * objects), with no bound but the connection's (560 KB sent held 31 MB). Beyond
   * {@link MAX_WAITING_REQUESTS}, the connection is no longer read (past the read being parsed) until none
   * waits: as Node.js stops reading a client that does not take its answers (`_paused`, the parser
   * paused after that read). Node.js reads it again whenever an answer queued behind the one being
   * written is buffered or flushed while those are few (`socketOnDrain`), which, with an upstream
   * answering, was after almost every answer: each read on, and all a client pipelined was parsed after
   * all. So reading is stopped again at once ({@link keepStopped}). A connection not read does not see its
   * client close: one that pipelined that far and went away is noticed when an answer is written to it
   * (its upstream requests run until then).
   */
  wait(start: () => void, res: ServerResponse): void {
    this.waiting.push(start);
    if (this.waiting.length <= MAX_WAITING_REQUESTS) return;
    this.readingStopped = true;
    this.response = res;
    if (!this.resumeWatched) {
      this.resumeWatched = true;
      // Before Node.js's own listener, which starts reading unless `_paused` is set.
      this.socket.prependListener("resume", this.keepStopped);
    }
    this.keepStopped();
  }

  /**
   * Stops reading while {@link wait} wants it stopped. Also on `resume`, emitted (a tick after
   * `socket.resume()`) just before Node.js starts reading again (`onSocketResume`), which it then does not.
   */
  private readonly keepStopped = (): void => {
    const socket = this.socket as Socket & { _paused?: boolean };
    if (this.readingStopped && !socket._paused && !socket.destroyed) {
      socket._paused = true;
      socket.pause();
    }
  };

  /** Starts waiting requests while fewer exchanges than the bound are in progress; reads again once none waits. */
  readonly startWaiting = (): void => {
    if (this.socket.destroyed) this.waiting.length = 0;
    while (this.waiting.length > 0 && this.exchanges.length < MAX_PIPELINED_EXCHANGES) this.waiting.shift()!();
    if (this.waiting.length > 0 || !this.readingStopped || this.socket.destroyed) return;
    this.readingStopped = false;
    const res = this.response;
    this.response = null;
    const socket = this.socket as Socket & { _paused?: boolean; parser?: { resume(): void } | null };
    // Still stopped, and not for answers the client has yet to take (Node.js reads again when it has).
    if (!socket._paused || socket.writableNeedDrain) return;
    // Node.js's own check (`socketOnDrain`): not while the answers queued behind the one being written
    // are past the socket's high-water mark (it reads again once they are written). Reading regardless
    // let a client whose first answer the upstream holds have all it pipelined parsed, read by read.
    if (typeof res?._onPendingData === "function") res._onPendingData(0);
    else {
      socket._paused = false;
      socket.parser?.resume();
      socket.resume();
    }
  };

  checkTimeouts(now: number): void {
    const socket = this.socket;
    const pending = socket.writableLength;
    if (pending > 0) {
      // An answer waits to be written: the connection is idle while the client takes none of it, whatever
      // is in progress on it. A client that stops reading without closing would otherwise hold its
      // exchanges, their upstream connections, and what is buffered for it, for ever.
      const taken = socket.bytesWritten - pending;
      if (taken !== this.taken) {
        this.taken = taken;
        this.since = now;
        return;
      }
    } else if (this.active || this.exchanges.length > 0 || this.waiting.length > 0) {
      this.active = false;
      this.since = now;
      return;
    }
    if (now - this.since < this.idleMs) return;
    // Its requests end as client_closed_request; this line says the proxy closed it, and why.
    if (pending > 0) this.logger.warn({ reqIds: this.exchanges.map((e) => e.id), pendingBytes: pending, idleMs: this.idleMs }, "client took none of its answer; connection closed");
    socket.destroy();
  }
}

function connectionOf(socket: TrackedSocket, ctx: ExchangeContext): ClientConnection {
  let connection = socket[CONNECTION];
  if (connection === undefined) {
    const c = new ClientConnection(socket, ctx.clientKeepAliveMs + KEEP_ALIVE_BUFFER_MS, ctx.logger);
    socket[CONNECTION] = connection = c;
    if (ctx.clientKeepAliveMs > 0) ctx.watch.add(c);
    socket.once("close", () => {
      ctx.watch.remove(c);
      c.waiting.length = 0; // never started: neither forwarded nor logged
      for (const exchange of [...c.exchanges]) exchange.onClientClose();
    });
  }
  return connection;
}

/**
 * Whether the client connection has exchanges in progress whose requests have all been read: an HTTP
 * parse error on it then concerns a later, pipelined request, not one being answered.
 */
export function answeringEarlierRequests(socket: Socket): boolean {
  const exchanges = exchangesOn(socket);
  return exchanges.length > 0 && exchanges.every((e) => e.requestRead());
}

/**
 * Whether an exchange in progress on the connection has not begun its answer: while draining, that answer
 * will be the connection's last (`lastAnswer`), so a request pipelined behind it can never be answered.
 */
export function answerPendingOn(socket: Socket): boolean {
  return exchangesOn(socket).some((e) => !e.answerBegun());
}

/** The exchange on the connection whose request is still being read, if any. */
export function exchangeReading(socket: Socket): Exchange | undefined {
  return exchangesOn(socket).find((e) => !e.requestRead());
}

/**
 * Where a request on `socket` waits, when {@link MAX_PIPELINED_EXCHANGES} exchanges are in progress on
 * the connection or requests before it are waiting: a function given to its `wait` is called once it may
 * start (reading the connection stops meanwhile). Null when it may start now.
 */
export function pipelineWaiting(socket: Socket): Pick<ClientConnection, "wait"> | null {
  const connection = (socket as TrackedSocket)[CONNECTION];
  if (connection === undefined || (connection.exchanges.length < MAX_PIPELINED_EXCHANGES && connection.waiting.length === 0)) return null;
  return connection;
}

/** The exchanges in progress on a client connection (none before its first request). */
function exchangesOn(socket: Socket): readonly Exchange[] {
  return (socket as TrackedSocket)[CONNECTION]?.exchanges ?? [];
}

export class Exchange implements Dispatcher.DispatchHandler, RequestDetails, Watched {
  private readonly t0 = performance.now();
  private readonly state: RuntimeState;
  readonly id = nextRequestId();
  private path = "";
  private route: CompiledRoute | null = null;
  private target: Target | null = null;
  private entry: MatchEntry | null = null;
  /** Aborts the upstream exchange; set once undici has queued the request. */
  private abortUpstream: ((err: Error) => void) | null = null;
  /** Resumes reading from the upstream after backpressure. */
  private resumeUpstream: (() => void) | null = null;
  private upstreamPath = "";
  private contentLength: string | undefined = undefined;
  private chunked = false;
  /** The request's (then the response's) Transfer-Encoding names a coding other than `chunked`. */
  private otherCoding = false;
  private clientToken: string | undefined = undefined;
  /** Host headers in the request. */
  private hosts = 0;
  private status = 0;
  private errorCode: ErrorCode | null = null;
  private headWritten = false;
  private sse = false;
  private pendingHeaders: string[] | null = null;
  /** The upstream's Content-Length, or -1 (chunked, or not known). */
  private responseLength = -1;
  /** The response has a Content-Encoding (other than identity). */
  private encoded = false;
  /**
   * An event stream the proxy may end with its error event (framed by chunks, not compressed): it is
   * forwarded in whole lines (`wholeLines`), so that the event never lands inside an upstream's line.
   */
  private eventLines = false;
  /**
   * The end of the upstream's last line, when it is not complete yet: the first `heldBytes` bytes of
   * `held`, one buffer grown as needed (an upstream sending a byte per chunk would otherwise make a
   * buffer object per byte), never reused once handed to the client.
   */
  private held: Buffer | null = null;
  private heldBytes = 0;
  /** The line being forwarded outgrew {@link MAX_HELD_LINE_BYTES}: the rest of it is forwarded as it comes. */
  private longLine = false;
  /** The last four bytes of the event stream forwarded, as a big-endian number (`\n\n` before any). */
  private sseEnd = 0x0a0a;
  private tail: UsageReader | null = null;
  private bytesOut = 0;
  private tSent = 0;
  private tHeaders = 0;
  /** The route's request or backendRequest timeout, whichever ends first; `deadline` is when (performance.now()). */
  private timer: NodeJS.Timeout | null = null;
  private deadline = Infinity;
  private done = false;
  private upstreamRequestId: string | undefined = undefined;
  private searchCache: URLSearchParams | null = null;
  /** The client connection ({@link ClientConnection}); set by `start`. */
  private connection: ClientConnection | undefined = undefined;
  // Upstream timeouts (timeout-watch.ts): what is awaited, whether anything came since the last sweep,
  // since when (by the sweeps' clock) nothing has, and whether the request body is still being read.
  watchIndex = -1;
  /**
   * The client sent `Expect: 100-continue` and has not been invited to send its body yet: `100 Continue`
   * goes out when the body is about to be read; an answer before that closes the connection.
   */
  continuePending = false;
  private waiting = WAIT_NONE;
  private progressed = false;
  private since = 0;
  private uploading = false;
  /** This exchange's share of `ctx.bufferedBodyBytes`. */
  private buffered = 0;
  /** undici has let go of the request (and the body it was handed): it failed it, or the exchange aborted it. */
  private upstreamSettled = false;
  /** What {@link dispatch} sent, to send again once ({@link resendable}); whether it was. */
  private sentHeaders: string[] | null = null;
  private sentBody: Dispatcher.DispatchOptions["body"] = null;
  private resent = false;
  /** Its number among the exchanges started on its connection ({@link ClientConnection.started}). */
  private seq = 0;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.state = ctx.state;
    this.state.inflight++;
    ctx.inflight++;
  }

  start(): void {
    const { req, state } = this;
    const connection = connectionOf(req.socket, this.ctx);
    connection.exchanges.push(this);
    this.seq = ++connection.started;
    this.connection = connection;
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    this.path = path;
    if (!isSafePath(path) || hasFragment(url)) return this.fail("invalid_request_target");
    // The upstream would echo a TRACE back, the key the proxy adds included (RFC 9110 section 9.3.8).
    if (req.method === "TRACE") return this.fail("unsupported_method");

    if (state.clientKeyDigests !== null && !this.clientAuthorized(state.clientKeyDigests)) return this.fail("invalid_api_key");

    const entry = findRoute(state.table, req.method ?? "GET", path, this);
    if (!entry) return this.fail("route_not_found");
    this.entry = entry;
    const route = entry.route;
    this.route = route;
    const target = pickTarget(route);
    if (!target) return this.fail("no_backend");
    this.target = target;
    this.upstreamPath = upstreamPathFor(target, entry, path, q < 0 ? "" : url.slice(q));
    const headers = this.forwardedHeaders(target);
    if (this.otherCoding) return this.fail("unsupported_transfer_coding");
    // Which Host routed it would depend on who reads the request (RFC 9112 section 3.2: answer 400).
    if (this.hosts > 1) return this.fail("malformed_request");
    if (route.requestMs > 0) {
      this.timer = setTimeout(this.onDeadline, route.requestMs);
      this.deadline = this.t0 + route.requestMs;
    }

    // The declared body length; NaN without a Content-Length (chunked, or no body).
    const declared = Number(this.contentLength);
    const hasBody = this.contentLength !== undefined ? declared !== 0 : this.chunked;
    if (!hasBody) {
      this.continuePending = false; // nothing to invite
      // A route that rewrites or checks `model` finds it in a JSON body: a POST, PUT or PATCH without one
      // is refused as an empty body is. Other methods carry no model (`GET /v1/models`) and pass.
      if (target.parseBody && BODY_METHODS.has(req.method ?? "")) return this.fail("invalid_json");
      return this.dispatch(headers, null);
    }
    if (declared > state.maxBodyBytes) return this.fail("request_too_large");
    // A large body read whole is held by its declared length from now on, before the client is invited to
    // send it: refused, it is discarded as it arrives instead of piling up beside the bodies held. A small
    // one is not counted, so that clients holding the budget (a large body sent slowly) never stop
    // ordinary requests.
    if (target.parseBody && declared > SMALL_BODY_BYTES && !this.holdBody(declared)) return this.fail("bodies_over_memory_budget");
    if (this.continuePending) {
      this.continuePending = false;
      this.res.writeContinue();
    }
    if (target.parseBody) return this.readBody(headers);
    this.dispatch(headers, this.chunked ? Readable.from(limitBody(req, state.maxBodyBytes), { objectMode: false }) : req);
  }

  /** Whether the response's head has been written (or queued behind earlier answers on the connection). */
  answerBegun(): boolean {
    return this.res.headersSent;
  }

  /** Whether the client's request, body included, has been read in full. */
  requestRead(): boolean {
    return this.req.complete;
  }

  /**
   * Node.js's parser refused the rest of this request (its body). Answers 400 `malformed_request` when
   * nothing was sent yet, and closes the connection; stops the upstream request. Returns false when the
   * response had started, and only the connection can be closed.
   */
  malformedRequest(): boolean {
    if (this.done) return true;
    if (this.res.headersSent) return false;
    this.fail("malformed_request");
    if (this.abortUpstream !== null) this.abortUpstream(new ProxyError("malformed_request"));
    return true;
  }

  // RequestDetails, read only by routes with hostname, header or query conditions.
  host(): string {
    return rawHeader(this.req.rawHeaders, "host") ?? "";
  }

  header(lowerName: string): string | undefined {
    const v = this.req.headers[lowerName];
    return Array.isArray(v) ? v.join(", ") : v;
  }

  query(name: string): string | undefined {
    if (this.searchCache === null) {
      const url = this.req.url ?? "";
      const q = url.indexOf("?");
      this.searchCache = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
    }
    return this.searchCache.get(name) ?? undefined;
  }

  private clientAuthorized(digests: readonly Buffer[]): boolean {
    const auth = rawHeader(this.req.rawHeaders, "authorization");
    if (auth === undefined || auth.length < 8 || auth.slice(0, 7).toLowerCase() !== "bearer ") return false;
    const presented = digestKey(auth.slice(7).trim());
    let ok = false;
    // Compare with every key, without stopping early, so timing reveals nothing about which matched.
    for (const d of digests) ok = timingSafeEqual(d, presented) || ok;
    return ok;
  }

  /** Client headers minus the dropped ones, plus the target's (Host, key, RequestHeaderModifier). */
  private forwardedHeaders(target: Target): string[] {
    const raw = this.req.rawHeaders;
    const drop = target.drop;
    const out: string[] = [];
    let connection: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const lower = name.toLowerCase();
      switch (lower) {
        case "content-length":
          this.contentLength = raw[i + 1];
          break;
        case "transfer-encoding":
          this.chunked = true;
          // Node.js has undone `chunked`; any other coding would reach the upstream undone and unnamed.
          if (raw[i + 1]!.trim().toLowerCase() !== "chunked") this.otherCoding = true;
          continue;
        case "authorization":
          this.clientToken = raw[i + 1];
          continue;
        case "connection":
          connection = connection === undefined ? raw[i + 1] : `${connection}, ${raw[i + 1]}`;
          continue;
        case "host":
          this.hosts++;
          break;
      }
      if (drop.has(lower)) continue;
      out.push(name, raw[i + 1]!);
    }
    // What the client's Connection header lists is removed from the client's own headers only, before
    // the configured ones are added: a client cannot strip the key, the Host or the route's headers.
    const listed = connectionListed(connection);
    if (listed !== null) removeHeaders(out, listed);
    const extra = target.extra;
    for (let i = 0; i < extra.length; i++) out.push(extra[i]!);
    const passthrough = target.backend.passthrough;
    if (passthrough !== null && this.clientToken !== undefined) {
      const token = /^bearer\s+/i.test(this.clientToken) ? this.clientToken.replace(/^bearer\s+/i, "") : this.clientToken;
      out.push(passthrough.headerName, passthrough.prefix + token);
    }
    return out;
  }

  private readBody(headers: string[]): void {
    const { req, state } = this;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      if (this.done) return;
      size += chunk.length;
      if (size > state.maxBodyBytes) {
        req.pause();
        this.fail("request_too_large");
        return;
      }
      // A chunked body is held once it is no longer small, all of it so far, then as it arrives.
      if (this.chunked && size > SMALL_BODY_BYTES && !this.holdBody(size - this.buffered)) {
        req.pause();
        this.fail("bodies_over_memory_budget");
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (this.done) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      this.onBody(headers, body);
    });
  }

  private onBody(headers: string[], body: Buffer): void {
    const backend = this.target!.backend;
    if (body.length >= JSON_SCAN_FROM_BYTES && tooManyJsonContainers(body)) return this.fail("json_too_complex");
    if (!isUtf8(body)) return this.fail("invalid_json");
    const text = body.toString("utf8");
    const parsed = parseJsonObject(text);
    if (!parsed.ok) return this.fail(parsed.code);
    if (backend.model !== null) return this.dispatch(headers, replaceModelBytes(body, text, parsed.value, backend.model.json, backend.model.bytes));
    const model = parsed.value.model;
    if (typeof model !== "string" || model === "") return this.fail("model_required");
    this.dispatch(headers, body);
  }

  /**
   * Holds `bytes` more of request body in memory, if the budget allows: within it, or when no other
   * exchange holds any (a body up to the size limit is always served, one at a time).
   */
  private holdBody(bytes: number): boolean {
    const ctx = this.ctx;
    if (ctx.bufferedBodyBytes + bytes > this.state.maxBufferedBodyBytes && ctx.bufferedBodyBytes > this.buffered) return false;
    ctx.bufferedBodyBytes += bytes;
    this.buffered += bytes;
    return true;
  }

  /** Gives this exchange's share of the body budget back. */
  private releaseBody(): void {
    this.ctx.bufferedBodyBytes -= this.buffered;
    this.buffered = 0;
  }

  private dispatch(headers: string[], body: Dispatcher.DispatchOptions["body"]): void {
    if (this.done) return;
    // The shutdown's grace has ended and the upstream pools are destroyed: a request whose body was read
    // in full meanwhile is not sent (undici would fail it as a lost connection, counted against the upstream).
    if (this.ctx.abandoning) return this.fail("proxy_shutting_down");
    const backend = this.target!.backend;
    this.tSent = performance.now();
    // Gateway API's backendRequest timeout runs from here, not from the request's arrival: reading the
    // body of a route that rewrites `model` is not the backend's time.
    const backendMs = this.route!.backendRequestMs;
    if (backendMs > 0 && this.tSent + backendMs < this.deadline) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(this.onDeadline, backendMs);
      this.deadline = this.tSent + backendMs;
    }
    this.uploading = body !== null && !(body instanceof Uint8Array);
    this.sentHeaders = headers;
    this.sentBody = body;
    const options: DispatchOptionsWithServername = {
      path: this.upstreamPath,
      method: this.req.method as Dispatcher.HttpMethod,
      headers,
      body,
      // Timed by the proxy's own watch instead (timeout-watch.ts, checkTimeouts).
      headersTimeout: 0,
      bodyTimeout: 0,
    };
    // Pinned so a URLRewrite Host header never changes the SNI or the name the certificate is checked for.
    if (backend.servername !== undefined) options.servername = backend.servername;
    // Unsettled from here (again, when the request is sent again) until undici calls onError or lets the body go.
    this.upstreamSettled = false;
    backend.dispatcher.dispatch(options, this);
  }

  /**
   * Whether a request that failed with a lost connection can be sent again, once: undici took it for a
   * kept-alive connection but never wrote it (no onConnect), and that connection, not a new one being
   * opened, failed (an upstream closing an idle connection just then: undici fails the requests it holds
   * for it with the connection's error). It reached no upstream, so sending it again on a new connection
   * is safe whatever its method (RFC 9110, section 9.2.2: the request is known not to have been applied).
   * A body undici would read from the client as it sends it is untouched too: undici starts reading it
   * only after onConnect.
   */
  private resendable(err: Error): boolean {
    return !this.resent && this.abortUpstream === null && !failedToConnect(err);
  }

  // --- undici DispatchHandler -------------------------------------------------------------------
  //
  // The handler implements undici's original callbacks (onConnect, onHeaders, onData, onComplete,
  // onError) rather than the newer onRequestStart/onResponse* ones: undici 7's client calls these
  // itself, while a handler with the newer methods is wrapped in an adapter that allocates a
  // controller and parses the raw headers into an object for every response (and the trailers too).
  // Raw headers are exactly what this proxy forwards, so it reads them once, here.

  onConnect(abort: (err?: Error) => void): void {
    if (this.done) {
      // Finished while undici held the request in its queue (or connected for it): its body is let go now.
      this.releaseBody();
      return abort(new ProxyError(this.errorCode ?? "client_closed_request"));
    }
    this.abortUpstream = abort;
    const backend = this.target!.backend;
    if (backend.headersTimeout > 0 || backend.bodyTimeout > 0) {
      this.waiting = WAIT_HEADERS;
      this.progressed = true;
      this.ctx.watch.add(this);
    }
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.done) return true;
    if (statusCode < 100 || statusCode > 599) {
      // Not an HTTP status (RFC 9110 section 15): undici would pass 600-999 on, and fail an assertion below 100.
      this.upstreamProtocolError();
      return true;
    }
    if (statusCode < 200) return true; // 1xx informational responses are not forwarded
    this.status = statusCode;
    this.resumeUpstream = resume;
    this.waiting = WAIT_BODY;
    this.progressed = true;
    this.tHeaders = performance.now();
    const backend = this.target!.backend;
    backend.metrics.firstByte((this.tHeaders - this.tSent) / 1000);
    this.pendingHeaders = this.readResponseHeaders(rawHeaders);
    if (this.otherCoding) {
      this.upstreamProtocolError();
      return true;
    }
    // An event stream's headers go out at once; other responses wait for their first byte, so that a
    // failure before it can still answer with a proper error status. "At once" is the end of this tick:
    // when the first event came in the same read (the usual case), it leaves in the same write as the
    // headers, saving the client a wake-up before its first event (proxy/bench/HISTORY.md).
    if (this.sse) {
      this.eventLines = this.responseLength < 0 && !this.encoded;
      this.writeHead();
      process.nextTick(() => {
        // No event in this read (or only the start of a line, held back): the headers go alone.
        if (this.bytesOut === this.heldBytes && !this.done && !this.res.destroyed) this.res.flushHeaders();
      });
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.done) return true;
    if (!this.headWritten) this.writeHead();
    this.progressed = true;
    this.bytesOut += chunk.length;
    this.tail?.push(chunk);
    if (this.bytesOut === this.responseLength) {
      // The last byte of a response of known length: ends the response in the same write.
      this.res.end(chunk);
      return true;
    }
    if (this.eventLines) {
      const lines = this.wholeLines(chunk);
      if (lines === null) return true;
      chunk = lines;
    }
    if (this.res.write(chunk)) return true;
    // Backpressure: undici stops reading from the upstream until the client has taken what is buffered.
    // The body timeout waits too: the upstream is not idle, the client is slow.
    this.waiting = WAIT_NONE;
    this.res.once("drain", this.onDrain);
    return false;
  }

  onComplete(): void {
    if (this.done) return;
    if (!this.headWritten) this.writeHead();
    if (!this.res.writableEnded) {
      if (this.heldBytes > 0) this.res.end(this.held!.subarray(0, this.heldBytes));
      else this.res.end();
    }
    this.finish(null);
  }

  /**
   * What of an event stream's chunk to forward now: up to its last line end, the rest held back until its
   * line is complete (it is joined to the next chunk). An SSE client acts on nothing before a line ends, so
   * this delays nothing it reads; it lets the proxy's error event, should the stream fail, start on a line
   * of its own instead of inside the upstream's (the official OpenAI clients then raise a JSON parse error,
   * not the proxy's error). Null when all of it is held. A line longer than {@link MAX_HELD_LINE_BYTES}
   * is forwarded as it comes.
   */
  private wholeLines(chunk: Buffer): Buffer | null {
    const n = chunk.length;
    if (n === 0) return null;
    const last = chunk[n - 1];
    let cut = n;
    if (last !== LF && last !== CR) {
      // Only this chunk is searched: what is held has no line end.
      cut = Math.max(chunk.lastIndexOf(LF), chunk.lastIndexOf(CR)) + 1;
    }
    let data: Buffer;
    if (cut === 0 && this.longLine) data = chunk;
    else if (cut === 0) {
      this.hold(chunk);
      if (this.heldBytes <= MAX_HELD_LINE_BYTES) return null;
      this.longLine = true;
      data = this.held!.subarray(0, this.heldBytes);
      this.held = null;
      this.heldBytes = 0;
    } else {
      this.longLine = false;
      const lines = cut === n ? chunk : chunk.subarray(0, cut);
      if (this.heldBytes > 0) {
        // Copied out, so `held` can take the next line's end.
        data = Buffer.concat([this.held!.subarray(0, this.heldBytes), lines], this.heldBytes + cut);
        this.heldBytes = 0;
      } else data = lines;
      if (cut < n) this.hold(chunk.subarray(cut));
    }
    const length = data.length;
    this.sseEnd = length >= 4 ? data.readUInt32BE(length - 4) : ((this.sseEnd * 2 ** (8 * length)) % 2 ** 32) + data.readUIntBE(0, length);
    return data;
  }

  /** Appends `bytes` (a view of undici's read buffer, so copied) to the line's end held back. */
  private hold(bytes: Buffer): void {
    const need = this.heldBytes + bytes.length;
    if (this.held === null || this.held.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * (this.held?.length ?? 0), 1024));
      if (this.heldBytes > 0) this.held!.copy(grown, 0, 0, this.heldBytes);
      this.held = grown;
    }
    bytes.copy(this.held, this.heldBytes);
    this.heldBytes = need;
  }

  /**
   * What goes before the proxy's error event so that it is an event of its own: nothing after a blank line
   * (or before any byte), a line end that makes one after the end of a line (the event begun is then
   * complete, its lines whole). Null inside a line (one over {@link MAX_HELD_LINE_BYTES}), where no
   * event can follow.
   */
  private beforeErrorEvent(): string | null {
    const end = this.sseEnd;
    const last = end & 0xff;
    if (last !== LF && last !== CR) return null;
    const two = end & 0xffff;
    const three = end & 0xffffff;
    // \n\n, \r\r, \n\r, \n\r\n, \r\r\n, \r\n\r\n: the stream ends with a blank line.
    if (two === 0x0a0a || two === 0x0d0d || two === 0x0a0d || three === 0x0a0d0a || three === 0x0d0d0a || end === 0x0d0a0d0a) return "";
    return last === CR ? "\r\n" : "\n";
  }

  onError(err: Error): void {
    this.upstreamSettled = true;
    if (this.done) return this.releaseBody();
    // A 204 or 304 ends at its headers whatever its Content-Length says (RFC 9112 section 6.3); undici
    // waits for that many bytes only for these two, and fails when the connection ends.
    if ((this.status === 204 || this.status === 304) && this.bytesOut === 0 && (err as { code?: unknown }).code === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH") {
      return this.onComplete();
    }
    let code = codeForError(err);
    // A TLS upstream that closes or resets the connection while it is being opened ended the handshake,
    // not an exchange: Node.js says ECONNRESET ("disconnected before secure TLS connection was
    // established"), which alone reads as a connection lost mid-response. Not an open connection's reset
    // (an idle keep-alive one the upstream dropped), which undici also hands to requests not yet written.
    if (code === "upstream_connection_lost" && this.target?.backend.servername !== undefined && HANDSHAKE_CUT.has((err as { code?: unknown }).code) && failedToConnect(err)) {
      code = "upstream_tls_failed";
    }
    if (code === "client_closed_request") return this.finish(code);
    if (code === "upstream_connection_lost" && this.resendable(err)) {
      this.resent = true;
      // Info: rare (an upstream closing idle connections as requests go out), and worth knowing of.
      this.ctx.logger.info({ reqId: this.id, backend: this.target?.backend.name, cause: (err as { code?: unknown }).code }, "request sent again: the connection it was to go on closed before it was written");
      return this.dispatch(this.sentHeaders!, this.sentBody);
    }
    if (code !== "request_too_large" && code !== "request_timeout" && code !== "proxy_shutting_down") this.target?.backend.metrics.upstreamError(code);
    if (code === "internal_error") this.ctx.logger.error({ reqId: this.id, err: { name: err.name, code: (err as { code?: unknown }).code } }, "upstream exchange failed");
    // Which of the causes the code stands for (an expired certificate, an unknown CA, another host name,
    // a refused connection, a name that does not resolve): the error's code only, never its message,
    // which holds the certificate's names or the address.
    else if (code === "upstream_tls_failed" || code === "upstream_connect_failed") {
      this.ctx.logger.warn({ reqId: this.id, backend: this.target?.backend.name, cause: (err as { code?: unknown }).code }, "upstream connection failed");
    }
    if (!this.headWritten) return this.fail(code, err);
    this.errorCode = code;
    // The error event can follow only a stream framed by chunks and not compressed: after a body of
    // declared length it would be read as the next response, and inside gzip it would corrupt it.
    // The end of a line not complete is dropped: no client can read it.
    this.held = null;
    this.heldBytes = 0;
    const before = this.eventLines ? this.beforeErrorEvent() : null;
    if (before === "") this.res.end(sseErrorEvent(code));
    else if (before !== null) this.res.end(Buffer.concat([Buffer.from(before), sseErrorEvent(code)]));
    // Reset, not closed: a body delimited by the connection's close (an HTTP/1.0 client) must not look
    // complete. (A client that has not read the last bytes before the reset arrives still reads an end
    // on Linux; one that has, reads the reset.)
    else if (this.res.socket !== null) this.res.socket.resetAndDestroy();
    else this.res.destroy();
    this.finish(code);
  }

  /** The upstream's response cannot be passed on: answered and counted as any protocol error, before a byte of its body. */
  private upstreamProtocolError(): void {
    const err = new ProxyError("upstream_protocol_error");
    this.onError(err);
    this.abortUpstream!(err);
  }

  /**
   * The response headers to forward, as a flat name/value list (what `writeHead` takes without building
   * an object): hop-by-hop ones and those the route drops are left out, the route's are set or added.
   * Also notes what the proxy needs from them: SSE or not, the length, the encoding, the request id.
   */
  private readResponseHeaders(raw: Buffer[]): string[] {
    const route = this.route!;
    const drop = route.responseDrop;
    const out: string[] = [];
    let connection: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString("latin1");
      const value = raw[i + 1]!.toString("latin1");
      const lower = name.toLowerCase();
      switch (lower) {
        case "content-type":
          this.sse = value.length >= SSE_PREFIX.length && value.slice(0, SSE_PREFIX.length).toLowerCase() === SSE_PREFIX;
          break;
        case "content-length":
          if (this.status === 204) continue; // a 204 has no body and must not say it has a length (RFC 9110 section 8.6)
          this.responseLength = Number(value);
          break;
        case "content-encoding":
          this.encoded = value !== "identity";
          break;
        case "x-request-id":
          // Logged with every request: an upstream's id (OpenAI's are ~32 characters) is kept to its start.
          this.upstreamRequestId = value.slice(0, MAX_LOGGED_REQUEST_ID);
          break;
        case "transfer-encoding":
          // undici undoes `chunked` only; any other coding would reach the client undone and unnamed.
          if (value.trim().toLowerCase() !== "chunked") this.otherCoding = true;
          continue;
        case "connection":
          // A list, which may come in several lines (RFC 9110 section 5.3): every line's names count.
          connection = connection === undefined ? value : `${connection}, ${value}`;
          continue;
      }
      if (RESPONSE_HOP_BY_HOP.has(lower) || (drop !== null && drop.has(lower))) continue;
      out.push(name, value);
    }
    if (this.status < 300 && !this.encoded) this.tail = this.sse ? new StreamUsageReader() : new TailBuffer();
    const listed = connectionListed(connection);
    if (listed !== null) removeHeaders(out, listed);
    if (route.responseSet.length > 0) {
      removeHeaders(out, new Set(route.responseSet.map((h) => h.name.toLowerCase())));
      for (const h of route.responseSet) out.push(h.name, h.value);
    }
    for (const h of route.responseAdd) out.push(h.name, h.value);
    return out;
  }

  /**
   * `start` threw (a bug): stops the upstream request if one was started, answers 500 `internal_error`
   * if nothing was sent yet, and finishes, so that the request is logged and counted, shutdown does not
   * wait for it, and its connection can go idle.
   */
  crashed(): void {
    if (this.abortUpstream !== null) this.abortUpstream(new ProxyError("internal_error"));
    this.fail("internal_error");
  }

  // --- events -----------------------------------------------------------------------------------

  private readonly onDrain = (): void => {
    if (this.done) return;
    this.waiting = WAIT_BODY;
    this.progressed = true;
    this.resumeUpstream?.();
  };

  /**
   * Called by the watch at each sweep (timeout-watch.ts) while the upstream exchange is in progress. Progress
   * since the last sweep restarts the clock at this sweep (so a timeout never fires early, and at most two
   * sweeps late). The headers timeout starts once the client's request body has been read in full.
   */
  checkTimeouts(now: number): void {
    if (this.progressed || this.waiting === WAIT_NONE) {
      this.progressed = false;
      this.since = now;
      return;
    }
    if (this.waiting === WAIT_HEADERS) {
      if (this.uploading) {
        if (this.req.complete) this.uploading = false;
        this.since = now;
        return;
      }
      const limit = this.target!.backend.headersTimeout;
      if (limit > 0 && now - this.since >= limit) this.abortUpstream!(new ProxyError("upstream_headers_timeout"));
      return;
    }
    const limit = this.target!.backend.bodyTimeout;
    if (limit > 0 && now - this.since >= limit) this.abortUpstream!(new ProxyError("upstream_body_timeout"));
  }

  /** The client went away before its response was complete (its connection closed): stops the upstream exchange at once. */
  readonly onClientClose = (): void => {
    if (this.done) return;
    // Once the shutdown's grace has ended, the proxy closed the connection, not the client.
    const code = this.ctx.abandoning ? "proxy_shutting_down" : "client_closed_request";
    if (this.abortUpstream !== null) this.abortUpstream(new ProxyError(code));
    if (code === "proxy_shutting_down" && !this.headWritten) this.status = ERROR_CATALOGUE[code].status;
    this.finish(code);
  };

  private readonly onDeadline = (): void => {
    this.timer = null;
    if (this.done) return;
    if (this.abortUpstream !== null) this.abortUpstream(new ProxyError("request_timeout"));
    else this.fail("request_timeout");
  };

  // --- responses --------------------------------------------------------------------------------

  private writeHead(): void {
    this.headWritten = true;
    if (this.ctx.draining && this.answersLast()) lastAnswer(this.ctx, this.res.socket, this.res);
    else if (this.bodyAbandoned() && !this.unreadBodyBounded()) this.res.shouldKeepAlive = false;
    this.res.writeHead(this.status, this.pendingHeaders!);
  }

  /** Answers with a catalogue error (before any response byte was written) and finishes. */
  private fail(code: ErrorCode, cause?: unknown): void {
    if (this.done) return;
    const { req, res } = this;
    const spec = ERROR_CATALOGUE[code];
    if (!res.headersSent && !res.destroyed) {
      if (this.ctx.draining && this.answersLast()) lastAnswer(this.ctx, res.socket, res);
      const body = errorBody(code);
      // An unread body is discarded by Node.js after the answer, keeping the connection reusable, when it
      // is known to be within the body limit. One that is larger, of unknown length (chunked), or that
      // the client was not invited to send (it expects `100 Continue`, so it may or may not follow) is
      // not: the connection closes after this answer.
      const close = this.continuePending || code === "malformed_request" || (!req.complete && (code === "request_too_large" || !this.unreadBodyBounded()));
      // `x-request-id`: the reqId of the request's log line, which the OpenAI clients give as the error's `requestID`.
      const headers = { ...JSON_HEADERS, "content-length": body.length, "x-request-id": this.id };
      res.writeHead(spec.status, close ? { ...headers, connection: "close" } : headers);
      res.end(body);
      if (close) res.once("finish", () => req.destroy());
    }
    this.status = spec.status;
    this.finish(code, cause);
  }

  /**
   * Whether this answer is the last its connection owes: no request after its own was started, nor waits
   * to be. While draining only that answer may close the connection: Node.js sends answers in order and
   * drops those queued behind one that closes, so an earlier answer closing it would lose the answers of
   * later requests already forwarded.
   */
  private answersLast(): boolean {
    const connection = this.connection;
    return connection === undefined || (connection.started === this.seq && connection.waiting.length === 0);
  }

  /**
   * Whether the request's body was being streamed to the upstream and is not all read. When the upstream
   * exchange ends first (the upstream answered before reading it all, or failed during the upload),
   * undici stops reading it and nothing else would: the connection would never read its next request.
   * So, as for a body nobody read (`fail`), the rest is read and discarded when it is within the body
   * limit (`finish`), and the connection closes after the answer when it is of unknown length.
   */
  private bodyAbandoned(): boolean {
    return this.uploading && !this.req.complete;
  }

  /** Whether the request's body, if any, is declared no longer than the body limit. */
  private unreadBodyBounded(): boolean {
    const length = this.req.headers["content-length"];
    if (length === undefined) return this.req.headers["transfer-encoding"] === undefined;
    return Number(length) <= this.state.maxBodyBytes;
  }

  private finish(code: ErrorCode | null, _cause?: unknown): void {
    if (this.done) return;
    this.done = true;
    const connection = this.connection;
    if (connection !== undefined) {
      const exchanges = connection.exchanges;
      // Almost always the only one: no search.
      if (exchanges[exchanges.length - 1] === this) exchanges.pop();
      else {
        const at = exchanges.indexOf(this);
        if (at >= 0) exchanges.splice(at, 1);
      }
      connection.active = true;
      // Not at once: an exchange that fails as it starts would finish, and start the next, recursively.
      if (connection.waiting.length > 0) setImmediate(connection.startWaiting);
    }
    if (code !== null) this.errorCode = code;
    if (this.timer !== null) clearTimeout(this.timer);
    // undici keeps the body it sends until the exchange ends, and one it has queued (all the backend's
    // connections are busy, or one is being opened) until it sends or fails the request, whoever waits for
    // the answer: the body stays held until then (onConnect, onError), or a client that sends a large body
    // and goes away could pile up bodies outside the budget for as long as the backend stays busy.
    if (this.tSent === 0 || this.abortUpstream !== null || this.upstreamSettled) this.releaseBody();
    this.ctx.watch.remove(this);
    const ctx = this.ctx;
    const clientGone = code === "client_closed_request";
    if (clientGone) this.status = 499;
    else if (connection !== undefined && this.bodyAbandoned() && this.unreadBodyBounded()) discardRest(this.req, connection.socket);
    const seconds = (performance.now() - this.t0) / 1000;
    const route = this.route;
    const backend = this.target?.backend;
    let complete: ((r: RequestRecord) => void) | undefined;
    if (backend) {
      const operation = backend.operation ?? operationForPath(this.upstreamPath);
      if (this.tSent > 0) backend.metrics.operation(operation, seconds, code ?? (this.status >= 400 ? String(this.status) : ""));
      const tail = this.tail;
      if (tail !== null && code === null) {
        // Read with the log line's batch, where the scan runs warm (logger.ts); /metrics flushes it first.
        complete = (r) => {
          const usage = tail.usage();
          if (!usage) return;
          backend.metrics.usage(operation, usage.input, usage.output);
          r.inputTokens = usage.input;
          r.outputTokens = usage.output;
        };
      }
    }
    (route?.metrics ?? ctx.unmatched).observe(this.status, seconds);
    logRequest(
      ctx.logger,
      {
        reqId: this.id,
        method: this.req.method ?? "",
        path: loggedTarget(this.req.url ?? "", this.path),
        route: route?.name,
        backend: backend?.name,
        status: this.status,
        durMs: Math.round(seconds * 1e6) / 1e3,
        ttfbMs: this.tHeaders > 0 ? Math.round((this.tHeaders - this.tSent) * 1e3) / 1e3 : undefined,
        stream: this.sse,
        bytesOut: this.bytesOut,
        error: code,
        inputTokens: undefined,
        outputTokens: undefined,
        upstreamRequestId: this.upstreamRequestId,
        complete,
      },
      // A failure of the proxy or the upstream is a warning: one it answered with 5xx, and one after the
      // upstream's answer had started, whatever its status (a stream cut by its upstream logs the 200 it
      // began with, a cut 429 its 429). The proxy's own 4xx answers and 499 are the client's doing.
      code !== null && (this.status >= 500 || (this.headWritten && code !== "client_closed_request")),
    );
    if (--this.state.inflight === 0 && this.state !== ctx.state && ctx.onRetiredIdle !== null) ctx.onRetiredIdle(this.state);
    if (--ctx.inflight === 0 && ctx.onIdle !== null) ctx.onIdle();
  }
}

/** The characters of an upstream's `x-request-id` the request line keeps. */
const MAX_LOGGED_REQUEST_ID = 128;

/** How long a refused CONNECT's client has to close the connection after reading the answer. */
const TUNNEL_CLOSE_GRACE_MS = 1000;

/**
 * A CONNECT request (its target is an authority, `host:port`), which Node.js hands to the server's
 * `connect` event instead of its request handler, and closes silently when nothing listens. The proxy
 * tunnels nothing: it answers 400 `invalid_request_target`, as for any target that is not an origin-form
 * path (or only closes the connection when earlier requests on it are still being answered), and logs
 * and counts the request as one that matched no route.
 */
export function refuseTunnel(ctx: ExchangeContext, req: IncomingMessage, socket: Socket): void {
  const code: ErrorCode = "invalid_request_target";
  const status = ERROR_CATALOGUE[code].status;
  const body = errorBody(code);
  const reqId = nextRequestId();
  socket.on("error", () => {}); // the client may be gone already; nothing is left to tell it
  // Pipelined behind requests still being answered, an answer would read as theirs: closed instead.
  if (exchangesOn(socket).length > 0) socket.destroy();
  else {
    // `x-request-id`, as the proxy's other error answers: the reqId of its log line.
    const head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nx-request-id: ${reqId}\r\nconnection: close\r\n\r\n`;
    socket.end(Buffer.concat([Buffer.from(head, "latin1"), body]));
    // The client is to close its side once it has read the answer; one that keeps it open is cut off.
    const cutOff = setTimeout(() => socket.destroy(), TUNNEL_CLOSE_GRACE_MS).unref();
    socket.once("close", () => clearTimeout(cutOff));
  }
  logRefused(ctx, req.method ?? "CONNECT", loggedTarget(req.url ?? ""), status, code, reqId);
}

/**
 * Counts (under no route) and logs a request the proxy answered before it became an exchange: a
 * CONNECT, or one Node.js's parser rejected (`error` is then the parser's code, and the method and
 * path are empty, since what was read of them is not known to be a request line; its raw bytes are
 * never logged, as they may hold a key).
 */
export function logRefused(ctx: ExchangeContext, method: string, path: string, status: number, error: string, reqId = nextRequestId()): void {
  ctx.unmatched.observe(status, 0);
  logRequest(
    ctx.logger,
    {
      reqId,
      method,
      path,
      route: undefined,
      backend: undefined,
      status,
      durMs: 0,
      ttfbMs: undefined,
      stream: false,
      bytesOut: 0,
      error,
      inputTokens: undefined,
      outputTokens: undefined,
      upstreamRequestId: undefined,
      complete: undefined,
    },
    false,
  );
}

function pickTarget(route: CompiledRoute): Target | undefined {
  const targets = route.targets;
  if (targets.length <= 1) return targets[0];
  const r = Math.random() * route.totalWeight;
  const cumulative = route.cumulative;
  for (let i = 0; i < targets.length; i++) if (r < cumulative[i]!) return targets[i];
  return targets[targets.length - 1];
}

/** Removes, in place, every name/value pair of a flat header list whose lower-cased name is in `names`. */
function removeHeaders(headers: string[], names: ReadonlySet<string>): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (names.has(headers[r]!.toLowerCase())) continue;
    headers[w++] = headers[r]!;
    headers[w++] = headers[r + 1]!;
  }
  headers.length = w;
}

/** The header names a Connection header lists, hop-by-hop too (RFC 9110 section 7.6.1); null for plain keep-alive or close. */
function connectionListed(value: string | undefined): Set<string> | null {
  if (value === undefined || value === "keep-alive" || value === "close") return null;
  return new Set(value.toLowerCase().split(/\s*,\s*/));
}

/**
 * Reads and discards the rest of a request body, as Node.js does after an answer when nobody read it
 * (`IncomingMessage._dump`): its parser then skips the body and reads the next request. undici destroys
 * the request when it stops sending it, which can leave the connection's reading paused: resumed as
 * Node.js's own `readStart` does.
 */
function discardRest(req: IncomingMessage, socket: Socket): void {
  (req as IncomingMessage & { _dump(): void })._dump();
  if (!(socket as Socket & { _paused?: boolean })._paused && socket.readable) socket.resume();
}

/** A chunked request body, forwarded as it arrives, failing with 413 once it exceeds the limit. */
async function* limitBody(req: IncomingMessage, max: number): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new ProxyError("request_too_large");
    yield chunk as Buffer;
  }
}
