/**
 * One undici `Pool` per upstream (origin plus TLS settings and limits), with keep-alive. Pools survive
 * config reloads when their settings are unchanged; a pool no longer referenced is closed gracefully,
 * so requests already on it finish.
 */
import { createHash } from "node:crypto";
import { createSecureContext } from "node:tls";
import type { Dispatcher, Pool as UndiciPool, buildConnector as UndiciBuildConnector } from "undici";
import type { BackendConfig, ProxyConfig } from "../config/schema";

/**
 * undici's `Pool`, loaded from its own module: the package's index also loads fetch, WebSocket,
 * EventSource, the cache, the mock agents and the interceptors, about 7 MB of resident memory the proxy
 * never uses (proxy/bench/HISTORY.md). `test/packaging.test.ts` checks that this is the very class the
 * index exports, so an undici upgrade that moves it fails the tests, not the proxy.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const Pool = require("undici/lib/dispatcher/pool") as typeof UndiciPool;

/** undici's connector factory, from its own module as {@link Pool} is (the same check in `test/packaging.test.ts`). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const buildConnector = require("undici/lib/core/connect") as typeof UndiciBuildConnector;

/**
 * Errors with which opening an upstream connection failed (TCP connect or TLS handshake), as told by the
 * pools' connectors. undici hands an open connection's error (an idle keep-alive connection the upstream
 * reset) to requests it has not written yet as well: only these are errors of the handshake.
 */
const connectFailures = new WeakSet<object>();

/** Whether `err` is one with which opening an upstream connection failed ({@link connectFailures}). */
export function failedToConnect(err: unknown): boolean {
  return typeof err === "object" && err !== null && connectFailures.has(err);
}

export interface PoolSettings {
  origin: string;
  servername: string | undefined;
  /** PEM bundles to trust instead of the system store, or undefined for the system store. */
  ca: string[] | undefined;
  connectTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number | undefined;
  /** 0: no limit. */
  maxRequestsPerConnection: number;
}

export function poolSettingsFor(config: ProxyConfig, backend: BackendConfig, ca: string[] | undefined): PoolSettings {
  const host = backend.host.includes(":") ? `[${backend.host}]` : backend.host;
  return {
    origin: `${backend.tls ? "https" : "http"}://${host}:${backend.port}`,
    servername: backend.tls?.serverName,
    ca,
    connectTimeoutMs: backend.timeouts?.connectMs ?? config.upstream.connectTimeoutMs,
    keepAliveTimeoutMs: config.upstream.keepAliveTimeoutMs,
    maxConnections: backend.maxConnections ?? config.upstream.maxConnections,
    maxRequestsPerConnection: config.upstream.maxRequestsPerConnection ?? 0,
  };
}

export class UpstreamPools {
  private pools = new Map<string, UndiciPool>();

  /** The pool for these settings, created on first use. */
  acquire(settings: PoolSettings): { key: string; dispatcher: Dispatcher } {
    const key = keyOf(settings);
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(settings.origin, {
        connections: settings.maxConnections ?? null,
        // undici counts from 0 and closes after the request whose count reaches the limit, so N requests
        // are N - 1 here; one request per connection is keep-alive off (pipelining 0).
        pipelining: settings.maxRequestsPerConnection === 1 ? 0 : 1,
        ...(settings.maxRequestsPerConnection > 1 ? { maxRequestsPerClient: settings.maxRequestsPerConnection - 1 } : {}),
        keepAliveTimeout: settings.keepAliveTimeoutMs,
        keepAliveMaxTimeout: Math.max(settings.keepAliveTimeoutMs, 600_000),
        allowH2: false,
        connect: connectorFor(settings),
      });
      this.pools.set(key, pool);
    }
    return { key, dispatcher: pool };
  }

  /** Closes, gracefully, every pool whose key is not in `keep`. */
  retainOnly(keep: ReadonlySet<string>): void {
    for (const [key, pool] of this.pools) {
      if (keep.has(key)) continue;
      this.pools.delete(key);
      pool.close().catch(() => undefined);
    }
  }

  /** Waits for running requests, then closes every pool. */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => undefined)));
  }

  /** Aborts everything still running, with `err` when given (undici's own otherwise). */
  async destroy(err?: Error): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => (err ? p.destroy(err) : p.destroy()).catch(() => undefined)));
  }
}

/** undici's own connector for these settings, which notes the errors it fails with ({@link failedToConnect}). */
function connectorFor(settings: PoolSettings): UndiciBuildConnector.connector {
  const connect = buildConnector({
    timeout: settings.connectTimeoutMs,
    allowH2: false,
    ...(settings.servername ? { servername: settings.servername } : {}),
    // One TLS context per pool, its CAs parsed once: given none, Node.js builds one for every new
    // connection, about 0.35 ms with the system store and 0.5 ms with one CA of CPU on the event loop,
    // 42 ms for a bundle of 144 (proxy/bench/HISTORY.md). The pool's key holds the CAs, so a change
    // of them makes a new pool and context.
    ...(settings.origin.startsWith("https:") ? { secureContext: createSecureContext(settings.ca ? { ca: settings.ca } : {}) } : {}),
    // Never relaxed: certificate and host name errors fail the request (502 upstream_tls_failed).
    rejectUnauthorized: true,
  });
  return (options, callback) =>
    connect(options, (err, socket) => {
      if (err !== null) {
        connectFailures.add(err);
        callback(err, null);
      } else callback(null, socket);
    });
}

function keyOf(s: PoolSettings): string {
  const ca = s.ca ? createHash("sha256").update(s.ca.join("\n")).digest("hex") : "system";
  return [s.origin, s.servername ?? "", ca, s.connectTimeoutMs, s.keepAliveTimeoutMs, s.maxConnections ?? "", s.maxRequestsPerConnection].join("|");
}
