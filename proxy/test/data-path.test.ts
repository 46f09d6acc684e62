/**
 * The data path against a real local upstream over real sockets: routing, the upstream URL and Host,
 * header handling, key injection (authHeader honoured), the model override, body limits and verbatim
 * upstream errors.
 */
import { once } from "node:events";
import { Agent, request as httpRequest } from "node:http";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { postJson, rawExchange, send } from "./helpers/http";
import { PROVIDER_KEY, providerEnv, simpleConfig, startProxy, API_VERSION, type LogLine, type TestProxy } from "./helpers/proxy";
import { openAiHandler, startUpstream, type Upstream } from "./helpers/upstream";
import { ProxyMetrics } from "../src/server/metrics";

let upstream: Upstream;
let proxy: TestProxy | undefined;

beforeEach(async () => {
  upstream = await startUpstream();
});

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  await upstream.close();
});

const chat = { model: "client-model", messages: [{ role: "user", content: "hi" }] };

describe("routing and the upstream request", () => {
  it("sends the request to the configured upstream path, with the key and the URLRewrite Host", async () => {
    proxy = await startProxy(simpleConfig(upstream.port, {}, { urlRewrite: { hostname: "api.mistral.ai" } }), { env: providerEnv });
    const reply = await postJson(proxy.url, "/mistral?trace=1", chat, { "x-custom": "kept", "user-agent": "test-agent" });
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ object: "chat.completion", usage: { prompt_tokens: 20 } });
    const seen = await upstream.request(0);
    expect(seen.method).toBe("POST");
    expect(seen.url).toBe("/v1/chat/completions?trace=1");
    expect(seen.headers.host).toBe("api.mistral.ai");
    expect(seen.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(seen.headers["x-custom"]).toBe("kept");
    expect(seen.headers["user-agent"]).toBe("test-agent");
    expect(seen.body.toString()).toBe(JSON.stringify(chat));
  });

  it("uses the backend host and port as Host without a URLRewrite hostname", async () => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    await postJson(proxy.url, "/mistral", chat);
    expect((await upstream.request(0)).headers.host).toBe(`127.0.0.1:${upstream.port}`);
  });

  it("answers 404 route_not_found for unknown paths and respects prefix boundaries", async () => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    for (const path of ["/", "/mistralx", "/other/mistral", "/MISTRAL"]) {
      const reply = await postJson(proxy.url, path, chat);
      expect(reply.status).toBe(404);
      expect(reply.json()).toEqual({ error: { message: "No route matches this request.", type: "invalid_request_error", code: "route_not_found" } });
    }
    for (const path of ["/mistral", "/mistral/", "/mistral/v1/chat/completions"]) {
      expect((await postJson(proxy.url, path, chat)).status).toBe(200);
    }
    expect(upstream.requests).toHaveLength(3);
  });

  it("orders matches by Gateway API precedence: Exact, longest prefix, method, headers, then config order", async () => {
    const second = await startUpstream();
    try {
      const backend = (name: string, port: number, path: string) => ({ name, host: "127.0.0.1", port, path, auth: { type: "None" as const } });
      proxy = await startProxy({
        apiVersion: API_VERSION,
        kind: "ProxyConfig",
        backends: [backend("a", upstream.port, "/a"), backend("b", second.port, "/b")],
        routes: [
          { name: "prefix", matches: [{ path: { value: "/v1" } }], backendRefs: [{ name: "a" }] },
          { name: "longer", matches: [{ path: { value: "/v1/chat" } }], backendRefs: [{ name: "b" }] },
          { name: "exact", matches: [{ path: { type: "Exact", value: "/v1/chat/x" } }], backendRefs: [{ name: "a" }] },
          { name: "get-only", matches: [{ path: { value: "/m" }, method: "GET" }], backendRefs: [{ name: "b" }] },
          { name: "any-method", matches: [{ path: { value: "/m" } }], backendRefs: [{ name: "a" }] },
          { name: "header", matches: [{ path: { value: "/h" }, headers: [{ name: "X-Tenant", value: "t-[0-9]+", type: "RegularExpression" }] }], backendRefs: [{ name: "b" }] },
          { name: "no-header", matches: [{ path: { value: "/h" } }], backendRefs: [{ name: "a" }] },
          { name: "query", matches: [{ path: { value: "/q" }, queryParams: [{ name: "v", value: "2" }] }], backendRefs: [{ name: "b" }] },
          { name: "host", hostnames: ["*.example.com"], matches: [{ path: { value: "/host" } }], backendRefs: [{ name: "b" }] },
        ],
      });
      let last = "";
      upstream.on("request", () => (last = "a"));
      second.on("request", () => (last = "b"));
      const where = async (path: string, options: Parameters<typeof send>[2] = {}): Promise<string> => {
        last = "";
        const reply = await send(proxy!.url, path, options);
        return reply.status === 200 ? last : String(reply.status);
      };
      expect(await where("/v1/models")).toBe("a");
      expect(await where("/v1/chat/completions")).toBe("b");
      expect(await where("/v1/chat/x")).toBe("a");
      expect(await where("/m", { method: "GET" })).toBe("b");
      expect(await where("/m", { method: "POST", body: "{}" })).toBe("a");
      expect(await where("/h", { headers: { "x-tenant": "t-42" } })).toBe("b");
      expect(await where("/h", { headers: { "x-tenant": "t-42x" } })).toBe("a");
      expect(await where("/q?v=2")).toBe("b");
      expect(await where("/q?v=3")).toBe("404");
      expect(await where("/host", { headers: { host: "api.example.com:8080" } })).toBe("b");
      expect(await where("/host", { headers: { host: "example.com" } })).toBe("404");
    } finally {
      await second.close();
    }
  });

  it("gives precedence to the route with the most specific matching hostname, before path precedence", async () => {
    const second = await startUpstream();
    const third = await startUpstream();
    try {
      const backend = (name: string, port: number) => ({ name, host: "127.0.0.1", port, path: `/${name}`, auth: { type: "None" as const } });
      proxy = await startProxy({
        apiVersion: API_VERSION,
        kind: "ProxyConfig",
        backends: [backend("any", upstream.port), backend("wild", second.port), backend("exact", third.port)],
        routes: [
          { name: "any-host", matches: [{ path: { type: "Exact", value: "/v1/chat/completions" } }], backendRefs: [{ name: "any" }] },
          { name: "wildcard", hostnames: ["*.example.com"], matches: [{ path: { value: "/v1/chat" } }], backendRefs: [{ name: "wild" }] },
          { name: "longer-wildcard", hostnames: ["*.eu.example.com"], matches: [{ path: { value: "/" } }], backendRefs: [{ name: "exact" }] },
          { name: "exact-host", hostnames: ["api.example.com"], matches: [{ path: { value: "/v1" } }], backendRefs: [{ name: "exact" }] },
        ],
      });
      let last = "";
      upstream.on("request", () => (last = "any"));
      second.on("request", () => (last = "wild"));
      third.on("request", () => (last = "exact"));
      const where = async (path: string, host: string): Promise<string> => {
        last = "";
        const reply = await send(proxy!.url, path, { headers: { host } });
        return reply.status === 200 ? last : String(reply.status);
      };
      // An exact hostname beats a wildcard, which beats no hostname, whatever their paths.
      expect(await where("/v1/chat/completions", "api.example.com")).toBe("exact");
      expect(await where("/v1/chat/completions", "other.example.com")).toBe("wild");
      expect(await where("/v1/chat/completions", "elsewhere.test")).toBe("any");
      // The longer of two matching wildcards wins.
      expect(await where("/v1/chat/completions", "a.eu.example.com:8443")).toBe("exact");
      // A more specific route whose rules do not match leaves the request to the others.
      expect(await where("/v2", "api.example.com")).toBe("404");
      expect(await where("/v1/chat", "other.example.com")).toBe("wild");
    } finally {
      await second.close();
      await third.close();
    }
  });

  it("considers only the first of several header or query matches with an equivalent name", async () => {
    proxy = await startProxy({
      apiVersion: API_VERSION,
      kind: "ProxyConfig",
      backends: [{ name: "b", host: "127.0.0.1", port: upstream.port, auth: { type: "None" } }],
      routes: [
        { name: "h", matches: [{ path: { value: "/h" }, headers: [{ name: "X-Tenant", value: "a" }, { name: "x-tenant", value: "b" }] }], backendRefs: [{ name: "b" }] },
        { name: "q", matches: [{ path: { value: "/q" }, queryParams: [{ name: "v", value: "1" }, { name: "v", value: "2" }, { name: "V", value: "3" }] }], backendRefs: [{ name: "b" }] },
      ],
    });
    expect((await send(proxy.url, "/h", { headers: { "x-tenant": "a" } })).status).toBe(200);
    expect((await send(proxy.url, "/h", { headers: { "x-tenant": "b" } })).status).toBe(404);
    // Query parameter names are case-sensitive: `V` is another parameter.
    expect((await send(proxy.url, "/q?v=1&V=3")).status).toBe(200);
    expect((await send(proxy.url, "/q?v=2&V=3")).status).toBe(404);
    expect((await send(proxy.url, "/q?v=1")).status).toBe(404);
  });

  it("serves any host for a route with an empty hostnames list, as Gateway API does", async () => {
    proxy = await startProxy(simpleConfig(upstream.port, {}, { hostnames: [] }), { env: providerEnv });
    expect((await postJson(proxy.url, "/mistral", chat, { host: "llm.example.com" })).status).toBe(200);
  });

  it("matches an Exact path as written: a trailing slash is part of it (only PathPrefix ignores one)", async () => {
    proxy = await startProxy({
      apiVersion: API_VERSION,
      kind: "ProxyConfig",
      backends: [{ name: "b", host: "127.0.0.1", port: upstream.port, auth: { type: "None" } }],
      routes: [
        { name: "slash", matches: [{ path: { type: "Exact", value: "/v1/models/" } }], backendRefs: [{ name: "b" }] },
        { name: "bare", matches: [{ path: { type: "Exact", value: "/v1/files" } }], backendRefs: [{ name: "b" }] },
      ],
    });
    expect((await send(proxy.url, "/v1/models/")).status).toBe(200);
    expect((await send(proxy.url, "/v1/models")).status).toBe(404);
    expect((await send(proxy.url, "/v1/files")).status).toBe(200);
    expect((await send(proxy.url, "/v1/files/")).status).toBe(404);
    expect(upstream.requests.map((r) => r.url)).toEqual(["/v1/models/", "/v1/files"]);
  });

  it("rewrites the path with ReplacePrefixMatch and ReplaceFullPath when the backend has no path.full", async () => {
    proxy = await startProxy({
      apiVersion: API_VERSION,
      kind: "ProxyConfig",
      backends: [{ name: "b", host: "127.0.0.1", port: upstream.port, auth: { type: "None" } }],
      routes: [
        { name: "prefix", matches: [{ path: { value: "/mistral/" } }], urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/v1" } }, backendRefs: [{ name: "b" }] },
        { name: "root", matches: [{ path: { value: "/root" } }], urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/" } }, backendRefs: [{ name: "b" }] },
        { name: "full", matches: [{ path: { value: "/full" } }], urlRewrite: { path: { type: "ReplaceFullPath", replaceFullPath: "/v1/embeddings" } }, backendRefs: [{ name: "b" }] },
        { name: "keep", matches: [{ path: { value: "/keep" } }], backendRefs: [{ name: "b" }] },
      ],
    });
    const cases: [string, string][] = [
      ["/mistral/chat/completions?x=1", "/v1/chat/completions?x=1"],
      ["/mistral", "/v1"],
      ["/root/v1/models", "/v1/models"],
      ["/root", "/"],
      ["/full/anything", "/v1/embeddings"],
      ["/keep/a/b", "/keep/a/b"],
    ];
    for (const [i, [from, to]] of cases.entries()) {
      expect((await send(proxy.url, from)).status).toBe(200);
      expect((await upstream.request(i)).url).toBe(to);
    }
  });

  it("splits traffic by weight and never picks a weight-0 backend; all weights 0 is 500 no_backend", async () => {
    proxy = await startProxy({
      apiVersion: API_VERSION,
      kind: "ProxyConfig",
      backends: [
        { name: "live", host: "127.0.0.1", port: upstream.port, path: "/live", auth: { type: "None" } },
        { name: "off", host: "127.0.0.1", port: upstream.port, path: "/off", auth: { type: "None" } },
      ],
      routes: [
        { name: "split", matches: [{ path: { value: "/split" } }], backendRefs: [{ name: "live", weight: 3 }, { name: "off", weight: 0 }] },
        { name: "none", matches: [{ path: { value: "/none" } }], backendRefs: [{ name: "off", weight: 0 }] },
        // No backends at all: its requests are not left to the catch-all below (Gateway API: 500).
        { name: "empty", matches: [{ path: { value: "/empty" } }], backendRefs: [] },
        { name: "catch-all", backendRefs: [{ name: "live" }] },
      ],
    });
    for (let i = 0; i < 10; i++) expect((await send(proxy.url, "/split")).status).toBe(200);
    expect(upstream.requests.every((r) => r.url === "/live")).toBe(true);
    for (const path of ["/none", "/empty", "/empty/v1/chat/completions"]) {
      const reply = await send(proxy.url, path);
      expect(reply.status).toBe(500);
      expect(reply.json()).toEqual({ error: { message: "This route has no backend to send the request to.", type: "server_error", code: "no_backend" } });
    }
    expect(upstream.requests).toHaveLength(10);
    expect((await send(proxy.url, "/other")).status).toBe(200);
  });
});

describe("headers", () => {
  it("strips hop-by-hop headers, Connection-listed headers and the client's credentials", async () => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    const raw =
      "POST /mistral HTTP/1.1\r\n" +
      "Host: attacker.example\r\n" +
      "Connection: keep-alive, X-Hop\r\n" +
      "X-Hop: secret-hop\r\n" +
      "Keep-Alive: timeout=5\r\n" +
      "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n" +
      "Authorization: Bearer client-key\r\n" +
      "X-Api-Key: client-key-2\r\n" +
      "Api-Key: client-key-3\r\n" +
      "TE: trailers\r\n" +
      "Upgrade: websocket\r\n" +
      "Accept-Encoding: gzip\r\n" +
      "X-Kept: yes\r\n" +
      "Content-Type: application/json\r\n" +
      "Content-Length: 2\r\n\r\n{}";
    const response = await rawExchange(proxy.url, raw, /\r\n\r\n[\s\S]*\}$/);
    expect(response).toMatch(/^HTTP\/1\.1 200/);
    const seen = await upstream.request(0);
    for (const name of ["x-hop", "keep-alive", "proxy-authorization", "x-api-key", "api-key", "te", "upgrade", "accept-encoding"]) {
      expect(seen.headers[name]).toBeUndefined();
    }
    expect(seen.headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(seen.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(seen.headers["x-kept"]).toBe("yes");
    expect(seen.rawHeaders.filter((h) => h.toLowerCase() === "authorization")).toHaveLength(1);
  });

  it("sends the backend's key, not a RequestHeaderModifier value, in the key's header", async () => {
    const modifier = { requestHeaderModifier: { set: [{ name: "authorization", value: "Bearer from-route" }], add: [{ name: "Authorization", value: "Bearer added" }, { name: "x-other", value: "1" }] } };
    proxy = await startProxy(simpleConfig(upstream.port, {}, modifier), { env: providerEnv });
    await postJson(proxy.url, "/mistral", chat);
    const seen = await upstream.request(0);
    expect(seen.rawHeaders.filter((h) => h.toLowerCase() === "authorization")).toHaveLength(1);
    expect(seen.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(seen.headers["x-other"]).toBe("1");
  });

  it("honours authHeader: the key goes in headerName as prefix + key, and no Authorization is sent", async () => {
    proxy = await startProxy(simpleConfig(upstream.port, { auth: { type: "Key", key: { env: "TEST_PROVIDER_KEY" }, headerName: "api-key", prefix: "Token " } }), { env: providerEnv });
    await postJson(proxy.url, "/mistral", chat, { authorization: "Bearer client", "api-key": "client-2" });
    const seen = await upstream.request(0);
    expect(seen.headers["api-key"]).toBe(`Token ${PROVIDER_KEY}`);
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.rawHeaders.filter((h) => h.toLowerCase() === "api-key")).toHaveLength(1);
  });

  it("Passthrough forwards the client's bearer token in the configured header", async () => {
    proxy = await startProxy(simpleConfig(upstream.port, { auth: { type: "Passthrough", headerName: "x-goog-api-key", prefix: "" } }), { env: providerEnv });
    await postJson(proxy.url, "/mistral", chat, { authorization: "Bearer client-own-key" });
    const seen = await upstream.request(0);
    expect(seen.headers["x-goog-api-key"]).toBe("client-own-key");
    expect(seen.headers.authorization).toBeUndefined();
  });

  it("never lets a client's Connection header remove the key, the Host or the route's headers", async () => {
    proxy = await startProxy(
      simpleConfig(upstream.port, {}, { urlRewrite: { hostname: "rewritten.example" }, requestHeaderModifier: { set: [{ name: "X-Tenant", value: "tenant-a" }], add: [{ name: "X-Added", value: "a" }] } }),
      { env: providerEnv },
    );
    const raw =
      "POST /mistral HTTP/1.1\r\nHost: x\r\n" +
      "Connection: x-tenant, authorization\r\nConnection: host, x-added, x-own\r\n" +
      "X-Own: dropped\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    const response = await rawExchange(proxy.url, raw, /\r\n\r\n[\s\S]*\}$/);
    expect(response).toMatch(/^HTTP\/1\.1 200/);
    const seen = await upstream.request(0);
    expect(seen.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(seen.headers.host).toBe("rewritten.example");
    expect(seen.headers["x-tenant"]).toBe("tenant-a");
    expect(seen.headers["x-added"]).toBe("a");
    expect(seen.headers["x-own"]).toBeUndefined();
  });

  it("applies RequestHeaderModifier and ResponseHeaderModifier, and strips hop-by-hop response headers", async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", connection: "keep-alive, x-up-hop", "x-up-hop": "1", "x-remove-me": "1", "x-replace": "old" });
      res.end("{}");
    };
    proxy = await startProxy(
      simpleConfig(upstream.port, {}, {
        requestHeaderModifier: { set: [{ name: "X-Set", value: "set" }], add: [{ name: "X-Add", value: "added" }], remove: ["x-remove"] },
        responseHeaderModifier: { set: [{ name: "X-Replace", value: "new" }], add: [{ name: "X-Added", value: "a" }], remove: ["x-remove-me"] },
      }),
      { env: providerEnv },
    );
    const reply = await postJson(proxy.url, "/mistral", chat, { "x-set": "client", "x-add": "client", "x-remove": "client" });
    const seen = await upstream.request(0);
    expect(seen.headers["x-set"]).toBe("set");
    expect(seen.headers["x-add"]).toBe("client, added");
    expect(seen.headers["x-remove"]).toBeUndefined();
    expect(reply.headers["x-up-hop"]).toBeUndefined();
    expect(reply.headers["x-remove-me"]).toBeUndefined();
    expect(reply.headers["x-replace"]).toBe("new");
    expect(reply.headers["x-added"]).toBe("a");
  });

  it("strips the response headers that any of several Connection lines lists, not only the last", async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, ["Content-Type", "application/json", "Connection", "x-up-hop", "Connection", "keep-alive", "X-Up-Hop", "secret", "X-Kept", "1"]);
      res.end("{}");
    };
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    const reply = await postJson(proxy.url, "/mistral", chat);
    expect(reply.status).toBe(200);
    expect(reply.headers["x-up-hop"]).toBeUndefined();
    expect(reply.headers["x-kept"]).toBe("1");
  });

  it("applies only the first of several set or add entries with an equivalent header name", async () => {
    proxy = await startProxy(
      simpleConfig(upstream.port, {}, {
        requestHeaderModifier: { set: [{ name: "X-Set", value: "first" }, { name: "x-set", value: "second" }], add: [{ name: "X-Add", value: "a" }, { name: "x-add", value: "b" }] },
        responseHeaderModifier: { set: [{ name: "X-Resp", value: "first" }, { name: "x-resp", value: "second" }] },
      }),
      { env: providerEnv },
    );
    const reply = await postJson(proxy.url, "/mistral", chat);
    const seen = await upstream.request(0);
    expect(seen.headers["x-set"]).toBe("first");
    expect(seen.headers["x-add"]).toBe("a");
    expect(reply.headers["x-resp"]).toBe("first");
  });
});

describe("responses", () => {
  /** Sends `count` requests one after another on one keep-alive connection; returns the replies and whether the socket was reused. */
  async function onOneConnection(base: string, requests: { method: string; body?: string }[]): Promise<{ status: number; headers: Record<string, unknown>; body: string; reused: boolean }[]> {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const url = new URL(base);
    const replies = [];
    try {
      for (const r of requests) {
        replies.push(
          await new Promise<{ status: number; headers: Record<string, unknown>; body: string; reused: boolean }>((resolve, reject) => {
            const req = httpRequest({ host: url.hostname, port: url.port, path: "/mistral", method: r.method, agent, headers: r.body ? { "content-type": "application/json" } : {} }, (res) => {
              const chunks: Buffer[] = [];
              res.on("data", (c: Buffer) => chunks.push(c));
              res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), reused: req.reusedSocket }));
              res.on("error", reject);
            });
            req.on("error", reject);
            req.end(r.body);
          }),
        );
      }
    } finally {
      agent.destroy();
    }
    return replies;
  }

  it("forwards repeated headers, a length-delimited body that arrives in pieces, and a HEAD answer's length, on one kept-alive connection", async () => {
    upstream.handler = (req, res) => {
      if (req.method === "HEAD") {
        res.writeHead(200, { "content-type": "application/json", "content-length": "1234" });
        res.end();
        return;
      }
      res.writeHead(200, ["Content-Type", "application/json", "Content-Length", "22", "Set-Cookie", "a=1", "Set-Cookie", "b=2"]);
      res.write('{"part":"one",');
      setTimeout(() => res.end('"two":2}'), 30);
    };
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    const replies = await onOneConnection(proxy.url, [{ method: "POST", body: JSON.stringify(chat) }, { method: "HEAD" }, { method: "POST", body: JSON.stringify(chat) }]);
    expect(replies.map((r) => [r.status, r.body, r.reused])).toEqual([
      [200, '{"part":"one","two":2}', false],
      [200, "", true],
      [200, '{"part":"one","two":2}', true],
    ]);
    expect(replies[0]!.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
    expect(replies[0]!.headers["content-length"]).toBe("22");
    expect(replies[1]!.headers["content-length"]).toBe("1234");
    expect(upstream.requests.map((r) => r.method)).toEqual(["POST", "HEAD", "POST"]);
  });
});

describe("request bodies", () => {
  it("replaces only `model`, keeping every other byte: spacing, number spelling, escapes, unknown and nested fields", async () => {
    proxy = await startProxy(simpleConfig(upstream.port, { model: "mistral-medium-2505" }), { env: providerEnv });
    const body =
      '{ "messages" : [ {"role":"user","content":"say \\"model\\": no", "model": "nested-stays"} ],\n' +
      '  "model"  :  "client-model" , "temperature": 1.0, "seed": 12345678901234567890, "x_unknown": {"a":[1e3, null, true]},\n' +
      '  "text": "caf\\u00e9 \\ud83d\\ude00", "metadata": {"model": "also-stays"} }';
    const expected = body.replace('"model"  :  "client-model"', '"model"  :  "mistral-medium-2505"');
    const reply = await postJson(proxy.url, "/mistral", body);
    expect(reply.status).toBe(200);
    expect((await upstream.request(0)).body.toString("utf8")).toBe(expected);
    expect(reply.json()).toMatchObject({ model: "mistral-medium-2505" });
  });

  it("adds `model` when the request has none, and replaces an empty one (the docs' curl sends \"model\": \"\")", async () => {
    proxy = await startProxy(simpleConfig(upstream.port, { model: "deepseek-chat" }), { env: providerEnv });
    await postJson(proxy.url, "/mistral", '{"messages":[]}');
    await postJson(proxy.url, "/mistral", "{}");
    await postJson(proxy.url, "/mistral", '{"model": "", "stream": false}');
    expect((await upstream.request(0)).body.toString()).toBe('{"model":"deepseek-chat","messages":[]}');
    expect((await upstream.request(1)).body.toString()).toBe('{"model":"deepseek-chat"}');
    expect((await upstream.request(2)).body.toString()).toBe('{"model": "deepseek-chat", "stream": false}');
  });

  it("streams the body through untouched without an override, even when it is not JSON", async () => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    upstream.handler = (_req, res) => res.writeHead(200).end("ok");
    const body = Buffer.concat([Buffer.from("not json \u00ff "), Buffer.from([0, 1, 2, 255])]);
    const reply = await send(proxy.url, "/mistral", { method: "POST", headers: { "content-type": "application/octet-stream" }, body });
    expect(reply.status).toBe(200);
    expect((await upstream.request(0)).body.equals(body)).toBe(true);
  });

  it("answers `Expect: 100-continue` itself and does not forward the expectation", async () => {
    proxy = await startProxy(simpleConfig(upstream.port, { model: "m" }), { env: providerEnv });
    const url = new URL(proxy.url);
    const body = JSON.stringify({ messages: [{ role: "user", content: "x".repeat(2000) }] });
    const req = httpRequest({ host: url.hostname, port: url.port, method: "POST", path: "/mistral", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), expect: "100-continue" } });
    req.flushHeaders();
    await once(req, "continue");
    req.end(body);
    const [res] = (await once(req, "response")) as [import("node:http").IncomingMessage];
    res.resume();
    expect(res.statusCode).toBe(200);
    const seen = await upstream.request(0);
    expect(seen.headers.expect).toBeUndefined();
    expect(JSON.parse(seen.body.toString())).toMatchObject({ model: "m" });
  });

  it("invites a streamed body with `100 Continue` too", async () => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    upstream.handler = (_req, res, body) => res.end(body);
    const url = new URL(proxy.url);
    const req = httpRequest({ host: url.hostname, port: url.port, method: "POST", path: "/mistral", headers: { "content-length": 5, expect: "100-continue" } });
    req.flushHeaders();
    await once(req, "continue");
    req.end("hello");
    const [res] = (await once(req, "response")) as [import("node:http").IncomingMessage];
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    expect(res.statusCode).toBe(200);
    expect(Buffer.concat(chunks).toString()).toBe("hello");
  });

  it.each([
    ["a body over the limit", "/mistral", 11 * 1024 * 1024, 413, "request_too_large"],
    ["no route", "/nowhere", 2000, 404, "route_not_found"],
  ])("answers `Expect: 100-continue` with %s at once, without inviting the upload, and closes", async (_what, path, length, status, code) => {
    proxy = await startProxy(simpleConfig(upstream.port, { model: "m" }), { env: providerEnv });
    const url = new URL(proxy.url);
    const req = httpRequest({ host: url.hostname, port: url.port, method: "POST", path, headers: { "content-type": "application/json", "content-length": length, expect: "100-continue" } });
    let invited = false;
    req.on("continue", () => (invited = true));
    req.on("error", () => {}); // the body is never sent; the connection closes under it
    req.flushHeaders();
    const [res] = (await once(req, "response")) as [import("node:http").IncomingMessage];
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    expect(res.statusCode).toBe(status);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toMatchObject({ error: { code } });
    expect(res.headers.connection).toBe("close");
    expect(invited).toBe(false);
    req.destroy();
    expect(upstream.requests.length).toBe(0);
  });

  it("forwards a chunked body as it streams", async () => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    const url = new URL(proxy.url);
    const req = httpRequest({ host: url.hostname, port: url.port, method: "POST", path: "/mistral", headers: { "content-type": "application/json" } });
    req.write('{"model":"m",');
    // The upstream sees the request before the client has finished sending it.
    await new Promise((resolve) => setImmediate(resolve));
    req.end('"messages":[]}');
    const [res] = (await once(req, "response")) as [import("node:http").IncomingMessage];
    res.resume();
    expect(res.statusCode).toBe(200);
    const seen = await upstream.request(0);
    expect(seen.body.toString()).toBe('{"model":"m","messages":[]}');
    expect(seen.headers["transfer-encoding"]).toBe("chunked");
  });
});

describe("upstream responses", () => {
  it("passes upstream error responses through verbatim: status, headers and body", async () => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    const reply = await postJson(proxy.url, "/mistral", { ...chat, x_status: 429 });
    expect(reply.status).toBe(429);
    expect(reply.headers["retry-after"]).toBe("7");
    expect(reply.headers["x-upstream-error"]).toBe("yes");
    expect(reply.body).toBe(JSON.stringify({ error: { message: "upstream says 429", type: "upstream_type", code: "upstream_code" } }));
    const reply500 = await postJson(proxy.url, "/mistral", { ...chat, x_status: 503 });
    expect(reply500.status).toBe(503);
    expect(reply500.json()).toMatchObject({ error: { code: "upstream_code" } });
  });

  it.each([
    ["declared over the body limit", { "content-length": 11 * 1024 * 1024 }],
    ["of unknown length (chunked)", { "transfer-encoding": "chunked" }],
  ])("closes the connection after an error answer that leaves a body %s unread", async (_what, headers) => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    const url = new URL(proxy.url);
    const req = httpRequest({ host: url.hostname, port: url.port, method: "POST", path: "/nowhere", headers: { "content-type": "application/json", ...headers } });
    req.on("error", () => {}); // the rest of the body is never sent; the connection closes under it
    req.write("{");
    const [res] = (await once(req, "response")) as [import("node:http").IncomingMessage];
    res.resume();
    await once(res, "end");
    expect(res.statusCode).toBe(404);
    expect(res.headers.connection).toBe("close");
    req.destroy();
  });

  it("keeps no more than a few socket reads in memory to find the usage of a response in tiny chunks", async () => {
    // Each chunk of one byte of body comes in a read of its own, filled by a chunk extension: the
    // `usage` reader kept every chunk until it had 16 KiB of them, and with each its whole read.
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const chunks = 1500;
    const extension = `;x=${"y".repeat(60_000)}`;
    const usage = '"usage":{"prompt_tokens":3,"completion_tokens":4}}';
    let finish = (): void => undefined;
    const raw = createServer((socket) => {
      socket.on("error", () => undefined);
      socket.once("data", () => {
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n9\r\n{"id":"x"\r\n');
        let sent = 0;
        const pump = (): void => {
          while (sent < chunks) {
            sent++;
            if (!socket.write(`1${extension}\r\n \r\n`)) return void socket.once("drain", pump);
          }
        };
        pump();
        finish = () => socket.end(`${(usage.length + 1).toString(16)}\r\n,${usage}\r\n0\r\n\r\n`);
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
    try {
      proxy = await startProxy(simpleConfig((raw.address() as AddressInfo).port), { env: providerEnv });
      gc();
      const before = process.memoryUsage().arrayBuffers;
      const url = new URL(proxy.url);
      const req = httpRequest({ host: url.hostname, port: url.port, method: "POST", path: "/mistral", headers: { "content-type": "application/json" }, agent: false });
      req.end(JSON.stringify(chat));
      const [res] = (await once(req, "response")) as [import("node:http").IncomingMessage];
      let body = "";
      res.setEncoding("latin1");
      res.on("data", (d: string) => (body += d));
      while (body.length < 9 + chunks) await new Promise((resolve) => setTimeout(resolve, 10));
      gc();
      const held = process.memoryUsage().arrayBuffers - before;
      finish();
      await once(res, "end");
      expect(body).toBe(`{"id":"x"${" ".repeat(chunks)},${usage}`);
      // 1,500 reads of 60 kB were held (90 MB); at most 16 of them now.
      expect(held).toBeLessThan(16 * 1024 * 1024);
      expect(await proxy.waitForLog((l) => l.msg === "request")).toMatchObject({ status: 200, inputTokens: 3, outputTokens: 4 });
    } finally {
      raw.close();
    }
  });

  it("keeps client connections alive across requests and error answers", async () => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    const raw = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\nPOST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    const out = await rawExchange(proxy.url, raw, /HTTP\/1\.1 404[\s\S]*HTTP\/1\.1 200[\s\S]*\r\n\r\n[\s\S]*\}$/);
    expect(out).toMatch(/^HTTP\/1\.1 404/);
    expect(out).not.toMatch(/connection: close/i);
  });
});

describe("client connections", () => {
  it("answers a malformed request as Node.js does: 400, or 431 for headers too large", async () => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    expect(await rawExchange(proxy.url, "GET /mistral HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n")).toBe("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    expect(await rawExchange(proxy.url, `GET /mistral HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    expect(upstream.requests).toHaveLength(0);
  });

  it("logs and counts what Node.js's parser refused, with the parser's code and nothing of what was read", async () => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    const key = "sk-PARSER-REFUSED-1";
    await rawExchange(proxy.url, `POST /mistral HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nX-A: a\0b\r\n\r\n`);
    await rawExchange(proxy.url, `POST /mistral HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    const refused = async (status: number) => (await proxy!.waitForLog((l) => l.msg === "request" && l.status === status));
    const bad = await refused(400);
    const big = await refused(431);
    expect([bad.method, bad.path, bad.error, bad.route, big.method, big.path, big.error]).toEqual(["", "", "HPE_INVALID_HEADER_TOKEN", undefined, "", "", "HPE_HEADER_OVERFLOW"]);
    expect(bad.reqId).not.toBe(big.reqId);
    expect(proxy.rawLogs.join("\n")).not.toContain("PARSER-REFUSED");
    const metrics = (await send(proxy.adminUrl, "/metrics")).body;
    for (const status of ["400", "431"]) {
      expect(metrics).toMatch(new RegExp(`^http_server_requests_total\\{http_route="",http_response_status_code="${status}"\\} 1$`, "m"));
    }
    expect(upstream.requests).toHaveLength(0);
    // The proxy still serves.
    expect((await postJson(proxy.url, "/mistral", { model: "m", messages: [] })).status).toBe(200);
  });

  it("closes, rather than answer 400, when a malformed request comes pipelined behind one being answered", async () => {
    let answer: () => void = () => {};
    upstream.handler = (_req, res) => (answer = () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    const { socket, received, closed } = await rawConnection(proxy.url);
    socket.write("POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    await upstream.request(0);
    socket.write("GET /mistral HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n");
    await closed;
    // A 400 would have read as the answer to the first request, which the upstream was still serving.
    expect(received()).toBe("");
    answer();
    const line = await proxy.waitForLog((l) => l.msg === "request");
    expect(line.status).toBe(499);
  });
  it("during the shutdown delay, forwards none of the requests pipelined behind the one whose answer closes the connection", async () => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv, shutdownDelayMs: 1500 });
    const closing = proxy.proxy.shutdown(1000);
    const { socket, received, closed } = await rawConnection(proxy.url);
    const request = (n: number): string => {
      const body = JSON.stringify({ model: "x", n });
      return `POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    };
    socket.write(request(1) + request(2) + request(3));
    await closed;
    // One answer, closing the connection: the client must send the other two again (to another pod), so
    // they must not have reached the upstream, nor be logged as requests the client gave up on.
    expect(received().match(/^HTTP\/1\.1 \d+/gm)).toEqual(["HTTP/1.1 200"]);
    expect(received()).toMatch(/\r\nconnection: close\r\n/i);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(upstream.requests.map((r) => (JSON.parse(r.body.toString()) as { n: number }).n)).toEqual([1]);
    expect(proxy.logs().filter((l) => l.msg === "request").map((l) => l.status)).toEqual([200]);
    expect(proxy.proxy.inflight).toBe(0);
    await closing;
  });

  it.each([
    ["an upstream answer", 200],
    ["an error", 504],
  ])("closes the connection after %s whose headers are written once draining began, for a request that came before", async (_what, status) => {
    let answer: () => void = () => {};
    upstream.handler = (_req, res) => (answer = () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    proxy = await startProxy(simpleConfig(upstream.port, {}, status === 504 ? { timeouts: { backendRequestMs: 500 } } : {}), { env: providerEnv, shutdownDelayMs: 1500 });
    const { socket, received, closed } = await rawConnection(proxy.url);
    const body = JSON.stringify({ model: "x" });
    socket.write(`POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await upstream.request(0);
    const closing = proxy.proxy.shutdown(5000);
    // Draining has begun: this answer is the connection's last, so the client sends its next request
    // to another pod instead of racing the close at the end of the drain.
    if (status === 200) answer();
    // Closed after the answer, before the delay ends, not by the close of every connection at the end.
    await closed;
    expect(proxy.logs().map((l) => l.msg)).not.toContain("shutting down");
    expect(received()).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(received()).toMatch(/\r\nconnection: close\r\n/i);
    expect(received()).not.toMatch(/\r\nkeep-alive:/i);
    if (status === 504) answer();
    await closing;
  });

  it("once draining, forwards no request pipelined behind one that came before and is not answered yet", async () => {
    const answers: (() => void)[] = [];
    upstream.handler = (_req, res) => answers.push(() => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    const answer = (): void => answers.forEach((a) => a());
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv, shutdownDelayMs: 1500 });
    const { socket, received, closed } = await rawConnection(proxy.url);
    const request = (n: number): string => {
      const body = JSON.stringify({ model: "x", n });
      return `POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    };
    socket.write(request(1));
    await upstream.request(0);
    const closing = proxy.proxy.shutdown(5000);
    // The first request's answer, begun while draining, closes the connection: the second, pipelined
    // behind it, can never be answered, so it must not reach the upstream (the client sends it again).
    socket.write(request(2));
    await new Promise((resolve) => setTimeout(resolve, 200));
    answer();
    await closed;
    expect(received().match(/^HTTP\/1\.1 \d+/gm)).toEqual(["HTTP/1.1 200"]);
    expect(received()).toMatch(/\r\nconnection: close\r\n/i);
    expect(upstream.requests.map((r) => (JSON.parse(r.body.toString()) as { n: number }).n)).toEqual([1]);
    await closing;
    expect(proxy.logs().filter((l) => l.msg === "request").map((l) => l.status)).toEqual([200]);
  });

  it.each([
    ["in order", false],
    ["the later first", true],
  ])("once draining, answers every request pipelined before it began (upstream answers %s), only the last answer closing the connection", async (_order, reversed) => {
    const answers: (() => void)[] = [];
    upstream.handler = (_req, res) => answers.push(() => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv, shutdownDelayMs: 1500 });
    const { socket, received, closed } = await rawConnection(proxy.url);
    const request = (n: number): string => {
      const body = JSON.stringify({ model: "x", n });
      return `POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    };
    socket.write(request(1) + request(2));
    await upstream.request(1);
    const closing = proxy.proxy.shutdown(5000);
    // Both went upstream before draining began: both answers must reach the client, so only the second,
    // the connection's last, may close it.
    (reversed ? answers.reverse() : answers).forEach((a) => a());
    await closed;
    expect(received().match(/^HTTP\/1\.1 \d+/gm)).toEqual(["HTTP/1.1 200", "HTTP/1.1 200"]);
    expect(received().match(/\r\nconnection: close\r\n/gi)).toHaveLength(1);
    await closing;
    expect(proxy.logs().filter((l) => l.msg === "request").map((l) => l.status)).toEqual([200, 200]);
  });

  /**
   * A proxy on a route that rewrites `model` (it reads a request's body in full before it sends it), whose
   * upstream never answers the requests that say `hold`; and a raw POST of `body` declaring `declared` bytes.
   */
  async function proxyHoldingRequests(): Promise<{ p: TestProxy; metrics: ProxyMetrics; post: (body: string, declared?: number) => string }> {
    upstream.handler = (req, res, body, up) => {
      if ((JSON.parse(body.toString()) as { hold?: boolean }).hold !== true) return openAiHandler(req, res, body, up);
    };
    const metrics = new ProxyMetrics({ processMetrics: false });
    const p = (proxy = await startProxy(simpleConfig(upstream.port, { model: "mistral-medium-2505" }), { env: providerEnv, metrics }));
    const post = (body: string, declared = body.length): string =>
      `POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n${body}`;
    return { p, metrics, post };
  }

  it("ends what still runs when the shutdown's grace ends as proxy_shutting_down: a 503, a stream's error event, a body being read; none counted against the upstream", async () => {
    // A route that rewrites `model` reads the body before it sends the request: the upload below is not sent yet.
    const { p, metrics, post } = await proxyHoldingRequests();
    const held = await rawConnection(p.url);
    held.socket.write(post(JSON.stringify({ model: "x", hold: true })));
    await upstream.request(0);
    const stream = await rawConnection(p.url);
    stream.socket.write(post(JSON.stringify({ model: "x", stream: true, x_gate: true })));
    while (!stream.received().includes("data: ")) await new Promise((resolve) => setTimeout(resolve, 10));
    const uploading = await rawConnection(p.url);
    uploading.socket.write(post('{"model":', 100));
    while (p.proxy.inflight < 3) await new Promise((resolve) => setTimeout(resolve, 10));

    await p.proxy.shutdown(300);
    await Promise.all([held.closed, stream.closed, uploading.closed]);
    expect(held.received()).toMatch(/^HTTP\/1\.1 503 /);
    expect(held.received()).toContain('"code":"proxy_shutting_down"');
    expect(stream.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(stream.received()).toMatch(/\r\nevent: error\ndata: \{"error":\{[^\n]*"code":"proxy_shutting_down"\}\}\n\n\r\n0\r\n\r\n$/);
    expect(uploading.received()).toBe("");
    // Every request line is written before the last line, which the CLI exits after.
    const logged = p.logs();
    expect(logged[logged.length - 1]).toMatchObject({ msg: "stopped", drained: false, abandoned: 3 });
    const lines = logged.filter((l) => l.msg === "request");
    expect(lines.map((l) => [l.status, l.error, l.level]).sort()).toEqual([
      [200, "proxy_shutting_down", "warn"],
      [503, "proxy_shutting_down", "warn"],
      [503, "proxy_shutting_down", "warn"],
    ]);
    expect(p.logs().some((l) => l.msg === "upstream connection failed")).toBe(false);
    expect(await metrics.registry.metrics()).not.toMatch(/^openai_proxy_upstream_errors_total\{/m);
    upstream.release();
  });

  it("a request whose body is read in full just as the grace ends is answered proxy_shutting_down, not sent to the destroyed pool as an upstream failure", async () => {
    const { p, metrics, post } = await proxyHoldingRequests();
    // An upstream request in progress: destroying its pool takes until its connection has closed.
    const held = await rawConnection(p.url);
    held.socket.write(post(JSON.stringify({ model: "x", hold: true })));
    await upstream.request(0);
    const body = JSON.stringify({ model: "x", messages: [] });
    const uploading = await rawConnection(p.url);
    uploading.socket.write(post(body.slice(0, 9), body.length));
    while (p.proxy.inflight < 2) await new Promise((resolve) => setTimeout(resolve, 10));

    const graceMs = 300;
    const shuttingDown = p.waitForNext((l) => l.msg === "shutting down");
    const closing = p.proxy.shutdown(graceMs);
    await shuttingDown;
    // Set after the grace's timer, for the same time: runs right after it, once the pools are being
    // destroyed, and the rest of the body is read in the same turn of the event loop.
    setTimeout(() => uploading.socket.write(body.slice(9)), graceMs);
    await closing;
    await Promise.all([held.closed, uploading.closed]);
    expect(upstream.requests).toHaveLength(1);
    expect(uploading.received()).toMatch(/^HTTP\/1\.1 503 /);
    expect(uploading.received()).toContain('"code":"proxy_shutting_down"');
    const lines = p.logs().filter((l) => l.msg === "request");
    expect(lines.map((l) => [l.status, l.error, l.level])).toEqual([
      [503, "proxy_shutting_down", "warn"],
      [503, "proxy_shutting_down", "warn"],
    ]);
    expect(await metrics.registry.metrics()).not.toMatch(/^openai_proxy_upstream_errors_total\{/m);
  });

  /** A raw client connection to `base`: what it has received so far, and when it closes. */
  async function rawConnection(base: string): Promise<{ socket: Socket; received: () => string; closed: Promise<unknown> }> {
    const url = new URL(base);
    const socket = connect(Number(url.port), url.hostname);
    await once(socket, "connect");
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    return { socket, received: () => text, closed: once(socket, "close") };
  }

  /** A keep-alive client connection of its own: sends requests one by one and reads each response whole. */
  async function keepAliveConnection(base: string): Promise<{ ask(): Promise<string>; closed: Promise<number> }> {
    const url = new URL(base);
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    await once(socket, "connect");
    let buffered = "";
    let waiting: { resolve: (response: string) => void; reject: (err: Error) => void } | null = null;
    const closed = new Promise<number>((resolve) =>
      socket.once("close", () => {
        waiting?.reject(new Error("the proxy closed the connection before the response"));
        resolve(performance.now());
      }),
    );
    socket.setEncoding("utf8").on("data", (text: string) => {
      buffered += text;
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0 || waiting === null) return;
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(buffered.slice(0, end))?.[1]);
      if (buffered.length < end + 4 + length) return;
      const response = buffered.slice(0, end + 4 + length);
      buffered = buffered.slice(end + 4 + length);
      const w = waiting;
      waiting = null;
      w.resolve(response);
    });
    const body = JSON.stringify(chat);
    const ask = (): Promise<string> =>
      new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        socket.write(`POST /mistral HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      });
    return { ask, closed };
  }

  it("advertises the keep-alive timeout and closes a connection idle that long, never sooner", async () => {
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv, keepAliveTimeoutMs: 1000 });
    const c = await keepAliveConnection(proxy.url);
    const response = await c.ask();
    const answered = performance.now();
    expect(response).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(response).toMatch(/\r\nconnection: keep-alive\r\nkeep-alive: timeout=1\r\n/i);
    // Closed by the proxy: no earlier than the advertised second.
    expect((await c.closed) - answered).toBeGreaterThanOrEqual(1000);
  });

  it("keeps a connection while a request on it outlasts the keep-alive timeout", async () => {
    upstream.handler = (req, res, body, up) => void setTimeout(() => openAiHandler(req, res, body, up), 1600);
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv, keepAliveTimeoutMs: 200 });
    const c = await keepAliveConnection(proxy.url);
    // 1.6 s in progress, longer than the 0.2 s keep-alive timeout plus Node.js's 1 s of grace.
    expect(await c.ask()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*"usage"/);
    upstream.handler = openAiHandler;
    expect(await c.ask()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    await c.closed;
  });
});

describe("config reloads", () => {
  it("name the kind of an error the loader did not expect, never its message, and keep serving the last good config", async () => {
    const config = simpleConfig(upstream.port);
    proxy = await startProxy(config, { env: providerEnv });
    const secret = "sk-in-an-error-message";
    const broken = { ...config };
    Object.defineProperty(broken, "backends", { enumerable: true, get: () => { throw new RangeError(secret); } });
    await proxy.proxy.apply(broken);
    const line = proxy.logs().find((l) => l.msg === "config rejected; still serving the last good config");
    expect(line?.problems).toEqual(["unexpected error while loading the config (RangeError)"]);
    expect(JSON.stringify(proxy.logs())).not.toContain(secret);
    expect(proxy.proxy.generation).toBe(1);
    expect((await postJson(proxy.url, "/mistral", chat)).status).toBe(200);
  });

  it("keep a replaced config's upstream pools open until the requests it routed have finished", async () => {
    // A model override reads the body before the request is sent, so its pool is picked first.
    const config = simpleConfig(upstream.port, { model: "mistral-large-latest" });
    proxy = await startProxy(config, { env: providerEnv });
    // Idle upstream connections stay for a minute: only closing its pool closes the old one's sooner.
    upstream.server.keepAliveTimeout = 60_000;
    const body = JSON.stringify(chat);
    const socket = connect(Number(new URL(proxy.url).port), "127.0.0.1");
    let answer = "";
    socket.on("data", (d: Buffer) => (answer += d.toString("latin1")));
    socket.write(`POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
    while (proxy.proxy.inflight === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    // Another upstream keep-alive setting: the backend gets a new pool, and the old one is no longer used.
    await proxy.proxy.apply({ ...config, upstream: { keepAliveTimeoutMs: 1234 } });
    expect(proxy.proxy.generation).toBe(2);
    socket.write(body.slice(10));
    while (!/\r\n\r\n[\s\S]*\}$/.test(answer)) await once(socket, "data");
    socket.destroy();
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(upstream.requests).toHaveLength(1);
    expect(JSON.parse(upstream.requests[0]!.body.toString()).model).toBe("mistral-large-latest");
    // Requests after the reload use the new config's pool; the old one closes (its connection with it).
    expect((await postJson(proxy.url, "/mistral", chat)).status).toBe(200);
    const connections = (): Promise<number> => new Promise((resolve, reject) => upstream.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    while ((await connections()) > 1) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await connections()).toBe(1);
  });
});

describe("upstream connections", () => {
  /** The upstream's client port of each request, in order: one per upstream connection. */
  function recordConnections(): number[] {
    const ports: number[] = [];
    upstream.server.keepAliveTimeout = 60_000;
    upstream.handler = (req, res, body, up) => {
      ports.push(req.socket.remotePort!);
      openAiHandler(req, res, body, up);
    };
    return ports;
  }

  /** How many requests each connection carried, in the order they were opened. */
  const runs = (ports: number[]): number[] => {
    const counts: number[] = [];
    for (let i = 0; i < ports.length; i++) {
      if (i === 0 || ports[i] !== ports[i - 1]) counts.push(0);
      counts[counts.length - 1]!++;
    }
    return counts;
  };

  it.each([
    [3, [3, 3, 1]],
    [1, [1, 1, 1, 1, 1, 1, 1]],
    [0, [7]],
  ])("with maxRequestsPerConnection %i, carry that many requests on a connection, then a new one, and lose none", async (max, expected) => {
    const ports = recordConnections();
    proxy = await startProxy({ ...simpleConfig(upstream.port), upstream: { maxRequestsPerConnection: max } }, { env: providerEnv });
    for (let i = 0; i < 7; i++) {
      const res = await postJson(proxy.url, "/mistral", chat);
      expect(res.status).toBe(200);
    }
    expect(runs(ports)).toEqual(expected);
    // The request that ends a connection asks the upstream to close it; the others keep it alive.
    const connectionHeaders = upstream.requests.map((r) => r.headers.connection);
    expect(connectionHeaders).toEqual(runs(ports).flatMap((n) => Array.from({ length: n }, (_, i) => (i + 1 === max ? "close" : "keep-alive"))));
  });

  /** The upstream's sockets, in the order they connect; its idle connections kept for a minute. */
  function upstreamSockets(): Socket[] {
    upstream.server.keepAliveTimeout = 60_000;
    const tcp: Socket[] = [];
    upstream.server.on("connection", (s: Socket) => tcp.push(s));
    return tcp;
  }

  /** A client connection the proxy has read a request from already (a 404), so that it reads the next one at once. */
  async function readingClient(url: string): Promise<{ client: Socket; received: () => string; ended: Promise<unknown> }> {
    const client = connect(Number(new URL(url).port), "127.0.0.1");
    let received = "";
    client.on("data", (d: Buffer) => (received += d.toString("latin1")));
    const ended = once(client, "close");
    await once(client, "connect");
    client.write("GET /none HTTP/1.1\r\nHost: proxy\r\n\r\n");
    await once(client, "data");
    return { client, received: () => received, ended };
  }

  it.each([
    ["read whole (the model rewritten)", { model: "mistral-medium-2505" }],
    ["passed on as it comes", {}],
  ])("sends a request again on a new connection when the idle one it was handed to is reset before it is written: its body %s", async (_body, backend) => {
    const tcp = upstreamSockets();
    const metrics = new ProxyMetrics({ processMetrics: false });
    proxy = await startProxy(simpleConfig(upstream.port, backend), { env: providerEnv, metrics });
    expect((await postJson(proxy.url, "/mistral", chat)).status).toBe(200);
    expect(tcp).toHaveLength(1); // now idle, kept alive
    const { client, received, ended } = await readingClient(proxy.url);
    // The request and the upstream's reset of the idle connection reach the proxy in the same turn of
    // the event loop: undici takes the request for that connection and fails it, unwritten, with the reset.
    const body = JSON.stringify({ ...chat, n: 2 });
    client.write(`POST /mistral HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    tcp[0]!.resetAndDestroy();
    await ended;
    expect(received().slice(received().indexOf("HTTP/1.1", 1))).toMatch(/^HTTP\/1\.1 200 /);
    expect(tcp).toHaveLength(2);
    expect(upstream.requests.map((r) => (JSON.parse(r.body.toString()) as { n?: number }).n)).toEqual([undefined, 2]);
    expect(proxy.logs().filter((l) => l.msg === "request sent again: the connection it was to go on closed before it was written").map((l) => l.level)).toEqual(["info"]);
    const requestLines = (): LogLine[] => proxy!.logs().filter((l) => l.msg === "request");
    while (requestLines().length < 3) await new Promise((resolve) => setTimeout(resolve, 10)); // written in batches
    expect(requestLines().map((l) => [l.path, l.status, l.error])).toEqual([["/mistral", 200, undefined], ["/none", 404, "route_not_found"], ["/mistral", 200, undefined]]);
    expect(await metrics.registry.metrics()).not.toMatch(/^openai_proxy_upstream_errors_total\{/m);
  });

  it("sends a chunked request again whole when the only idle connection it was handed to is reset before it is written, its body still arriving", async () => {
    const tcp = upstreamSockets();
    proxy = await startProxy({ ...simpleConfig(upstream.port), upstream: { maxConnections: 1 } }, { env: providerEnv });
    expect((await postJson(proxy.url, "/mistral", chat)).status).toBe(200);
    expect(tcp).toHaveLength(1);
    const { client, received, ended } = await readingClient(proxy.url);
    // The body passed on as it comes (chunked: a stream undici reads from the client's): its first chunk
    // arrives with the upstream's reset, the rest once the request was sent again. One connection at most:
    // the request sent again waits in the pool for the reset one to be replaced.
    const body = JSON.stringify({ ...chat, n: 3, pad: "x".repeat(200_000) });
    const chunk = (text: string): string => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
    client.write(`POST /mistral HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n${chunk(body.slice(0, 10))}`);
    tcp[0]!.resetAndDestroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.write(`${chunk(body.slice(10, 100_000))}${chunk(body.slice(100_000))}0\r\n\r\n`);
    await ended;
    expect(received().slice(received().indexOf("HTTP/1.1", 1))).toMatch(/^HTTP\/1\.1 200 /);
    expect(tcp).toHaveLength(2);
    expect(upstream.requests.map((r) => r.body.toString() === body)).toEqual([false, true]);
    expect(proxy.logs().filter((l) => l.msg === "request sent again: the connection it was to go on closed before it was written")).toHaveLength(1);
  });

  it("by default, keeps one upstream connection for every request", async () => {
    const ports = recordConnections();
    proxy = await startProxy(simpleConfig(upstream.port), { env: providerEnv });
    for (let i = 0; i < 20; i++) expect((await postJson(proxy.url, "/mistral", chat)).status).toBe(200);
    expect(runs(ports)).toEqual([20]);
    expect(new Set(upstream.requests.map((r) => r.headers.connection))).toEqual(new Set(["keep-alive"]));
  });
});
