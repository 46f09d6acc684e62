/**
 * The one translation from kgateway/Gateway API objects to ProxyConfig: the docs' objects, every
 * supported field, and a precise report (kind, namespace, name, field) for everything it cannot serve.
 */
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import { fromGatewayObjects, formatTranslationProblem, parseGatewayDuration, type TranslationProblem } from "../src/translate";
import { createTestCa } from "./helpers/certs";

const EXAMPLES = join(__dirname, "..", "examples", "kgateway-docs");
const docsObjects = (): Record<string, unknown>[] =>
  readdirSync(EXAMPLES)
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(EXAMPLES, f), "utf8")).map((d) => d.toJS() as Record<string, unknown>));

const NS = "kgateway-system";
const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: NS, ...extra });
const secret = (name: string, body: Record<string, unknown> = { stringData: { Authorization: "sk-test" } }) => ({ apiVersion: "v1", kind: "Secret", metadata: meta(name), ...body });
const backend = (name: string, llm: Record<string, unknown> = {}, spec: Record<string, unknown> = {}) => ({
  apiVersion: "gateway.kgateway.dev/v1alpha1",
  kind: "Backend",
  metadata: meta(name),
  spec: {
    type: "AI",
    ai: { llm: { openai: { authToken: { kind: "SecretRef", secretRef: { name: "key" } }, model: "m" }, host: "llm.internal", port: 8000, path: { full: "/v1/chat/completions" }, ...llm } },
    ...spec,
  },
});
const ref = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: NS, group: "gateway.kgateway.dev", kind: "Backend", ...extra });
const route = (name: string, rules: unknown[], spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: meta(name, metadata),
  spec: { parentRefs: [{ name: "agentgateway", namespace: NS }], rules, ...spec },
});
const tlsPolicy = (name: string, target: string, validation: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "BackendTLSPolicy",
  metadata: meta(name),
  spec: { targetRefs: [{ name: target, kind: "Backend", group: "gateway.kgateway.dev" }], validation, ...extra },
});
const configMap = (name: string, data: Record<string, string>) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: meta(name), data });
const basic = (extra: Record<string, unknown>[] = []): Record<string, unknown>[] => [secret("key"), backend("b"), route("r", [{ matches: [{ path: { type: "PathPrefix", value: "/b" } }], backendRefs: [ref("b")] }]), ...extra];

function errors(problems: TranslationProblem[]): TranslationProblem[] {
  return problems.filter((p) => p.severity === "error");
}

describe("the docs' Mistral and DeepSeek objects", () => {
  it("translate into two TLS backends and two routes, keys held in memory only", () => {
    const { config, problems, values } = fromGatewayObjects(docsObjects());
    expect(problems).toEqual([]);
    expect(config.backends).toEqual([
      {
        name: `${NS}/deepseek`,
        host: "api.deepseek.com",
        port: 443,
        tls: { serverName: "api.deepseek.com" },
        path: "/v1/chat/completions",
        model: "deepseek-chat",
        requireModel: false,
        auth: { type: "Key", key: { manifest: `Secret/${NS}/deepseek-secret/Authorization` }, headerName: "Authorization", prefix: "Bearer " },
        provider: "deepseek",
      },
      {
        name: `${NS}/mistral`,
        host: "api.mistral.ai",
        port: 443,
        tls: { serverName: "api.mistral.ai" },
        path: "/v1/chat/completions",
        model: "mistral-medium-2505",
        requireModel: false,
        auth: { type: "Key", key: { manifest: `Secret/${NS}/mistral-secret/Authorization` }, headerName: "Authorization", prefix: "Bearer " },
        provider: "mistral_ai",
      },
    ]);
    expect(config.routes).toEqual([
      { name: `${NS}/deepseek/0`, matches: [{ path: { type: "PathPrefix", value: "/deepseek" } }], backendRefs: [{ name: `${NS}/deepseek`, weight: 1 }] },
      {
        name: `${NS}/mistral/0`,
        matches: [{ path: { type: "PathPrefix", value: "/mistral" } }],
        urlRewrite: { hostname: "api.mistral.ai" },
        backendRefs: [{ name: `${NS}/mistral`, weight: 1 }],
      },
    ]);
    expect(values.get(`Secret/${NS}/mistral-secret/Authorization`)).toBe("replace-with-your-mistral-api-key");
    // Never printed by accident.
    expect(JSON.stringify(values)).not.toContain("replace-with");
    expect(JSON.stringify({ config })).not.toContain("replace-with");
  });

  it("with secretsDir, point at mounted Secret files instead (what the component renders)", () => {
    const { config, problems, values } = fromGatewayObjects(docsObjects(), { secretsDir: "/var/run/secrets/openai-compatible/" });
    expect(problems).toEqual([]);
    expect(config.backends.map((b) => b.auth)).toEqual([
      { type: "Key", key: { file: "/var/run/secrets/openai-compatible/deepseek-secret/Authorization" }, headerName: "Authorization", prefix: "Bearer " },
      { type: "Key", key: { file: "/var/run/secrets/openai-compatible/mistral-secret/Authorization" }, headerName: "Authorization", prefix: "Bearer " },
    ]);
    expect(values.ids).toEqual([]);
    // The Secret objects are optional then: the component may render the config from the other three.
    const withoutSecrets = docsObjects().filter((o) => o.kind !== "Secret");
    expect(fromGatewayObjects(withoutSecrets, { secretsDir: "/s" }).problems).toEqual([]);
  });
});

describe("Secrets and keys", () => {
  it("reads base64 `data` and `stringData` (which wins), and strips a leading `Bearer `", () => {
    const b64 = Buffer.from("Bearer sk-from-data\n").toString("base64");
    const a = fromGatewayObjects(basic().map((o) => (o.kind === "Secret" ? secret("key", { data: { Authorization: b64 } }) : o)));
    expect(a.problems).toEqual([]);
    expect(a.values.get(`Secret/${NS}/key/Authorization`)).toBe("sk-from-data");
    const b = fromGatewayObjects(basic().map((o) => (o.kind === "Secret" ? secret("key", { data: { Authorization: b64 }, stringData: { Authorization: "sk-string" } }) : o)));
    expect(b.values.get(`Secret/${NS}/key/Authorization`)).toBe("sk-string");
  });

  it("reports a missing Secret, a missing key, an empty key and bad base64 on the Backend's field", () => {
    const field = "spec.ai.llm.openai.authToken.secretRef.name";
    const cases: [unknown[], string][] = [
      [[backend("b")], `Secret ${NS}/key is not among the objects`],
      [[backend("b"), secret("key", { stringData: { other: "x" } })], `Secret ${NS}/key has no \`Authorization\` key (in \`data\` or \`stringData\`)`],
      [[backend("b"), secret("key", { stringData: { Authorization: "Bearer  " } })], `Secret ${NS}/key key \`Authorization\` is empty`],
    ];
    for (const [objects, message] of cases) {
      expect(errors(fromGatewayObjects(objects).problems)).toEqual([{ severity: "error", kind: "Backend", namespace: NS, name: "b", field, message }]);
    }
    const bad = fromGatewayObjects([backend("b"), secret("key", { data: { Authorization: "!!notbase64" } })]).problems;
    expect(errors(bad).map((p) => [p.kind, p.field])).toEqual([
      ["Secret", "data.Authorization"],
      ["Backend", field],
    ]);
  });

  it("holds Inline tokens in memory, refuses them with secretsDir, and maps Passthrough", () => {
    const inline = backend("b", { openai: { authToken: { kind: "Inline", inline: "sk-inline" } } });
    const r = fromGatewayObjects([inline]);
    expect(r.problems).toEqual([]);
    expect(r.config.backends[0]!.auth).toEqual({ type: "Key", key: { manifest: `Backend/${NS}/b/inline` }, headerName: "Authorization", prefix: "Bearer " });
    expect(r.values.get(`Backend/${NS}/b/inline`)).toBe("sk-inline");
    expect(errors(fromGatewayObjects([inline], { secretsDir: "/s" }).problems)).toEqual([
      expect.objectContaining({ kind: "Backend", name: "b", field: "spec.ai.llm.openai.authToken.kind" }),
    ]);
    const passthrough = fromGatewayObjects([backend("b", { openai: { authToken: { kind: "Passthrough" } }, authHeader: { headerName: "x-key", prefix: "Key " } })]);
    expect(passthrough.config.backends[0]!.auth).toEqual({ type: "Passthrough", headerName: "x-key", prefix: "Key " });
  });

  it("maps authHeader field by field over kgateway's defaults, and warns about a prefix without a separator", () => {
    const onlyName = fromGatewayObjects(basic().map((o) => (o.kind === "Backend" ? backend("b", { authHeader: { headerName: "api-key" } }) : o)));
    expect(onlyName.config.backends[0]!.auth).toMatchObject({ headerName: "api-key", prefix: "Bearer " });
    const both = fromGatewayObjects(basic().map((o) => (o.kind === "Backend" ? backend("b", { authHeader: { headerName: "x-goog-api-key", prefix: "Token" } }) : o)));
    expect(both.config.backends[0]!.auth).toMatchObject({ headerName: "x-goog-api-key", prefix: "Token" });
    expect(both.problems).toEqual([
      expect.objectContaining({ severity: "warning", kind: "Backend", name: "b", field: "spec.ai.llm.authHeader.prefix", message: expect.stringContaining("`x-goog-api-key: Token<key>`") as string }),
    ]);
  });

  it("do not print a long prefix in the warning about a missing separator: it may be the key written into the prefix", () => {
    const r = fromGatewayObjects(basic().map((o) => (o.kind === "Backend" ? backend("b", { authHeader: { prefix: "Bearer sk-0123456789SECRET" } }) : o)));
    expect(r.problems).toEqual([expect.objectContaining({ severity: "warning", field: "spec.ai.llm.authHeader.prefix" })]);
    expect(JSON.stringify(r.problems)).not.toContain("SECRET");
  });
});

describe("Backends", () => {
  it("are listed by namespace/name, whatever the order of the objects, so the config is the same", () => {
    const elsewhere = { name: "c", namespace: "a-first" };
    const objects = [secret("key"), backend("b"), backend("a"), { ...backend("c"), metadata: elsewhere }, { ...secret("key"), metadata: { ...elsewhere, name: "key" } }];
    const forward = fromGatewayObjects(objects);
    expect(forward.problems).toEqual([]);
    expect(forward.config.backends.map((b) => b.name)).toEqual(["a-first/c", `${NS}/a`, `${NS}/b`]);
    expect(JSON.stringify(fromGatewayObjects([...objects].reverse()).config)).toBe(JSON.stringify(forward.config));
  });

  it("use kgateway's provider defaults without host: api.openai.com:443 over TLS, /v1/chat/completions", () => {
    const r = fromGatewayObjects([secret("key"), backend("b", { host: undefined, port: undefined, path: undefined })]);
    expect(r.problems).toEqual([]);
    expect(r.config.backends[0]).toMatchObject({ host: "api.openai.com", port: 443, tls: { serverName: "api.openai.com" }, path: "/v1/chat/completions", provider: "openai" });
  });

  it("pass the client's path through without path.full, and warn about port 443 without TLS", () => {
    const r = fromGatewayObjects([secret("key"), backend("b", { path: undefined, port: 443 })]);
    expect(r.config.backends[0]!.path).toBeUndefined();
    expect(r.config.backends[0]!.tls).toBeUndefined();
    expect(r.problems).toEqual([expect.objectContaining({ severity: "warning", kind: "Backend", name: "b", field: "spec.ai.llm.port" })]);
  });

  it.each([
    ["a non-AI type", backend("b", {}, { type: "Static", static: {}, ai: undefined }), "spec.type"],
    ["priorityGroups", { ...backend("b"), spec: { type: "AI", ai: { priorityGroups: [] } } }, "spec.ai.priorityGroups"],
    ["another provider", backend("b", { openai: undefined, anthropic: { authToken: { kind: "Passthrough" } } }), "spec.ai.llm.anthropic"],
    ["host without port", backend("b", { port: undefined }), "spec.ai.llm.port"],
    ["a port out of range", backend("b", { port: 70000 }), "spec.ai.llm.port"],
    ["a host with a scheme", backend("b", { host: "https://api.example.com" }), "spec.ai.llm.host"],
    ["a relative path.full", backend("b", { path: { full: "v1/chat" } }), "spec.ai.llm.path.full"],
    ["an invalid header name", backend("b", { authHeader: { headerName: "bad header" } }), "spec.ai.llm.authHeader.headerName"],
    ["a prefix with a character above U+00FF", backend("b", { authHeader: { prefix: "Bearer\u20ac " } }), "spec.ai.llm.authHeader.prefix"],
    ["a prefix with a control character", backend("b", { authHeader: { prefix: "Bearer\u0001 " } }), "spec.ai.llm.authHeader.prefix"],
    ["an unknown authToken kind", backend("b", { openai: { authToken: { kind: "Vault" } } }), "spec.ai.llm.openai.authToken.kind"],
  ])("report %s with kind, namespace, name and field", (_what, object, field) => {
    expect(errors(fromGatewayObjects([secret("key"), object]).problems)).toEqual([
      { severity: "error", kind: "Backend", namespace: NS, name: "b", field, message: expect.any(String) as string },
    ]);
  });
});

describe("HTTPRoutes", () => {
  it("translate matches (path, method, headers, query), filters, weights and timeouts", () => {
    const r = fromGatewayObjects([
      secret("key"),
      backend("a"),
      backend("b"),
      route(
        "r",
        [
          {
            name: "chat",
            matches: [
              { path: { type: "Exact", value: "/v1/chat/completions" }, method: "POST", headers: [{ name: "x-tenant", value: "t1" }], queryParams: [{ type: "RegularExpression", name: "v", value: "[0-9]+" }] },
              { path: { type: "PathPrefix", value: "/chat" } },
            ],
            filters: [
              { type: "URLRewrite", urlRewrite: { hostname: "api.example.com", path: { type: "ReplaceFullPath", replaceFullPath: "/v1/chat/completions" } } },
              { type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: "x-a", value: "1" }], add: [{ name: "x-b", value: "2" }], remove: ["x-c"] } },
              { type: "ResponseHeaderModifier", responseHeaderModifier: { remove: ["server"] } },
            ],
            backendRefs: [ref("a", { weight: 90 }), ref("b", { weight: 10 })],
            timeouts: { request: "1m30s", backendRequest: "500ms" },
          },
          { backendRefs: [ref("a")] },
        ],
        { hostnames: ["llm.example.com"] },
      ),
    ]);
    expect(errors(r.problems)).toEqual([]);
    expect(r.config.routes).toEqual([
      {
        name: `${NS}/r/chat`,
        hostnames: ["llm.example.com"],
        matches: [
          {
            path: { type: "Exact", value: "/v1/chat/completions" },
            method: "POST",
            headers: [{ type: "Exact", name: "x-tenant", value: "t1" }],
            queryParams: [{ type: "RegularExpression", name: "v", value: "[0-9]+" }],
          },
          { path: { type: "PathPrefix", value: "/chat" } },
        ],
        urlRewrite: { hostname: "api.example.com", path: { type: "ReplaceFullPath", replaceFullPath: "/v1/chat/completions" } },
        requestHeaderModifier: { set: [{ name: "x-a", value: "1" }], add: [{ name: "x-b", value: "2" }], remove: ["x-c"] },
        responseHeaderModifier: { remove: ["server"] },
        backendRefs: [
          { name: `${NS}/a`, weight: 90 },
          { name: `${NS}/b`, weight: 10 },
        ],
        timeouts: { requestMs: 90_000, backendRequestMs: 500 },
      },
      { name: `${NS}/r/1`, hostnames: ["llm.example.com"], matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: [{ name: `${NS}/a`, weight: 1 }] },
    ]);
  });

  it("serve an empty replacePrefixMatch as `/`, which rewrites to the same paths", () => {
    const rewrite = { type: "URLRewrite", urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "" } } };
    const r = fromGatewayObjects([secret("key"), backend("b", { path: undefined }), route("r", [{ matches: [{ path: { type: "PathPrefix", value: "/foo" } }], filters: [rewrite], backendRefs: [ref("b")] }])]);
    expect(errors(r.problems)).toEqual([]);
    expect(r.config.routes[0]!.urlRewrite).toEqual({ path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/" } });
  });

  it("order routes oldest first, then by namespace/name (Gateway API tie-breaking)", () => {
    const rule = [{ backendRefs: [ref("b")] }];
    const r = fromGatewayObjects([
      ...basic(),
      route("zeta", rule, {}, { creationTimestamp: "2025-01-01T00:00:00Z" }),
      route("alpha", rule, {}, { creationTimestamp: "2025-06-01T00:00:00Z" }),
      route("beta", rule, {}, { creationTimestamp: "2025-06-01T00:00:00Z" }),
    ]);
    expect(r.config.routes.map((x) => x.name)).toEqual([`${NS}/r/0`, `${NS}/zeta/0`, `${NS}/alpha/0`, `${NS}/beta/0`]);
  });

  it("serve only routes attached to the given Gateway when asked", () => {
    const r = fromGatewayObjects([...basic(), route("other", [{ backendRefs: [ref("b")] }], { parentRefs: [{ name: "elsewhere" }] })], { gateway: { name: "agentgateway", namespace: NS } });
    expect(r.config.routes.map((x) => x.name)).toEqual([`${NS}/r/0`]);
    expect(r.problems).toEqual([expect.objectContaining({ severity: "warning", kind: "HTTPRoute", name: "other", field: "spec.parentRefs" })]);
  });

  it.each([
    ["a RegularExpression path", { matches: [{ path: { type: "RegularExpression", value: "/x.*" } }], backendRefs: [ref("b")] }, "spec.rules[0].matches[0].path.type"],
    ["a RequestRedirect filter", { filters: [{ type: "RequestRedirect", requestRedirect: {} }], backendRefs: [ref("b")] }, "spec.rules[0].filters[0].type"],
    ["a Service backendRef", { backendRefs: [{ name: "svc", port: 80 }] }, "spec.rules[0].backendRefs[0]"],
    ["a cross-namespace backendRef", { backendRefs: [ref("b", { namespace: "other" })] }, "spec.rules[0].backendRefs[0].namespace"],
    ["a missing Backend", { backendRefs: [ref("nope")] }, "spec.rules[0].backendRefs[0]"],
    ["backendRef filters", { backendRefs: [ref("b", { filters: [] })] }, "spec.rules[0].backendRefs[0].filters"],
    ["a bad duration", { backendRefs: [ref("b")], timeouts: { request: "10 seconds" } }, "spec.rules[0].timeouts.request"],
    [
      "ReplacePrefixMatch with an Exact match",
      { matches: [{ path: { type: "Exact", value: "/x" } }], filters: [{ type: "URLRewrite", urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/v1" } } }], backendRefs: [ref("b")] },
      "spec.rules[0].matches[0].path.type",
    ],
    ["a negative weight", { backendRefs: [ref("b", { weight: -1 })] }, "spec.rules[0].backendRefs[0].weight"],
    ["a header value with a control character", { filters: [{ type: "ResponseHeaderModifier", responseHeaderModifier: { set: [{ name: "x-a", value: "a\u0001b" }] } }], backendRefs: [ref("b")] }, "spec.rules[0].filters[0].responseHeaderModifier.set[0].value"],
    ["a header value above U+00FF", { filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { add: [{ name: "x-a", value: "\u20ac" }] } }], backendRefs: [ref("b")] }, "spec.rules[0].filters[0].requestHeaderModifier.add[0].value"],
    ["a header name that is not a token", { filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: "x a", value: "1" }] } }], backendRefs: [ref("b")] }, "spec.rules[0].filters[0].requestHeaderModifier.set[0].name"],
    ["a Host header set by a RequestHeaderModifier", { filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: "Host", value: "api.example.com" }] } }], backendRefs: [ref("b")] }, "spec.rules[0].filters[0].requestHeaderModifier.set[0].name"],
    ["a Content-Length added by a ResponseHeaderModifier", { filters: [{ type: "ResponseHeaderModifier", responseHeaderModifier: { add: [{ name: "content-length", value: "3" }] } }], backendRefs: [ref("b")] }, "spec.rules[0].filters[0].responseHeaderModifier.add[0].name"],
    ["a removed header name that is not a token", { filters: [{ type: "ResponseHeaderModifier", responseHeaderModifier: { remove: ["x:a"] } }], backendRefs: [ref("b")] }, "spec.rules[0].filters[0].responseHeaderModifier.remove[0]"],
    ["a matched header name that is not a token", { matches: [{ headers: [{ name: "x a", value: "1" }] }], backendRefs: [ref("b")] }, "spec.rules[0].matches[0].headers[0].name"],
  ])("report %s", (_what, rule, field) => {
    const r = fromGatewayObjects([secret("key"), backend("b"), route("r", [rule])]);
    expect(errors(r.problems)).toEqual([{ severity: "error", kind: "HTTPRoute", namespace: NS, name: "r", field, message: expect.any(String) as string }]);
    expect(r.config.routes).toEqual([]);
  });

  it("names a rule's route by its name, or its index, and reports a rule named as an unnamed rule's index against the HTTPRoute", () => {
    const named = fromGatewayObjects([secret("key"), backend("b"), route("r", [{ name: "chat", backendRefs: [ref("b")] }, { backendRefs: [ref("b")] }])]);
    expect(named.config.routes.map((x) => x.name)).toEqual([`${NS}/r/chat`, `${NS}/r/1`]);
    const clash = fromGatewayObjects([secret("key"), backend("b"), route("r", [{ name: "1", backendRefs: [ref("b")] }, { backendRefs: [ref("b")] }])]);
    expect(errors(clash.problems)).toEqual([
      {
        severity: "error",
        kind: "HTTPRoute",
        namespace: NS,
        name: "r",
        field: "spec.rules[0].name",
        message: `\`1\` is also the index of rule 1, which has no name: both would be route \`${NS}/r/1\` in logs and metrics; rename this rule, or name rule 1`,
      },
    ]);
    // A rule named as its own index is no clash.
    const own = fromGatewayObjects([secret("key"), backend("b"), route("r", [{ backendRefs: [ref("b")] }, { name: "1", backendRefs: [ref("b")] }])]);
    expect(errors(own.problems)).toEqual([]);
  });

  it("warn about ignored retry and sessionPersistence, and rules without backends", () => {
    const r = fromGatewayObjects([secret("key"), backend("b"), route("r", [{ backendRefs: [ref("b")], retry: { attempts: 2 }, sessionPersistence: {} }, { matches: [] }])]);
    expect(r.problems.map((p) => [p.severity, p.field])).toEqual([
      ["warning", "spec.rules[0].retry"],
      ["warning", "spec.rules[0].sessionPersistence"],
      ["warning", "spec.rules[1].backendRefs"],
    ]);
    // The rule without backends is kept: its requests get 500 `no_backend` (Gateway API), not another rule's backend.
    expect(r.config.routes.map((route) => route.backendRefs)).toEqual([[{ name: `${NS}/b`, weight: 1 }], []]);
  });
});

describe("BackendTLSPolicies", () => {
  let pem = "";
  beforeAll(async () => {
    pem = (await createTestCa()).caCert;
  });

  it("turn into TLS with SNI and verification from validation.hostname, system or ConfigMap CAs", () => {
    const system = fromGatewayObjects(basic([tlsPolicy("t", "b", { hostname: "api.example.com", wellKnownCACertificates: "System" })]));
    expect(system.problems).toEqual([]);
    expect(system.config.backends[0]!.tls).toEqual({ serverName: "api.example.com" });
    const bundle = fromGatewayObjects(basic([configMap("ca", { "ca.crt": pem }), tlsPolicy("t", "b", { hostname: "internal.example", caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "ca" }] })]));
    expect(bundle.problems).toEqual([]);
    expect(bundle.config.backends[0]!.tls).toEqual({ serverName: "internal.example", caCertificates: [{ pem }] });
    const mounted = fromGatewayObjects(basic([tlsPolicy("t", "b", { hostname: "internal.example", caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "ca" }] })]), { configMapsDir: "/etc/ca" });
    expect(mounted.config.backends[0]!.tls).toEqual({ serverName: "internal.example", caCertificates: [{ file: "/etc/ca/ca/ca.crt" }] });
  });

  it.each([
    ["garbage between the markers", () => "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", "block 1 of 1 is not one base64-encoded certificate (stray characters, or lines missing)"],
    ["a certificate cut off mid-way", () => `${pem.split("\n").slice(0, 4).join("\n")}\n-----END CERTIFICATE-----\n`, "block 1 of 1 is not one base64-encoded certificate (stray characters, or lines missing)"],
    ["a certificate without its END line", () => pem.trim().split("\n").slice(0, -1).join("\n"), "block 1 of 1 has no `-----END CERTIFICATE-----` line before the next block or the end, so it is cut off"],
    ["a good certificate followed by a truncated one", () => `${pem}\n${pem.split("\n").slice(0, 3).join("\n")}\n`, "block 2 of 2 has no `-----END CERTIFICATE-----` line before the next block or the end, so it is cut off"],
    ["a private key", () => "-----BEGIN PRIVATE KEY-----\nMAMCAQE=\n-----END PRIVATE KEY-----\n", "block 1 of 1 does not begin with `-----BEGIN CERTIFICATE-----`"],
    ["a stray END line", () => `${pem}\n-----END CERTIFICATE-----\n`, "an `-----END` line after block 1 of 1 ends no block"],
    ["two certificates joined without a newline", () => `${pem.trimEnd()}${pem}`, "block 1 of 2 has its `-----BEGIN` or `-----END` line run into other text (each must be a line of its own, as when a file without a final newline is joined to the next)"],
    ["no PEM at all", () => "not a certificate", "it holds no `-----BEGIN CERTIFICATE-----` line"],
  ])("report a ConfigMap `ca.crt` holding %s, naming the ConfigMap and key and where the fault is, not the content, mounted or not", (_what, bundle, fault) => {
    const cm = configMap("ca", { "ca.crt": bundle() });
    const policy = tlsPolicy("t", "b", { hostname: "internal.example", caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "ca" }] });
    const expected = [
      {
        severity: "error",
        kind: "BackendTLSPolicy",
        namespace: NS,
        name: "t",
        field: "spec.validation.caCertificateRefs[0]",
        message: `ConfigMap ${NS}/ca key \`ca.crt\` is not a PEM bundle of CA certificates (each block from \`-----BEGIN CERTIFICATE-----\` to \`-----END CERTIFICATE-----\`, complete): ${fault}`,
      },
    ];
    expect(errors(fromGatewayObjects(basic([cm, policy])).problems)).toEqual(expected);
    expect(errors(fromGatewayObjects(basic([cm, policy]), { configMapsDir: "/etc/ca" }).problems)).toEqual(expected);
  });

  it("take an empty `wellKnownCACertificates` for an unset one, as the CRD does (its rules test `!= \"\"`)", () => {
    const r = fromGatewayObjects(basic([configMap("ca", { "ca.crt": pem }), tlsPolicy("t", "b", { hostname: "internal.example", wellKnownCACertificates: "", caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "ca" }] })]));
    expect(r.problems).toEqual([]);
    expect(r.config.backends[0]!.tls).toEqual({ serverName: "internal.example", caCertificates: [{ pem }] });
    // Empty and no references: the CRD refuses it, and so does the translation.
    const neither = fromGatewayObjects(basic([tlsPolicy("t", "b", { hostname: "internal.example", wellKnownCACertificates: "" })]));
    expect(errors(neither.problems)).toEqual([expect.objectContaining({ field: "spec.validation", message: "set `wellKnownCACertificates: System` or `caCertificateRefs`" })]);
  });

  it("accept a bundle of several certificates with text between them", () => {
    const bundle = `# internal CA\n${pem}\n# the same, again\n${pem}`;
    const r = fromGatewayObjects(basic([configMap("ca", { "ca.crt": bundle }), tlsPolicy("t", "b", { hostname: "internal.example", caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "ca" }] })]));
    expect(r.problems).toEqual([]);
    expect(r.config.backends[0]!.tls).toEqual({ serverName: "internal.example", caCertificates: [{ pem: bundle }] });
  });

  it("let the oldest policy win when two target one Backend, with a warning", () => {
    const r = fromGatewayObjects(
      basic([
        { ...tlsPolicy("newer", "b", { hostname: "new.example", wellKnownCACertificates: "System" }), metadata: meta("newer", { creationTimestamp: "2025-02-01T00:00:00Z" }) },
        { ...tlsPolicy("older", "b", { hostname: "old.example", wellKnownCACertificates: "System" }), metadata: meta("older", { creationTimestamp: "2025-01-01T00:00:00Z" }) },
      ]),
    );
    expect(r.config.backends[0]!.tls).toEqual({ serverName: "old.example" });
    expect(r.problems).toEqual([expect.objectContaining({ severity: "warning", kind: "BackendTLSPolicy", name: "newer", field: "spec.targetRefs[0]" })]);
  });

  it.each([
    ["a Service target", tlsPolicy("t", "b", { hostname: "h.example", wellKnownCACertificates: "System" }, { targetRefs: [{ name: "svc", kind: "Service", group: "" }] }), "spec.targetRefs[0]"],
    ["a missing Backend", tlsPolicy("t", "nope", { hostname: "h.example", wellKnownCACertificates: "System" }), "spec.targetRefs[0]"],
    ["a missing ConfigMap", tlsPolicy("t", "b", { hostname: "h.example", caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "nope" }] }), "spec.validation.caCertificateRefs[0]"],
    ["a Secret CA reference", tlsPolicy("t", "b", { hostname: "h.example", caCertificateRefs: [{ group: "", kind: "Secret", name: "s" }] }), "spec.validation.caCertificateRefs[0]"],
    ["both CA kinds", tlsPolicy("t", "b", { hostname: "h.example", wellKnownCACertificates: "System", caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "ca" }] }), "spec.validation"],
    ["subjectAltNames", tlsPolicy("t", "b", { hostname: "h.example", wellKnownCACertificates: "System", subjectAltNames: [{ type: "Hostname", hostname: "x" }] }), "spec.validation.subjectAltNames"],
    ["no hostname", tlsPolicy("t", "b", { wellKnownCACertificates: "System" }), "spec.validation.hostname"],
    // The CRD's pattern lets an IPv4 address through; it would be sent as SNI, where RFC 6066 forbids it.
    ["an IP address as hostname", tlsPolicy("t", "b", { hostname: "10.0.0.5", wellKnownCACertificates: "System" }), "spec.validation.hostname"],
    ["v1alpha3", { ...tlsPolicy("t", "b", { hostname: "h.example", wellKnownCACertificates: "System" }), apiVersion: "gateway.networking.k8s.io/v1alpha3" }, "apiVersion"],
  ])("report %s", (_what, policy, field) => {
    expect(errors(fromGatewayObjects(basic([policy])).problems)).toEqual([{ severity: "error", kind: "BackendTLSPolicy", namespace: NS, name: "t", field, message: expect.any(String) as string }]);
  });
});

describe("other objects", () => {
  it("warn about kinds the proxy does not read, and report duplicates and nameless objects", () => {
    const r = fromGatewayObjects([
      ...basic(),
      { apiVersion: "gateway.networking.k8s.io/v1", kind: "Gateway", metadata: meta("agentgateway") },
      { apiVersion: "apps/v1", kind: "Deployment", metadata: meta("d") },
      secret("key"),
      { apiVersion: "v1", kind: "ConfigMap", metadata: {} },
      null,
    ]);
    expect(r.problems.map((p) => [p.severity, p.kind, p.field])).toEqual([
      ["warning", "Gateway", "kind"],
      ["warning", "Deployment", "kind"],
      ["error", "Secret", "metadata.name"],
      ["error", "ConfigMap", "metadata.name"],
    ]);
  });

  it("expand `kind: List`", () => {
    const r = fromGatewayObjects([{ apiVersion: "v1", kind: "List", items: basic() }]);
    expect(r.problems).toEqual([]);
    expect(r.config.routes).toHaveLength(1);
  });

  it("formats a problem as one line naming the object and the field", () => {
    expect(formatTranslationProblem({ severity: "error", kind: "Backend", namespace: NS, name: "b", field: "spec.ai.llm.port", message: "must be an integer from 1 to 65535" })).toBe(
      "error: Backend kgateway-system/b: `spec.ai.llm.port` must be an integer from 1 to 65535",
    );
  });

  it("parses Gateway API durations", () => {
    expect(parseGatewayDuration("10s")).toBe(10_000);
    expect(parseGatewayDuration("1h2m3s4ms")).toBe(3_723_004);
    expect(parseGatewayDuration("0s")).toBe(0);
    expect(parseGatewayDuration("1.5s")).toBeUndefined();
    expect(parseGatewayDuration("")).toBeUndefined();
  });
});

describe("the translate subpath", () => {
  it("pulls in no server code (no undici, pino, prom-client, chokidar, node:http)", () => {
    const forbidden = /^(undici|pino|prom-client|chokidar|node:http|node:https|node:net|node:tls|node:fs)$/;
    const seen = new Set<string>();
    const imports: string[] = [];
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:import|export)[^"']*?from\s+["']([^"']+)["']|require\(["']([^"']+)["']\)/g)) {
        const spec = m[1] ?? m[2]!;
        if (spec.startsWith(".")) visit(`${resolve(dirname(file), spec)}.ts`.replace(/\/index\.ts\.ts$/, "/index.ts"));
        else imports.push(spec);
      }
    };
    visit(join(__dirname, "..", "src", "translate", "index.ts"));
    expect(imports.filter((i) => forbidden.test(i))).toEqual([]);
    expect([...new Set(imports)].sort()).toEqual(["zod"]);
  });
});
