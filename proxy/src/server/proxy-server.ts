/**
 * The proxy process: the data-path server, the admin server (`/healthz`, `/readyz`, `/metrics`),
 * config loading and hot reload, and graceful shutdown.
 */
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { EventEmitter } from "node:events";
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { ConfigLoadError } from "../config/config-load-error";
import { ConfigWatcher, FALLBACK_RELOAD_MS, REBUILD_AFTER_ERROR_MS } from "../config/config-watcher";
import { loadConfig, type LoadedConfig } from "../config/load-config";
import { resolveCredentials, type ResolvedCredentials } from "../config/resolve-credentials";
import { formatFieldPath, ProxyConfigSchema, type ProxyConfigInput } from "../config/schema";
import type { FromGatewayObjectsOptions } from "../translate/from-gateway-objects";
import type { ManifestValues } from "../translate/manifest-values";
import { ERROR_CATALOGUE, ProxyError, errorBody } from "./errors";
import { Exchange, answerPendingOn, answeringEarlierRequests, exchangeReading, lastAnswer, logRefused, pipelineWaiting, refuseTunnel, type ExchangeContext, type RuntimeState } from "./exchange";
import { TimeoutWatch } from "./timeout-watch";
import { defaultBodyBudget, memoryLimit } from "./body-budget";
import { createLogger, flushLogger, flushRequestLines, type Logger } from "./logger";
import { ProxyMetrics } from "./metrics";
import { compileRoutingTable } from "./routing-table";
import { UpstreamPools, poolSettingsFor } from "./upstream-pools";

export interface ListenAddress {
  /**
   * Omitted: every address, IPv6 and IPv4 (Node.js listens on `::`, dual-stack, or on `0.0.0.0` where
   * the node has no IPv6), so that the proxy is reachable on IPv4, IPv6 and dual-stack clusters alike.
   */
  host?: string;
  port: number;
}

/** Where the config comes from: a ProxyConfig file, Kubernetes manifests, or a config object. */
export type ProxySource =
  | { configFile: string }
  | { manifests: readonly string[]; translate?: FromGatewayObjectsOptions }
  | { config: ProxyConfigInput; values?: ManifestValues };

export interface ProxyServerOptions {
  source: ProxySource;
  /** Default port 8080 on every address ({@link ListenAddress}). */
  listen?: ListenAddress;
  /** Default port 9901 on every address; `null` for no admin server. */
  adminListen?: ListenAddress | null;
  logger?: Logger;
  metrics?: ProxyMetrics;
  /** Watch the config and the files it points to. Default: true for file sources. */
  watch?: boolean;
  /** A change is reloaded once the watched files have stayed the same this long. Default 500 ms (`WRITE_SETTLE_MS`). */
  watchSettleMs?: number;
  /** When watching, the config is also read again this often, in case a change was missed; 0 for never. Default 60 s (`FALLBACK_RELOAD_MS`). */
  watchFallbackMs?: number;
  /** Environment for `{ env }` credentials. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** How long shutdown waits for requests in flight. Default 25 s. */
  shutdownGraceMs?: number;
  /**
   * How long shutdown keeps accepting and serving new requests, with `/readyz` answering 503, before it
   * stops listening: time for the Service's endpoints and the Gateway to stop sending new connections to
   * a pod being terminated, which they learn of seconds after it got SIGTERM. Default 0.
   */
  shutdownDelayMs?: number;
  /** Idle client connections are kept this long. Default 65 s (longer than common load-balancer idle timeouts). */
  keepAliveTimeoutMs?: number;
}

export const DEFAULT_LISTEN: ListenAddress = { port: 8080 };
export const DEFAULT_ADMIN_LISTEN: ListenAddress = { port: 9901 };

interface Built {
  state: RuntimeState;
  fingerprint: string;
  files: string[];
  folders: string[];
  warnings: string[];
  counts: { routes: number; backends: number };
}

/**
 * A running proxy. Emits `reload` (generation) after a config is applied and `reloadError`
 * (ConfigLoadError) when a change is rejected and the last good config keeps serving.
 */
export class ProxyServer extends EventEmitter {
  readonly logger: Logger;
  readonly metrics: ProxyMetrics;
  private readonly ctx: ExchangeContext;
  private readonly server: Server;
  private readonly admin: Server | null;
  private watcher: ConfigWatcher | null = null;
  private fingerprint = "";
  private generationCounter = 0;
  private reloading: Promise<void> | null = null;
  /** Another reload was asked for while one ran; `quiet` if only by the watch's checks. */
  private reloadAgain: { quiet: boolean } | null = null;
  /** The problems of the last reload, while it is rejected. */
  private lastRejection: string | null = null;
  /** What the config being served was read from. */
  private watching: { files: string[]; folders: string[] };
  private closing: Promise<void> | null = null;
  /** Configs replaced by a reload whose requests are still in progress (their pools stay open). */
  private readonly retiredStates = new Set<RuntimeState>();

  private constructor(
    private readonly options: ProxyServerOptions,
    built: Built,
    logger: Logger,
    metrics: ProxyMetrics,
    private readonly pools: UpstreamPools,
  ) {
    super();
    this.watching = { files: built.files, folders: built.folders };
    this.logger = logger;
    this.metrics = metrics;
    const clientKeepAliveMs = options.keepAliveTimeoutMs ?? 65_000;
    this.ctx = {
      state: built.state,
      logger,
      metrics,
      unmatched: metrics.route(""),
      inflight: 0,
      bufferedBodyBytes: 0,
      draining: false,
      abandoning: false,
      closingConnections: new WeakSet(),
      onIdle: null,
      onRetiredIdle: (state) => {
        if (this.retiredStates.delete(state)) this.retainPools();
      },
      watch: new TimeoutWatch(),
      clientKeepAliveMs,
    };
    this.fingerprint = built.fingerprint;
    metrics.readInflight(() => this.ctx.inflight);
    metrics.readConfigRejected(() => this.lastRejection !== null);
    metrics.readBufferedBodyBytes(() => ({ held: this.ctx.bufferedBodyBytes, budget: this.ctx.state.maxBufferedBodyBytes }));
    // keepAliveTimeout 0: idle connections are closed by the proxy's own watch (exchange.ts,
    // ClientConnection), since Node.js's timer costs a new timer per response. The Keep-Alive header that
    // advertises the timeout is kept (handle).
    this.server = createServer({ keepAliveTimeout: 0, noDelay: true }, this.onRequest);
    // Node.js keeps only the first 2,000 header lines of a request and drops the rest unsaid, Content-Length
    // or Transfer-Encoding among them, and the body with them. The request's header size limit (16 KiB)
    // still bounds them.
    this.server.maxHeadersCount = 0;
    // `Expect: 100-continue`: the client is invited to send its body only once the request is known
    // to be routed, authorized and within the size limit (Exchange.start); otherwise it is answered at
    // once, without the upload.
    this.server.on("checkContinue", this.onCheckContinue);
    this.server.on("clientError", this.onClientError);
    this.server.on("connect", (req: IncomingMessage, socket: Socket) => refuseTunnel(this.ctx, req, socket));
    this.admin = options.adminListen === null ? null : createServer(this.onAdminRequest);
  }

  /** Loads the config (throwing {@link ConfigLoadError} when it is invalid), listens, and starts watching. */
  static async start(options: ProxyServerOptions): Promise<ProxyServer> {
    const logger = options.logger ?? createLogger();
    const metrics = options.metrics ?? new ProxyMetrics();
    const pools = new UpstreamPools();
    const loaded = load(options.source);
    const built = build(loaded, options, pools, metrics, 1);
    const proxy = new ProxyServer(options, built, logger, metrics, pools);
    proxy.generationCounter = 1;
    metrics.configGeneration.set(1);
    for (const w of built.warnings) logger.warn({ problem: w }, "config warning");
    try {
      await listen(proxy.server, options.listen ?? DEFAULT_LISTEN);
      if (proxy.admin) await listen(proxy.admin, options.adminListen ?? DEFAULT_ADMIN_LISTEN);
      if (options.watch ?? !("config" in options.source)) {
        proxy.watcher = new ConfigWatcher((reason) => void proxy.reloadAs(reason === "check"), {
          ...(options.watchSettleMs !== undefined ? { settleMs: options.watchSettleMs } : {}),
          ...(options.watchFallbackMs !== undefined ? { fallbackMs: options.watchFallbackMs } : {}),
          onError: watchErrorLogger(logger, options.watchFallbackMs ?? FALLBACK_RELOAD_MS),
        });
        await proxy.watcher.update(built.files, built.folders);
      }
    } catch (err) {
      // The caller gets no ProxyServer to shut down: what was opened (the data port listening when the
      // admin port is taken) is closed here, or it would hold its port and keep the process alive.
      await proxy.closeUnstarted();
      throw err;
    }
    logger.info(
      { generation: 1, ...built.counts, listen: proxy.url, admin: proxy.adminUrl ?? null },
      "listening",
    );
    return proxy;
  }

  /** Closes a server whose start failed, quietly: nothing was served. */
  private async closeUnstarted(): Promise<void> {
    this.closing = Promise.resolve();
    this.ctx.draining = true;
    await this.watcher?.close();
    const listening = [this.server, this.admin].filter((s): s is Server => s?.listening === true);
    const closing = listening.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    this.server.closeAllConnections();
    this.admin?.closeAllConnections();
    await Promise.all(closing);
    this.ctx.watch.stop();
    await this.pools.destroy();
  }

  /** The data-path URL, for example `http://127.0.0.1:8080`. */
  get url(): string {
    return urlOf(this.server.address() as AddressInfo);
  }

  get adminUrl(): string | null {
    return this.admin ? urlOf(this.admin.address() as AddressInfo) : null;
  }

  get generation(): number {
    return this.generationCounter;
  }

  get inflight(): number {
    return this.ctx.inflight;
  }

  /**
   * Re-reads the source and applies it if it changed. A config that fails to load is logged and
   * leaves the last good one serving. Concurrent calls coalesce.
   */
  async reload(): Promise<void> {
    return this.reloadAs(false);
  }

  /**
   * `quiet` for the watch's checks, which run without a watched file having changed: a rejection
   * the same as the last one is then not logged or counted again.
   */
  private reloadAs(quiet: boolean): Promise<void> {
    if (this.closing) return Promise.resolve();
    if (this.reloading) {
      this.reloadAgain = { quiet: quiet && (this.reloadAgain?.quiet ?? true) };
      return this.reloading;
    }
    this.reloading = (async () => {
      let next: { quiet: boolean } | null = { quiet };
      while (next && !this.closing) {
        this.reloadAgain = null;
        await this.reloadOnce(next.quiet);
        next = this.reloadAgain;
      }
    })().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  /** Replaces the config of a server started from a config object. */
  async apply(config: ProxyConfigInput, values?: ManifestValues): Promise<void> {
    (this.options as { source: ProxySource }).source = { config, ...(values ? { values } : {}) };
    await this.reload();
  }

  private async reloadOnce(quiet: boolean): Promise<void> {
    let loaded: LoadedConfig | null = null;
    let built: Built;
    try {
      loaded = load(this.options.source);
      built = build(loaded, this.options, this.pools, this.metrics, this.generationCounter + 1);
    } catch (err) {
      // An error the loader did not expect: its class and system code only (a message may quote the config).
      const problems = err instanceof ConfigLoadError ? err.problems : [`unexpected error while loading the config (${errorKind(err)})`];
      const rejection = JSON.stringify(problems);
      const repeated = quiet && rejection === this.lastRejection;
      this.lastRejection = rejection;
      if (!repeated) {
        this.metrics.configReloads.labels({ result: "failure" }).inc();
        this.logger.error({ problems, generation: this.generationCounter }, "config rejected; still serving the last good config");
        this.emit("reloadError", err);
      }
      // Watched: the files and folders of the config being served, and those this attempt read or
      // tried to read (a Secret not mounted yet, a folder it could not list), so that a fix in either is noticed.
      if (this.watcher) {
        const tried = attemptedPaths(this.options.source, loaded, err);
        await this.watcher.update([...this.watching.files, ...tried.files], [...this.watching.folders, ...tried.folders]);
      }
      return;
    }
    this.watching = { files: built.files, folders: built.folders };
    if (built.fingerprint === this.fingerprint) {
      this.retainPools(built.state.poolKeys);
      if (this.watcher) await this.watcher.update(built.files, built.folders);
      if (this.lastRejection !== null) {
        this.lastRejection = null;
        this.metrics.configReloads.labels({ result: "success" }).inc();
        this.logger.info({ generation: this.generationCounter }, "config valid again, unchanged");
      } else this.logger.debug({ generation: this.generationCounter }, "config read again, unchanged");
      return;
    }
    this.lastRejection = null;
    this.generationCounter++;
    this.fingerprint = built.fingerprint;
    const replaced = this.ctx.state;
    this.ctx.state = built.state;
    // Pools of the old config that the new one does not use close once the requests it routed have
    // finished: some pick their pool before they are sent (their body is read first).
    if (replaced.inflight > 0) this.retiredStates.add(replaced);
    this.retainPools();
    this.metrics.configReloads.labels({ result: "success" }).inc();
    this.metrics.configGeneration.set(this.generationCounter);
    for (const w of built.warnings) this.logger.warn({ problem: w }, "config warning");
    if (this.watcher) await this.watcher.update(built.files, built.folders);
    this.logger.info({ generation: this.generationCounter, ...built.counts }, "config applied");
    this.emit("reload", this.generationCounter);
  }

  /**
   * Closes, gracefully, every pool that neither the config being served nor a replaced one with requests
   * in progress uses (nor `also`: those a build just acquired).
   */
  private retainPools(also: ReadonlySet<string> = new Set()): void {
    const keep = new Set([...this.ctx.state.poolKeys, ...also]);
    for (const state of this.retiredStates) for (const key of state.poolKeys) keep.add(key);
    this.pools.retainOnly(keep);
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res, false);

  private readonly onCheckContinue = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res, true);

  private handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    // Pipelined beyond the bound of exchanges in progress on its connection: started when one finishes.
    const waiting = pipelineWaiting(req.socket);
    if (waiting !== null) waiting.wait(() => this.serve(req, res, expectsContinue), res);
    else this.serve(req, res, expectsContinue);
  }

  private serve(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    if (this.ctx.draining) {
      // The first answer on a connection while draining closes it. A request pipelined behind that one
      // is never answered (Node.js queues its response, then closes the connection), so it is neither
      // forwarded nor logged: the client sends it again, on a new connection. That answer may be one
      // already in progress, for a request that came before draining began.
      if (this.ctx.closingConnections.has(req.socket) || answerPendingOn(req.socket)) return;
      lastAnswer(this.ctx, req.socket, res);
    }
    // What Node.js sets from the server's keepAliveTimeout for its `Keep-Alive: timeout=N` response header
    // (test/data-path.test.ts checks that the header is there).
    else (res as ServerResponse & { _keepAliveTimeout: number })._keepAliveTimeout = this.ctx.clientKeepAliveMs;
    let exchange: Exchange | null = null;
    try {
      exchange = new Exchange(this.ctx, req, res);
      exchange.continuePending = expectsContinue;
      exchange.start();
    } catch (err) {
      this.logger.error({ err: { name: (err as Error).name } }, "request handler failed");
      if (exchange !== null) exchange.crashed();
      else if (!res.headersSent) {
        const body = errorBody("internal_error");
        res.writeHead(ERROR_CATALOGUE.internal_error.status, { "content-type": "application/json", "content-length": body.length });
        res.end(body);
      } else res.destroy();
    }
  }

  /**
   * A request Node.js's parser refused (malformed, headers too large, too slow). Node.js's own handler
   * answers 400 (431, 413, 408) whenever no response on the connection has started; when the bad request
   * was pipelined behind requests still being answered, that status line would read as the answer to
   * the first of them, so the connection is closed instead. When the request being read goes bad in its
   * body, its exchange answers 400 `malformed_request` itself. Otherwise it answers as Node.js does,
   * and, unlike Node.js, logs the answer as a request line (the parser's code as its `error`) and
   * counts it under no route, so a client sending oversized headers shows in the logs and metrics.
   */
  private readonly onClientError = (err: NodeJS.ErrnoException, socket: Socket): void => {
    if (err.code?.startsWith("HPE_")) {
      const reading = exchangeReading(socket);
      // The connection ended in the middle of the body being read: the client went away (it aborted, or its
      // timeout ran out, during the upload). Its exchange ends as client_closed_request (499) when the
      // socket closes; the request is not malformed.
      if (reading !== undefined && err.code === "HPE_INVALID_EOF_STATE") return void socket.destroy();
      // The request being read went bad in its body: it is answered (and logged) as the proxy's own 400.
      if (reading?.malformedRequest()) return;
    }
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (socket.writable && (!inFlight || !inFlight.headersSent) && !answeringEarlierRequests(socket)) {
      const status = CLIENT_ERROR_STATUS[err.code ?? ""] ?? 400;
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
      logRefused(this.ctx, "", "", status, err.code ?? "bad_request");
    }
    socket.destroy(err);
  };

  private readonly onAdminRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      // Ready once a config is loaded (always, after start) and until shutdown begins.
      const ready = !this.ctx.draining;
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ready\n" : "draining\n");
    } else if (path === "/metrics") {
      // Token usage is recorded with the pending request lines (logger.ts): complete them first.
      flushRequestLines(this.logger);
      this.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": this.metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  };

  /**
   * Answers `/readyz` with 503 and keeps serving for `delayMs` (each response then closes its
   * connection, so clients reconnect to another pod), stops accepting connections, lets requests and
   * streams in flight finish for up to `graceMs`, then ends what still runs as `proxy_shutting_down`
   * and closes everything. Resolves when done; never rejects.
   */
  shutdown(graceMs = this.options.shutdownGraceMs ?? 25_000, delayMs = this.options.shutdownDelayMs ?? 0): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      const ctx = this.ctx;
      ctx.draining = true;
      await this.watcher?.close();
      if (delayMs > 0) {
        this.logger.info({ inflight: ctx.inflight, delayMs }, "not ready; still serving until the delay ends");
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
      const inflight = ctx.inflight;
      this.logger.info({ inflight, graceMs }, "shutting down");
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeIdleConnections();
      const drained = await untilIdle(ctx, graceMs);
      const abandoned = drained ? 0 : ctx.inflight;
      if (drained) {
        this.server.closeAllConnections();
        await this.pools.close();
      } else {
        // What is still running ends as proxy_shutting_down: upstream exchanges first, while their clients'
        // connections are open, so an answer not begun is a 503 and a stream ends with that error event
        // (they would otherwise read as upstream failures); then the connections, with whatever is left.
        ctx.abandoning = true;
        await this.pools.destroy(new ProxyError("proxy_shutting_down"));
        this.server.closeAllConnections();
        // A connection's exchanges end with its `close` event, which can come after the server's own:
        // waited for, so their request lines are logged (and flushed below) before the process exits.
        await untilIdle(ctx, ABANDON_WAIT_MS);
      }
      await closed;
      ctx.watch.stop();
      if (this.admin) {
        const adminClosed = new Promise<void>((resolve) => this.admin!.close(() => resolve()));
        this.admin.closeAllConnections();
        await adminClosed;
      }
      this.logger.info({ drained, abandoned }, "stopped");
      flushLogger(this.logger);
    })();
    return this.closing;
  }
}

/** Whether no exchange is in progress by `ms` from now (at once when none is). */
function untilIdle(ctx: ExchangeContext, ms: number): Promise<boolean> {
  if (ctx.inflight === 0) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    ctx.onIdle = () => {
      clearTimeout(timer);
      resolve(true);
    };
  });
}

/** How long shutdown waits, once the grace has ended and the connections are closed, for their exchanges to end. */
const ABANDON_WAIT_MS = 1000;

/** The status Node.js's own `clientError` handler answers, by error code (400 for any other). */
const CLIENT_ERROR_STATUS: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/**
 * What a load that failed read or tried to read, to watch until it is fixed: the source's own paths
 * and, when the config itself loaded, the files it points to.
 */
function attemptedPaths(source: ProxySource, loaded: LoadedConfig | null, err: unknown): { files: string[]; folders: string[] } {
  if (loaded) return { files: [...loaded.files, ...(err instanceof ConfigLoadError ? err.files : [])], folders: loaded.folders };
  if ("configFile" in source) return { files: [source.configFile], folders: [] };
  const files: string[] = [];
  const folders: string[] = [];
  if ("manifests" in source) {
    for (const path of source.manifests) {
      let isFolder = false;
      try {
        isFolder = statSync(path).isDirectory();
      } catch {
        // missing: watched as a file, through the nearest folder that exists
      }
      (isFolder ? folders : files).push(path);
    }
  }
  return { files, folders };
}

function load(source: ProxySource): LoadedConfig {
  if ("config" in source) {
    const parsed = ProxyConfigSchema.safeParse(source.config);
    if (!parsed.success) throw new ConfigLoadError(parsed.error.issues.map((i) => `ProxyConfig: \`${formatFieldPath(i.path)}\` ${i.message}`));
    return { config: parsed.data, values: source.values ?? null, warnings: [], files: [], folders: [] };
  }
  return loadConfig(source);
}

/** The config's credentials; for a config file, each problem names the file as its schema errors do. */
function credentialsFor(loaded: LoadedConfig, options: ProxyServerOptions): ResolvedCredentials {
  try {
    return resolveCredentials(loaded.config, loaded.values, options.env ?? process.env);
  } catch (err) {
    const source = options.source;
    if (err instanceof ConfigLoadError && "configFile" in source) throw new ConfigLoadError(err.problems.map((p) => `${source.configFile}: ProxyConfig: ${p}`), err.files);
    throw err;
  }
}

function build(loaded: LoadedConfig, options: ProxyServerOptions, pools: UpstreamPools, metrics: ProxyMetrics, generation: number): Built {
  const credentials = credentialsFor(loaded, options);
  const poolKeys = new Set<string>();
  const table = compileRoutingTable(loaded.config, {
    backendKeys: credentials.backendKeys,
    metrics,
    dispatcherFor: (backend) => {
      const { key, dispatcher } = pools.acquire(poolSettingsFor(loaded.config, backend, credentials.backendCas.get(backend.name)));
      poolKeys.add(key);
      return dispatcher;
    },
  });
  const hash = createHash("sha256").update(JSON.stringify(loaded.config));
  for (const [name, key] of [...credentials.backendKeys].sort()) hash.update(`\0${name}\0${key}`);
  for (const [name, cas] of [...credentials.backendCas].sort()) hash.update(`\0${name}\0${cas.join("")}`);
  for (const d of credentials.clientKeyDigests ?? []) hash.update(d);
  return {
    state: {
      generation,
      table,
      maxBodyBytes: loaded.config.limits.maxRequestBodyBytes,
      maxBufferedBodyBytes: loaded.config.limits.maxBufferedBodyBytes ?? defaultBodyBudget(memoryLimit(), loaded.config.limits.maxRequestBodyBytes),
      clientKeyDigests: credentials.clientKeyDigests,
      poolKeys,
      inflight: 0,
    },
    fingerprint: hash.digest("hex"),
    files: [...loaded.files, ...credentials.files],
    folders: loaded.folders,
    warnings: loaded.warnings,
    counts: { routes: loaded.config.routes.length, backends: loaded.config.backends.length },
  };
}

function listen(server: Server, address: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    // No host (undefined): Node.js listens on `::`, dual-stack, or on `0.0.0.0` without IPv6.
    server.listen({ host: address.host, port: address.port }, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

function urlOf(address: AddressInfo): string {
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/**
 * Logs a failing config watch once per error code (it may fail again at every rebuild): changes still
 * apply, but only at the next full read. Only the code: a path is not needed to act, and is not printed.
 */
function watchErrorLogger(logger: Logger, fallbackMs: number): (err: NodeJS.ErrnoException) => void {
  const logged = new Set<string>();
  return (err) => {
    const code = err.code ?? "error";
    if (logged.has(code)) return;
    logged.add(code);
    const limit = code === "ENOSPC" ? "the node's inotify watch limit is reached (fs.inotify.max_user_watches); " : "";
    const later = fallbackMs > 0 ? `changes now apply when the config is read again (every ${fallbackMs / 1000} s)` : "changes may not apply until a restart";
    logger.warn({ code }, `config watch failed: ${limit}${later}; watching again every ${REBUILD_AFTER_ERROR_MS / 1000} s`);
  };
}

/** `TypeError`, `Error EACCES`: what kind of error it was, never its message. */
function errorKind(err: unknown): string {
  if (!(err instanceof Error)) return typeof err;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && /^[A-Z0-9_]{1,40}$/.test(code) ? `${err.name} ${code}` : err.name;
}
