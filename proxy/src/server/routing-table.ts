/**
 * Compiles a validated {@link ProxyConfig} into the immutable state the hot path reads: match entries
 * sorted by Gateway API precedence (indexed by path, so a request is tried against the few it can match), and per route/backend pair the header names to drop and the header
 * pairs to add (Host, provider key, RequestHeaderModifier), all computed once per config load.
 * A reload builds a new table and swaps one reference; requests in flight keep the table they started with.
 *
 * Precedence: https://gateway-api.sigs.k8s.io/reference/spec/#httprouterule (Exact path over prefix,
 * longest prefix, method, most header matches, most query matches, then config order), after the most
 * specific matching hostname (HTTPRoute `hostnames`), which depends on the request and so is applied
 * by {@link findRoute}.
 */
import { Buffer } from "node:buffer";
import type { Dispatcher } from "undici";
import type { BackendConfig, ProxyConfig, RouteConfig } from "../config/schema";
import { setFlagsFromString } from "node:v8";
import { BackendMetrics, operationForPath, type ProxyMetrics, type RouteMetrics } from "./metrics";

// Header and query regexes run on what clients send. Gateway API specifies RE2, which matches in linear
// time; V8's backtracking engine takes hours over `^(?:(a|aa)+)$` and 60 `a`s and a `b`, during which the
// proxy serves no one. With this flag V8 runs a regex that backtracks excessively (50,000 backtracks)
// again on its linear-time engine, with the same result, for every pattern that engine supports: all of
// RE2's syntax that JavaScript shares (not backreferences or lookarounds, which RE2 lacks too).
setFlagsFromString("--enable-experimental-regexp-engine-on-excessive-backtracks");

/** Request headers never forwarded: hop-by-hop (RFC 9110 section 7.6.1) and proxy-owned ones. */
const REQUEST_HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "http2-settings",
  "proxy-authorization",
  "proxy-authenticate",
  // Set from configuration only: the client cannot choose the upstream authority.
  "host",
  // undici does not do 100-continue over HTTP/1.1, and the proxy has already accepted the body.
  "expect",
  // The upstream answers uncompressed, so `usage` can be read and SSE is never held in a compressor.
  "accept-encoding",
];
/** The client's credentials: never forwarded (except the token itself with `Passthrough`). */
const CLIENT_CREDENTIALS = ["authorization", "x-api-key", "api-key"];

export const RESPONSE_HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "trailer", "te", "http2-settings", "proxy-authenticate"]);

export interface CompiledBackend {
  readonly name: string;
  readonly dispatcher: Dispatcher;
  /** Fixed upstream path (`path.full`), or null to use the (rewritten) request path. */
  readonly path: string | null;
  readonly pathHasQuery: boolean;
  /** The model override as a JSON string literal and as its UTF-8 bytes (encoded once), or null. */
  readonly model: { readonly json: string; readonly bytes: Buffer } | null;
  readonly requireModel: boolean;
  /** With `Passthrough`: the header to write the client's token into, and its prefix. */
  readonly passthrough: { readonly headerName: string; readonly prefix: string } | null;
  readonly servername: string | undefined;
  /** Host header when the route has no URLRewrite hostname. */
  readonly hostHeader: string;
  /** The provider key header (`Key` auth), or null. */
  readonly authHeaderName: string | null;
  readonly authPrefix: string;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  /** `gen_ai.operation.name` when the path is fixed. */
  readonly operation: string | null;
  readonly metrics: BackendMetrics;
}

export interface HeaderPair {
  readonly name: string;
  readonly value: string;
}

export interface CompiledRoute {
  readonly name: string;
  readonly targets: readonly Target[];
  /** Cumulative weights, parallel to `targets`. */
  readonly cumulative: readonly number[];
  readonly totalWeight: number;
  /** 0: keep the path, 1: ReplaceFullPath, 2: ReplacePrefixMatch. */
  readonly pathRewrite: 0 | 1 | 2;
  readonly pathRewriteValue: string;
  /** `timeouts.requestMs` (from the request's arrival), or 0 for none. */
  readonly requestMs: number;
  /** `timeouts.backendRequestMs` (from when the request starts being sent upstream), or 0 for none. */
  readonly backendRequestMs: number;
  readonly responseDrop: ReadonlySet<string> | null;
  readonly responseSet: readonly HeaderPair[];
  readonly responseAdd: readonly HeaderPair[];
  readonly metrics: RouteMetrics;
}

export interface Target {
  readonly route: CompiledRoute;
  readonly backend: CompiledBackend;
  /** Lower-case request header names not forwarded. */
  readonly drop: ReadonlySet<string>;
  /** Flat `[name, value, ...]` appended to the forwarded headers. */
  readonly extra: readonly string[];
  /** The body must be read and parsed (model override or `requireModel`). */
  readonly parseBody: boolean;
}

interface StringCondition {
  readonly name: string;
  readonly exact: string | null;
  readonly regex: RegExp | null;
}

export interface MatchEntry {
  readonly route: CompiledRoute;
  readonly exact: boolean;
  /** Path value; for a prefix, without a trailing slash (except `/`). */
  readonly value: string;
  readonly method: string | null;
  readonly headers: readonly StringCondition[] | null;
  readonly query: readonly StringCondition[] | null;
  readonly hostExact: ReadonlySet<string> | null;
  readonly hostSuffixes: readonly string[] | null;
  readonly order: number;
}

export interface RoutingTable {
  readonly entries: readonly MatchEntry[];
  /**
   * Positions in {@link entries} (ascending, so in precedence order) of the Exact matches by path, and of
   * the PathPrefix matches by prefix: a request is tried against the entries its path can match only,
   * not against every route (a platform's proxy has hundreds).
   */
  readonly exactPaths: ReadonlyMap<string, readonly number[]>;
  readonly pathPrefixes: ReadonlyMap<string, readonly number[]>;
  /**
   * The lengths of the PathPrefix values other than `/`, ascending, each once: the only parts of a path
   * looked up in {@link pathPrefixes}, so the cost of a path of thousands of `/` is that of the config's
   * few lengths, not of a lookup (hashing the part) for every `/`.
   */
  readonly prefixLengths: readonly number[];
  /** Any entry needs the Host header, a header or the query string. */
  readonly needsRequestDetails: boolean;
  /** Some route names hostnames: the most specific matching hostname goes first ({@link findRoute}). */
  readonly hostPrecedence: boolean;
}

/** Builds the dispatcher for a backend; the caller owns pooling and reuse. */
export type DispatcherFor = (backend: BackendConfig) => Dispatcher;

export function compileRoutingTable(
  config: ProxyConfig,
  options: { dispatcherFor: DispatcherFor; backendKeys: ReadonlyMap<string, string>; metrics: ProxyMetrics },
): RoutingTable {
  const backends = new Map<string, CompiledBackend>();
  for (const b of config.backends) {
    const timeouts = b.timeouts ?? {};
    backends.set(b.name, {
      name: b.name,
      dispatcher: options.dispatcherFor(b),
      path: b.path ?? null,
      pathHasQuery: b.path?.includes("?") ?? false,
      model: b.model !== undefined ? modelOverride(b.model) : null,
      requireModel: b.requireModel,
      passthrough: b.auth.type === "Passthrough" ? { headerName: b.auth.headerName, prefix: b.auth.prefix } : null,
      servername: b.tls?.serverName,
      hostHeader: hostHeaderOf(b),
      authHeaderName: b.auth.type === "Key" ? b.auth.headerName : null,
      authPrefix: b.auth.type === "None" ? "" : b.auth.prefix,
      headersTimeout: timeouts.headersMs ?? config.upstream.headersTimeoutMs,
      bodyTimeout: timeouts.bodyMs ?? config.upstream.bodyTimeoutMs,
      operation: b.path !== undefined ? operationForPath(b.path) : null,
      metrics: new BackendMetrics(options.metrics, {
        backend: b.name,
        provider: b.provider ?? b.tls?.serverName ?? b.host,
        serverAddress: b.host,
        requestModel: b.model ?? "",
      }),
    });
  }

  const entries: MatchEntry[] = [];
  let needsRequestDetails = false;
  config.routes.forEach((r, routeIndex) => {
    const route = compileRoute(r, backends, options);
    // No hostnames, or an empty list: any host (Gateway API).
    const hostnames = r.hostnames?.length ? r.hostnames : null;
    const hostExact = hostnames ? new Set(hostnames.filter((h) => !h.startsWith("*.")).map((h) => h.toLowerCase())) : null;
    const hostSuffixes = hostnames ? hostnames.filter((h) => h.startsWith("*.")).map((h) => h.slice(1).toLowerCase()) : null;
    r.matches.forEach((m, matchIndex) => {
      // A PathPrefix ignores a trailing `/` (Gateway API); an Exact path is matched as written.
      const prefix = m.path.type === "PathPrefix";
      const value = prefix && m.path.value.length > 1 && m.path.value.endsWith("/") ? m.path.value.replace(/\/+$/, "") || "/" : m.path.value;
      const headers = m.headers?.length ? conditions(m.headers, (name) => name.toLowerCase()) : null;
      const query = m.queryParams?.length ? conditions(m.queryParams, (name) => name) : null;
      if (headers || query || hostExact) needsRequestDetails = true;
      entries.push({
        route,
        exact: !prefix,
        value,
        method: m.method ?? null,
        headers,
        query,
        hostExact,
        hostSuffixes,
        order: routeIndex * 1_000 + matchIndex,
      });
    });
  });
  entries.sort(
    (a, b) =>
      Number(b.exact) - Number(a.exact) ||
      b.value.length - a.value.length ||
      Number(b.method !== null) - Number(a.method !== null) ||
      (b.headers?.length ?? 0) - (a.headers?.length ?? 0) ||
      (b.query?.length ?? 0) - (a.query?.length ?? 0) ||
      a.order - b.order,
  );
  const exactPaths = new Map<string, number[]>();
  const pathPrefixes = new Map<string, number[]>();
  entries.forEach((e, i) => {
    const index = e.exact ? exactPaths : pathPrefixes;
    const positions = index.get(e.value);
    if (positions) positions.push(i);
    else index.set(e.value, [i]);
  });
  const prefixLengths = [...new Set([...pathPrefixes.keys()].filter((v) => v !== "/").map((v) => v.length))].sort((a, b) => a - b);
  return { entries, exactPaths, pathPrefixes, prefixLengths, needsRequestDetails, hostPrecedence: entries.some((e) => e.hostExact !== null) };
}

function hostHeaderOf(b: BackendConfig): string {
  const host = b.host.includes(":") ? `[${b.host}]` : b.host;
  return b.port === (b.tls ? 443 : 80) ? host : `${host}:${b.port}`;
}

/**
 * One condition per name (`key` gives header names case-insensitively, query names as written): of
 * several with an equivalent name, only the first is considered (Gateway API HTTPHeaderMatch and
 * HTTPQueryParamMatch `name`).
 */
function conditions(list: readonly { name: string; type: "Exact" | "RegularExpression"; value: string }[], key: (name: string) => string): StringCondition[] {
  return firstOfEachName(list, key).map((c) => condition(key(c.name), c.type, c.value));
}

function condition(name: string, type: "Exact" | "RegularExpression", value: string): StringCondition {
  // Compiled once here; RE2-style full matches, as Gateway API implementations anchor them.
  return type === "Exact" ? { name, exact: value, regex: null } : { name, exact: null, regex: new RegExp(`^(?:${value})$`) };
}

function compileRoute(
  r: RouteConfig,
  backends: ReadonlyMap<string, CompiledBackend>,
  options: { backendKeys: ReadonlyMap<string, string>; metrics: ProxyMetrics },
): CompiledRoute {
  const targets: Target[] = [];
  const cumulative: number[] = [];
  const rewrite = r.urlRewrite?.path;
  const route: { -readonly [K in keyof CompiledRoute]: CompiledRoute[K] } = {
    name: r.name,
    targets,
    cumulative,
    totalWeight: 0,
    pathRewrite: rewrite === undefined ? 0 : rewrite.type === "ReplaceFullPath" ? 1 : 2,
    pathRewriteValue: rewrite === undefined ? "" : rewrite.type === "ReplaceFullPath" ? rewrite.replaceFullPath : rewrite.replacePrefixMatch.replace(/\/+$/, ""),
    requestMs: r.timeouts?.requestMs ?? 0,
    backendRequestMs: r.timeouts?.backendRequestMs ?? 0,
    responseDrop: r.responseHeaderModifier
      ? new Set([...(r.responseHeaderModifier.remove ?? []), ...(r.responseHeaderModifier.set ?? []).map((h) => h.name)].map((n) => n.toLowerCase()))
      : null,
    responseSet: firstOfEachName(r.responseHeaderModifier?.set),
    responseAdd: firstOfEachName(r.responseHeaderModifier?.add),
    metrics: options.metrics.route(r.name),
  };
  for (const ref of r.backendRefs) {
    if (ref.weight === 0) continue;
    const backend = backends.get(ref.name);
    if (!backend) continue; // the schema guarantees it exists
    const key = options.backendKeys.get(ref.name);
    targets.push(compileTarget(route, r, backend, key));
    route.totalWeight += ref.weight;
    cumulative.push(route.totalWeight);
  }
  return route;
}

/**
 * The entries of `list`, each name once: of several with an equivalent name (`key` of the name; case
 * aside by default), only the first counts and the others are ignored. Gateway API's rule for header
 * and query matches and for a header modifier's `set` and `add` entries (HTTPHeader `name`).
 */
function firstOfEachName<T extends { name: string }>(list: readonly T[] | undefined, key: (name: string) => string = (name) => name.toLowerCase()): T[] {
  const seen = new Set<string>();
  return (list ?? []).filter((entry) => {
    const name = key(entry.name);
    if (seen.has(name)) return false;
    seen.add(name);
    return true;
  });
}

function compileTarget(route: CompiledRoute, r: RouteConfig, backend: CompiledBackend, key: string | undefined): Target {
  const drop = new Set<string>([...REQUEST_HOP_BY_HOP, ...CLIENT_CREDENTIALS]);
  const extra: string[] = [];
  const mod = r.requestHeaderModifier;
  // The header the backend writes its key (or the client's token) into is the backend's alone: a route's
  // value there would go out beside the key, two credentials the upstream would pick from.
  const owned = (backend.authHeaderName ?? backend.passthrough?.headerName)?.toLowerCase();
  for (const name of mod?.remove ?? []) drop.add(name.toLowerCase());
  for (const h of firstOfEachName(mod?.set)) {
    drop.add(h.name.toLowerCase());
    if (h.name.toLowerCase() !== owned) extra.push(h.name, h.value);
  }
  for (const h of firstOfEachName(mod?.add)) if (h.name.toLowerCase() !== owned) extra.push(h.name, h.value);
  const parseBody = backend.model !== null || backend.requireModel;
  // A rewritten body gets a new length; undici computes it.
  if (parseBody) drop.add("content-length");
  // Host: the URLRewrite hostname, else the upstream host (with a non-default port).
  extra.push("host", r.urlRewrite?.hostname ?? backend.hostHeader);
  if (backend.authHeaderName !== null && key !== undefined) {
    drop.add(backend.authHeaderName.toLowerCase());
    extra.push(backend.authHeaderName, backend.authPrefix + key);
  }
  if (backend.passthrough) drop.add(backend.passthrough.headerName.toLowerCase());
  return { route, backend, drop, extra, parseBody };
}

/**
 * The entry that serves the request: the first (in precedence order) that accepts it, or, when routes
 * name hostnames, the first among those of the routes whose matching hostname is the most specific.
 * `details` are read lazily, only when an entry has header, query or hostname conditions.
 */
export function findRoute(table: RoutingTable, method: string, path: string, details: RequestDetails): MatchEntry | undefined {
  const entries = table.entries;
  // Every other entry's path condition rejects the request, so skipping it changes nothing.
  const candidates = candidatesFor(table, path);
  if (!table.hostPrecedence) {
    for (let i = 0; i < candidates.length; i++) {
      const e = entries[candidates[i]!]!;
      if (accepts(e, method, path, details)) return e;
    }
    return undefined;
  }
  // Gateway API (HTTPRoute `hostnames`): across routes with intersecting hostnames, precedence goes to the
  // route with the most characters in a matching non-wildcard hostname, then in a matching hostname; the
  // match precedence of the sorted entries only breaks ties. A route without hostnames scores 0.
  const host = hostOf(details.host());
  let best: MatchEntry | undefined;
  let bestScore = -1;
  for (let i = 0; i < candidates.length; i++) {
    const e = entries[candidates[i]!]!;
    const score = e.hostExact === null ? 0 : hostScore(e, host);
    if (score <= bestScore || !accepts(e, method, path, details)) continue;
    best = e;
    bestScore = score;
  }
  return best;
}

const NO_ENTRIES: readonly number[] = [];

/**
 * The positions, in precedence order, of the entries whose path condition accepts `path` (as
 * {@link accepts} tests it): the Exact matches of the path itself, and the PathPrefix matches of `/`, of
 * the path itself and of each part of it that a `/` follows (`/a` and `/a/b` for `/a/b/c`). Only parts as
 * long as a PathPrefix value are looked up: slicing and hashing the part before every `/` made a path of
 * 16,000 `/` (within Node.js's 16 KiB head) cost about 0.25 s of CPU, quadratic in its length.
 */
function candidatesFor(table: RoutingTable, path: string): readonly number[] {
  const found: (readonly number[])[] = [];
  const exact = table.exactPaths.get(path);
  if (exact) found.push(exact);
  const root = table.pathPrefixes.get("/");
  if (root) found.push(root);
  const lengths = table.prefixLengths;
  for (let i = 0; i < lengths.length; i++) {
    const n = lengths[i]!;
    if (n > path.length) break;
    // The path itself, or a part of it that a `/` follows.
    if (n < path.length && path.charCodeAt(n) !== 47) continue;
    const part = table.pathPrefixes.get(n === path.length ? path : path.slice(0, n));
    if (part) found.push(part);
  }
  if (found.length === 0) return NO_ENTRIES;
  return found.length === 1 ? found[0]! : found.flat().sort((a, b) => a - b);
}

/** Whether the entry's path, method, header and query conditions accept the request. */
function accepts(e: MatchEntry, method: string, path: string, details: RequestDetails): boolean {
  if (e.exact) {
    if (path !== e.value) return false;
  } else if (e.value !== "/" && path !== e.value && !(path.startsWith(e.value) && path.charCodeAt(e.value.length) === 47)) {
    return false;
  }
  if (e.method !== null && e.method !== method) return false;
  if (e.headers !== null && !e.headers.every((c) => test(c, details.header(c.name)))) return false;
  if (e.query !== null && !e.query.every((c) => test(c, details.query(c.name)))) return false;
  return true;
}

export interface RequestDetails {
  host(): string;
  header(lowerName: string): string | undefined;
  query(name: string): string | undefined;
}

/** The Host header without its port (Gateway API ignores it), lower-cased. */
function hostOf(hostHeader: string): string {
  const colon = hostHeader.lastIndexOf(":");
  return (colon > 0 && !hostHeader.endsWith("]") ? hostHeader.slice(0, colon) : hostHeader).toLowerCase();
}

/**
 * How specifically the entry's route hostnames match `host`: -1 for no match; else the characters of a
 * matching exact hostname (times 256, hostnames being at most 253 characters) plus those of the longest
 * matching hostname, a wildcard counting its `*.`.
 */
function hostScore(e: MatchEntry, host: string): number {
  if (e.hostExact!.has(host)) return host.length * 257;
  let longest = -1;
  // `*.example.com` matches any name with at least one more label (Gateway API hostnames).
  for (const s of e.hostSuffixes!) if (host.endsWith(s) && host.length > s.length && s.length + 1 > longest) longest = s.length + 1;
  return longest;
}

function test(c: StringCondition, value: string | undefined): boolean {
  if (value === undefined) return false;
  return c.exact !== null ? value === c.exact : c.regex!.test(value);
}

/** The upstream path and query for a request, built from configuration plus the client's path. */
export function upstreamPathFor(target: Target, entry: MatchEntry, path: string, search: string): string {
  const backend = target.backend;
  if (backend.path !== null) {
    if (search === "") return backend.path;
    return backend.pathHasQuery ? `${backend.path}&${search.slice(1)}` : backend.path + search;
  }
  const route = target.route;
  let p = path;
  if (route.pathRewrite === 1) p = route.pathRewriteValue;
  else if (route.pathRewrite === 2) {
    // ReplacePrefixMatch: `/mistral/v1/x` with prefix `/mistral` and replacement `/api` is `/api/v1/x`.
    const rest = entry.value === "/" ? path : path.slice(entry.value.length);
    p = route.pathRewriteValue + rest;
    if (p === "") p = "/";
    else if (p.charCodeAt(0) !== 47) p = `/${p}`;
  }
  return p + search;
}

function modelOverride(model: string): { json: string; bytes: Buffer } {
  const json = JSON.stringify(model);
  return { json, bytes: Buffer.from(json, "utf8") };
}
