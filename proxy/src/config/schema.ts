/**
 * The proxy's own configuration contract: `ProxyConfig`, versioned and strict.
 *
 * This module is pure (zod only, no I/O, no server code) because the Pulumi component imports it
 * through `openai-compatible-proxy/translate` to validate the config it renders at `pulumi preview`.
 * Credentials are never part of a config document: a config only says where to read them
 * (a file, an environment variable, or a Secret from the manifests the proxy was started with).
 */
import { z } from "zod";

/** The one `apiVersion` this build reads. A breaking change to the contract bumps it. */
export const PROXY_CONFIG_API_VERSION = "openai-compatible-proxy/v1";

/** Default request body limit: 10 MiB. */
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024;
/** The upstream headers and body (idle) timeouts' default: 600 s, as the official OpenAI clients wait. */
export const UPSTREAM_TIMEOUT_DEFAULT_MS = 600_000;

// RFC 9110 token: the characters allowed in a header name or a method.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 1123 hostname, or an IPv4 address. IPv6 literals are accepted without brackets.
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;
/**
 * RFC 9110 section 5.5 field-value characters: tab, space, visible ASCII and obs-text (U+0080 to U+00FF),
 * which is what undici (request headers) and Node.js (response headers) accept; anything else fails every
 * request. The one rule for header values from config, manifests, keys and the component's arguments.
 */
export const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
export const HEADER_VALUE_RULE = "tab, space, visible ASCII or U+0080 to U+00FF, no control characters (CR, LF, NUL, ...) and nothing above U+00FF";
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Headers a Request- or ResponseHeaderModifier may not `set` or `add`: they frame the message or route it
 * (the Host comes from the URLRewrite hostname or the backend), so a second or a wrong value fails every
 * request or response of the route. The one rule for the config and the translation.
 */
export const UNMODIFIABLE_HEADERS: ReadonlySet<string> = new Set(["host", "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect", "http2-settings"]);
export const UNMODIFIABLE_HEADER_RULE =
  "must not be a header that frames or routes the message (Host: use the URLRewrite `hostname`; Content-Length, Transfer-Encoding, Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, Expect, HTTP2-Settings)";

const name = z.string().min(1).max(253);
const headerName = z.string().regex(TOKEN, "must be an HTTP header name (RFC 9110 token)");
const headerValue = z.string().regex(HEADER_VALUE, `must be a header value: ${HEADER_VALUE_RULE}`);
const hostname = z
  .string()
  .refine((h) => HOSTNAME.test(h) || (h.includes(":") && IPV6.test(h)), "must be a DNS name or an IP address, without scheme, port or path");
/**
 * A name sent as SNI and matched against the upstream's certificate: a DNS name. RFC 6066 forbids IP
 * addresses in SNI (Node.js sends one anyway, with a deprecation warning, and says it will stop), and
 * Gateway API's `validation.hostname` is the SNI. All-numeric names are taken for IPv4 addresses.
 */
export const SERVER_NAME_IP_PROBLEM =
  "must be a DNS name, not an IP address: it is sent as SNI, where RFC 6066 forbids addresses, and the certificate is checked against it; use the DNS name the certificate is issued for";
/** Whether a server name is an IP address: IPv6 (a colon), or all digits and dots (IPv4). */
export const isIpAddressName = (h: string): boolean => h.includes(":") || /^[0-9.]+$/.test(h);
const serverName = z
  .string()
  .refine((h) => !isIpAddressName(h), SERVER_NAME_IP_PROBLEM)
  .refine((h) => HOSTNAME.test(h), "must be a DNS name, without scheme, port or path")
  // Node.js sends the name as written; RFC 6066 has SNI without the final dot, so a server may not match it.
  .refine((h) => !h.endsWith("."), "must not end with a dot: it is sent as SNI, which RFC 6066 writes without the final dot (`api.example.com`, not `api.example.com.`)");
const absolutePath = z
  .string()
  .min(1)
  .refine((p) => p.startsWith("/"), "must start with `/`")
  .refine((p) => !p.includes("#"), "must not contain `#`")
  .refine((p) => !/[\s\0]/.test(p), "must not contain whitespace or NUL");
const millis = z.number().int().min(0).max(2_147_483_647);

/** Where a credential is read from. Exactly one key. */
export const CredentialSourceSchema = z
  .union([
    z.strictObject({ file: z.string().min(1).meta({ description: "Path of a file holding the value (for example a mounted Secret key). Surrounding whitespace and a leading `Bearer ` are removed. Watched for changes. A relative path is read from the working directory." }) }),
    z.strictObject({ env: z.string().regex(ENV_NAME, "must be an environment variable name").meta({ description: "Name of an environment variable holding the value." }) }),
    z.strictObject({
      manifest: z.string().min(1).meta({
        description:
          "A value held in memory by the process that loaded Kubernetes manifests (`--manifests`): `Secret/<namespace>/<name>/<key>` or `Backend/<namespace>/<name>/inline`. Not resolvable from a `--config` file.",
      }),
    }),
  ])
  .meta({ description: "Where a credential is read from: `{file}`, `{env}` or `{manifest}`. A config never holds a credential itself." });
export type CredentialSource = z.infer<typeof CredentialSourceSchema>;

const CaCertificateSchema = z.union([
  z.strictObject({ file: z.string().min(1).meta({ description: "Path of a PEM bundle (for example a mounted ConfigMap key `ca.crt`). Watched for changes. A relative path is read from the working directory." }) }),
  z.strictObject({ pem: z.string().min(1).meta({ description: "PEM-encoded CA certificates." }) }),
]);
export type CaCertificate = z.infer<typeof CaCertificateSchema>;

const TlsSchema = z
  .strictObject({
    serverName: serverName.meta({ description: "SNI and the name the upstream certificate must be valid for (BackendTLSPolicy `validation.hostname`): a DNS name, not an IP address." }),
    caCertificates: z
      .array(CaCertificateSchema)
      .min(1)
      .optional()
      .meta({
        description:
          "Trust only these CAs (BackendTLSPolicy `caCertificateRefs`). Omitted: the system trust store (Node.js roots plus `NODE_EXTRA_CA_CERTS`; BackendTLSPolicy `wellKnownCACertificates: System`).",
      }),
  })
  .meta({ description: "TLS to the upstream. Certificate and hostname errors are never ignored." });

const authHeaderFields = {
  headerName: headerName.default("Authorization").meta({ description: "Header that carries the key (Backend `authHeader.headerName`)." }),
  prefix: headerValue.default("Bearer ").meta({ description: "Written verbatim before the key (Backend `authHeader.prefix`); include a trailing space if the provider expects one." }),
};

const AuthSchema = z
  .discriminatedUnion("type", [
    z.strictObject({
      type: z.literal("Key"),
      key: CredentialSourceSchema.meta({ description: "The provider API key." }),
      ...authHeaderFields,
    }),
    z.strictObject({
      type: z.literal("Passthrough"),
      ...authHeaderFields,
    }).meta({ description: "Forward the client's own `Authorization: Bearer` token, re-written into `headerName: prefix + token`." }),
    z.strictObject({ type: z.literal("None") }),
  ])
  .meta({ description: "How the upstream is authenticated. The client's credentials never go upstream except with `Passthrough`." });

const UpstreamTimeoutsSchema = z.strictObject({
  connectMs: millis.optional().meta({ description: "TCP connect plus TLS handshake." }),
  headersMs: millis.optional().meta({ description: "From the request being sent (its body read from the client in full) to the response headers. Checked every 250 ms: fires up to 500 ms after the limit. 0 disables." }),
  bodyMs: millis.optional().meta({ description: "Idle time between two response body chunks, not counting time the client holds the response back. Checked every 250 ms: fires up to 500 ms after the limit. 0 disables." }),
});

export const BackendSchema = z.strictObject({
  name: name.meta({ description: "Unique name, referenced by `routes[].backendRefs[].name` (the translation uses `<namespace>/<name>`)." }),
  host: hostname.meta({ description: "Upstream host to connect to." }),
  port: z.number().int().min(1).max(65535),
  tls: TlsSchema.optional().meta({ description: "Omitted: plaintext HTTP." }),
  path: absolutePath.optional().meta({
    description: "Full upstream path for every request (Backend `path.full`); the client's query string is kept. Omitted: the path after any route rewrite.",
  }),
  model: z.string().min(1).optional().meta({ description: "Replace the request body's `model` (JSON) with this value, keeping every other byte of the body." }),
  requireModel: z.boolean().default(false).meta({
    description: "Without `model`: parse the JSON body and answer 400 `model_required` when it has no non-empty `model`. Off by default, so bodies stream through untouched.",
  }),
  auth: AuthSchema,
  provider: z.string().min(1).optional().meta({ description: "`gen_ai.provider.name` in metrics (for example `mistral_ai`). Omitted: `tls.serverName`, else the host." }),
  timeouts: UpstreamTimeoutsSchema.optional().meta({ description: "Overrides `upstream` defaults for this backend." }),
  maxConnections: z.number().int().min(1).optional().meta({ description: "Upper bound of open connections to this upstream. Omitted: `upstream.maxConnections`." }),
});
export type BackendConfig = z.infer<typeof BackendSchema>;

const StringMatchSchema = z.strictObject({
  type: z.enum(["Exact", "RegularExpression"]).default("Exact"),
  name: headerName,
  value: z.string(),
});

const PathMatchSchema = z.strictObject({
  type: z.enum(["PathPrefix", "Exact"]).default("PathPrefix"),
  value: absolutePath.refine((p) => !p.includes("?"), "must not contain `?`").default("/"),
});

const MatchSchema = z.strictObject({
  path: PathMatchSchema.default({ type: "PathPrefix", value: "/" }),
  method: z.string().regex(TOKEN).optional(),
  headers: z.array(StringMatchSchema).optional().meta({ description: "All must match. Header names are case-insensitive." }),
  queryParams: z.array(StringMatchSchema.extend({ name: z.string().min(1) })).optional().meta({ description: "All must match. Names are case-sensitive." }),
});

const modifiedHeaderName = headerName.refine((n) => !UNMODIFIABLE_HEADERS.has(n.toLowerCase()), UNMODIFIABLE_HEADER_RULE);
const HeaderModifierSchema = z.strictObject({
  set: z.array(z.strictObject({ name: modifiedHeaderName, value: headerValue })).optional(),
  add: z.array(z.strictObject({ name: modifiedHeaderName, value: headerValue })).optional(),
  remove: z.array(headerName).optional(),
});

const UrlRewriteSchema = z.strictObject({
  hostname: hostname.optional().meta({ description: "Host header sent upstream. Omitted: the backend host." }),
  path: z
    .discriminatedUnion("type", [
      z.strictObject({ type: z.literal("ReplaceFullPath"), replaceFullPath: absolutePath }),
      z.strictObject({ type: z.literal("ReplacePrefixMatch"), replacePrefixMatch: absolutePath }),
    ])
    .optional(),
});

export const RouteSchema = z.strictObject({
  name: name.meta({ description: "Route name in logs and metrics (the translation uses `<namespace>/<route>/<rule index>`)." }),
  hostnames: z.array(z.string().min(1)).optional().meta({ description: "Only requests whose Host header matches (exact, or `*.suffix`); the route with the most specific matching hostname goes first. Omitted or empty: any host." }),
  matches: z
    .array(MatchSchema)
    .min(1)
    .default([{ path: { type: "PathPrefix", value: "/" } }])
    .meta({ description: "Any may match. Precedence across routes follows Gateway API: the most specific matching hostname (exact over wildcard, then the longest), then Exact path, longest prefix, method, most header matches, most query matches, then config order." }),
  urlRewrite: UrlRewriteSchema.optional(),
  requestHeaderModifier: HeaderModifierSchema.optional(),
  responseHeaderModifier: HeaderModifierSchema.optional(),
  backendRefs: z
    .array(z.strictObject({ name, weight: z.number().int().min(0).max(1_000_000).default(1) }))
    .meta({ description: "Requests are split by weight. None, or all weights 0: the route answers 500 `no_backend` (Gateway API), rather than letting another route serve its requests." }),
  timeouts: z
    .strictObject({
      requestMs: millis.optional().meta({ description: "Deadline for the whole exchange, from the request's arrival, streamed body included (HTTPRoute `timeouts.request`). 0 disables." }),
      backendRequestMs: millis.optional().meta({ description: "Deadline for the upstream request, from when it starts being sent (after the body is read, for a route that rewrites `model`) to the end of the response (HTTPRoute `timeouts.backendRequest`). 0 disables." }),
    })
    .optional(),
});
export type RouteConfig = z.infer<typeof RouteSchema>;

export const ProxyConfigSchema = z
  .strictObject({
    apiVersion: z.literal(PROXY_CONFIG_API_VERSION),
    kind: z.literal("ProxyConfig"),
    limits: z
      .strictObject({
        maxRequestBodyBytes: z.number().int().min(1).default(DEFAULT_MAX_REQUEST_BODY_BYTES).meta({ description: "Larger request bodies get 413 `request_too_large`." }),
        maxBufferedBodyBytes: z
          .number()
          .int()
          .min(1)
          .optional()
          .meta({
            description:
              "The request bodies held in memory at once, summed over the requests in progress on routes that rewrite or check `model` (their bodies are read whole); a request that would exceed it gets 503 `bodies_over_memory_budget`, unless it is the only one. A body over 64 KiB counts by its declared length (a chunked one as it arrives); smaller ones are left out, so they are never refused. Omitted: a quarter of the memory limit of the proxy's container (its cgroup) above 128 MiB, 32 MiB under a 256Mi limit (a quarter of the machine's memory above 128 MiB without a limit), and at least `maxRequestBodyBytes`.",
          }),
      })
      .default({ maxRequestBodyBytes: DEFAULT_MAX_REQUEST_BODY_BYTES }),
    upstream: z
      .strictObject({
        connectTimeoutMs: millis.default(10_000),
        // 600 s, the official OpenAI clients' own default: a non-streaming completion from a reasoning
        // model sends its headers only when it is done, and a stream can be silent while it reasons.
        headersTimeoutMs: millis.default(UPSTREAM_TIMEOUT_DEFAULT_MS).meta({ description: "No response headers this long: 504 `upstream_headers_timeout`. Default 600 s, the OpenAI clients' own." }),
        bodyTimeoutMs: millis.default(UPSTREAM_TIMEOUT_DEFAULT_MS).meta({ description: "No response body bytes this long: 504 `upstream_body_timeout` (or an SSE error event). Default 600 s." }),
        keepAliveTimeoutMs: millis.default(60_000).meta({ description: "Idle upstream connections are kept this long (less if the upstream says so)." }),
        maxConnections: z.number().int().min(1).optional().meta({ description: "Per upstream. Omitted: unbounded." }),
        maxRequestsPerConnection: z
          .number()
          .int()
          .min(0)
          // No limit by default, as Envoy (kgateway's data plane). nginx's `keepalive_requests` is 1000, which cost
          // 5–8% more CPU per request at ~7,000 requests/s (proxy/bench/HISTORY.md). Optional rather than
          // defaulted, so the configs the component renders, defaults filled in, stay as they were.
          .optional()
          .meta({
            description:
              "Requests sent on one upstream connection; the last one asks the upstream to close it (`Connection: close`) and the next request opens a new one. A connection that is never idle otherwise stays on the address and replica it first reached: a new one is resolved and balanced again, so a Service's new pods get their share (nginx's `keepalive_requests` is 1000). Omitted or 0: no limit, as Envoy.",
          }),
      })
      .default({
        connectTimeoutMs: 10_000,
        headersTimeoutMs: UPSTREAM_TIMEOUT_DEFAULT_MS,
        bodyTimeoutMs: UPSTREAM_TIMEOUT_DEFAULT_MS,
        keepAliveTimeoutMs: 60_000,
      })
      .meta({ description: "Defaults for every backend." }),
    clientAuth: z
      .strictObject({
        apiKeys: z.array(CredentialSourceSchema).min(1).meta({ description: "Each source holds one or more keys, one per line or separated by commas; lines starting with `#` are skipped. Clients send `Authorization: Bearer <key>`." }),
      })
      .optional()
      .meta({ description: "Require clients to present one of these keys (401 `invalid_api_key` otherwise). The client's key never goes upstream." }),
    backends: z.array(BackendSchema),
    routes: z.array(RouteSchema),
  })
  .superRefine((config, ctx) => {
    const backendNames = new Set<string>();
    config.backends.forEach((b, i) => {
      if (backendNames.has(b.name)) ctx.addIssue({ code: "custom", path: ["backends", i, "name"], message: `duplicate backend name \`${b.name}\`` });
      backendNames.add(b.name);
      if (config.clientAuth && b.auth.type === "Passthrough") {
        ctx.addIssue({
          code: "custom",
          path: ["backends", i, "auth", "type"],
          message: "`Passthrough` forwards the client's Authorization header, which `clientAuth` uses for the client's own key: use a `Key` or remove `clientAuth`",
        });
      }
    });
    const routeNames = new Set<string>();
    config.routes.forEach((r, i) => {
      if (routeNames.has(r.name)) ctx.addIssue({ code: "custom", path: ["routes", i, "name"], message: `duplicate route name \`${r.name}\`` });
      routeNames.add(r.name);
      r.backendRefs.forEach((ref, j) => {
        if (!backendNames.has(ref.name)) {
          ctx.addIssue({ code: "custom", path: ["routes", i, "backendRefs", j, "name"], message: `no backend named \`${ref.name}\` in \`backends\`` });
        }
      });
      if (r.urlRewrite?.path?.type === "ReplacePrefixMatch") {
        r.matches.forEach((m, j) => {
          if (m.path.type !== "PathPrefix") {
            ctx.addIssue({
              code: "custom",
              path: ["routes", i, "matches", j, "path", "type"],
              message: "`ReplacePrefixMatch` needs every match of the route to be a `PathPrefix` match",
            });
          }
        });
      }
      r.matches.forEach((m, j) => {
        for (const [kind, list] of [["headers", m.headers], ["queryParams", m.queryParams]] as const) {
          list?.forEach((h, k) => {
            if (h.type !== "RegularExpression") return;
            try {
              new RegExp(h.value);
            } catch {
              ctx.addIssue({ code: "custom", path: ["routes", i, "matches", j, kind, k, "value"], message: "is not a valid regular expression" });
            }
          });
        }
      });
    });
  })
  .meta({
    title: "ProxyConfig",
    description: "Configuration of openai-compatible-proxy. Credentials are referenced, never included.",
  });

/** A validated config, defaults applied. */
export type ProxyConfig = z.infer<typeof ProxyConfigSchema>;
/** A config as written (defaults optional). */
export type ProxyConfigInput = z.input<typeof ProxyConfigSchema>;

/** One problem found in a config, with the path of the offending field. */
export interface ConfigIssue {
  /** Dotted path such as `backends[0].port`. Empty for the document itself. */
  field: string;
  message: string;
}

/** The result of {@link validateProxyConfig}. */
export type ValidationResult = { ok: true; config: ProxyConfig } | { ok: false; issues: ConfigIssue[] };

/** Formats a zod path as `routes[0].backendRefs[1].name`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

/**
 * Validates a parsed config document and applies its defaults.
 *
 * @example
 * const result = validateProxyConfig(YAML.parse(text));
 * if (!result.ok) console.error(result.issues.map((i) => `\`${i.field}\`: ${i.message}`).join("\n"));
 */
export function validateProxyConfig(document: unknown): ValidationResult {
  const parsed = ProxyConfigSchema.safeParse(document);
  if (parsed.success) return { ok: true, config: parsed.data };
  return {
    ok: false,
    issues: parsed.error.issues.map((issue) => ({ field: formatFieldPath(issue.path), message: issueMessage(issue) })),
  };
}

/**
 * A name that an unknown-field message may print: what a field name looks like (camelCase, up to 24
 * characters). A credential written in place of a field, such as `key: { sk-… }` where `key: { env: … }`
 * was meant, does not: provider keys are longer, or hold `-` or `_`.
 */
const FIELD_NAME_SHOWN = /^[A-Za-z][A-Za-z0-9]{0,23}$/;

/**
 * zod's message for an issue. Only its message for unknown fields quotes the input (the names), and
 * there a name that does not look like a field name is counted, not printed.
 */
function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code !== "unrecognized_keys") return issue.message;
  const shown = issue.keys.filter((k) => FIELD_NAME_SHOWN.test(k)).map((k) => JSON.stringify(k));
  const hidden = issue.keys.length - shown.length;
  if (hidden === 0) return issue.message;
  const why = `not printed: ${hidden === 1 ? "its name does" : "their names do"} not look like a field name, and could be a credential written in place of one`;
  if (shown.length === 0) return hidden === 1 ? `Unrecognized key (${why})` : `Unrecognized keys (${hidden}, ${why})`;
  return `Unrecognized keys: ${shown.join(", ")}, and ${hidden} more (${why})`;
}

/** Thrown by {@link parseProxyConfig}; `issues` names each offending field. */
export class ProxyConfigError extends Error {
  override readonly name = "ProxyConfigError";
  constructor(
    readonly issues: ConfigIssue[],
    readonly source?: string,
  ) {
    super(
      `${source ? `${source}: ` : ""}invalid ProxyConfig: ` +
        issues.map((i) => (i.field ? `\`${i.field}\` ${i.message}` : i.message)).join("; "),
    );
  }
}

/** Like {@link validateProxyConfig}, but throws a {@link ProxyConfigError}. */
export function parseProxyConfig(document: unknown, source?: string): ProxyConfig {
  const result = validateProxyConfig(document);
  if (!result.ok) throw new ProxyConfigError(result.issues, source);
  return result.config;
}

/** The JSON Schema (draft 2020-12) of a config as written; committed as `schema/proxy-config.schema.json`. */
export function proxyConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ProxyConfigSchema, { io: "input", target: "draft-2020-12" });
}
