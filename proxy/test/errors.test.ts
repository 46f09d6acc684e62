/**
 * Each failure of the proxy itself: its status and its exact OpenAI-shaped body from the catalogue
 * (so no internals, stack traces or secrets can be in it), plus the SSE error event after a stream started.
 */
import { once } from "node:events";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CATALOGUE, codeForError, type ErrorCode } from "../src/server/errors";
import { Exchange, MAX_HELD_LINE_BYTES } from "../src/server/exchange";
import { defaultBodyBudget, memoryLimit } from "../src/server/body-budget";
import { totalmem } from "node:os";
import { createTestCa } from "./helpers/certs";
import { postJson, rawExchange, send, type Reply } from "./helpers/http";
import { API_VERSION, PROVIDER_KEY, providerEnv, simpleConfig, startProxy } from "./helpers/proxy";
import { cleanups, proxyFor, upstreamWith } from "./helpers/owned";
import { type Upstream } from "./helpers/upstream";


/** A TCP server that accepts and then never says anything (or does what `onSocket` says). */
async function tcpServer(onSocket: (s: Socket) => void = () => undefined): Promise<NetServer & { port: number }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    onSocket(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(
    () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(resolve);
      }),
  );
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}

function expectError(reply: Reply, code: ErrorCode): void {
  const spec = ERROR_CATALOGUE[code];
  expect({ status: reply.status, body: reply.json() }).toEqual({
    status: spec.status,
    body: { error: { message: spec.message, type: spec.type, code } },
  });
  expect(reply.headers["content-type"]).toBe("application/json");
  expect(reply.body).not.toContain(PROVIDER_KEY);
}

const chat = { model: "m", messages: [{ role: "user", content: "hi" }] };


/** Two routes to `port`: `/stream` streams the request body through, `/parse` reads it whole (its backend sets `model`). */
function streamAndParse(port: number): Parameters<typeof startProxy>[0] {
  return {
    ...simpleConfig(port),
    backends: [
      { name: "ns/stream", host: "127.0.0.1", port, path: "/v1/chat/completions", auth: { type: "None" } },
      { name: "ns/parse", host: "127.0.0.1", port, path: "/v1/chat/completions", model: "m", auth: { type: "None" } },
    ],
    routes: [
      { name: "stream", matches: [{ path: { value: "/stream" } }], backendRefs: [{ name: "ns/stream" }] },
      { name: "parse", matches: [{ path: { value: "/parse" } }], backendRefs: [{ name: "ns/parse" }] },
    ],
  };
}
describe("4xx answered by the proxy", () => {
  it("400 invalid_json, invalid_body and model_required", async () => {
    const up = await upstreamWith();
    const p = await proxyFor({
      ...simpleConfig(up.port, { model: "override" }),
      backends: [
        { name: "ns/up", host: "127.0.0.1", port: up.port, path: "/v1/chat/completions", model: "override", auth: { type: "None" } },
        { name: "ns/strict", host: "127.0.0.1", port: up.port, path: "/v1/chat/completions", requireModel: true, auth: { type: "None" } },
      ],
      routes: [
        { name: "override", matches: [{ path: { value: "/mistral" } }], backendRefs: [{ name: "ns/up" }] },
        { name: "strict", matches: [{ path: { value: "/strict" } }], backendRefs: [{ name: "ns/strict" }] },
      ],
    });
    expectError(await postJson(p.url, "/mistral", '{"model": "x",'), "invalid_json");
    expectError(await send(p.url, "/mistral", { method: "POST", body: Buffer.from([0x7b, 0xff, 0x7d]) }), "invalid_json");
    expectError(await postJson(p.url, "/mistral", "[1,2]"), "invalid_body");
    expectError(await postJson(p.url, "/mistral", "null"), "invalid_body");
    expectError(await postJson(p.url, "/strict", { messages: [] }), "model_required");
    expectError(await postJson(p.url, "/strict", { model: "", messages: [] }), "model_required");
    // No body at all is no JSON either, for a method that carries one.
    expectError(await send(p.url, "/mistral", { method: "POST" }), "invalid_json");
    expectError(await send(p.url, "/strict", { method: "PUT", headers: { "content-length": "000" } }), "invalid_json");
    const ok = await postJson(p.url, "/strict", '{"model":"kept" ,"messages":[]}');
    expect(ok.status).toBe(200);
    expect((await up.request(0)).body.toString()).toBe('{"model":"kept" ,"messages":[]}');
    expect(up.requests).toHaveLength(1);
    // A method without a body carries no model: it passes (GET /v1/models).
    expect((await send(p.url, "/mistral", { method: "GET" })).status).toBe(200);
    expect((await up.request(1)).method).toBe("GET");
  });

  it("401 invalid_api_key without a valid client key; the client's key never goes upstream", async () => {
    const up = await upstreamWith();
    const p = await proxyFor({ ...simpleConfig(up.port), clientAuth: { apiKeys: [{ env: "CLIENT_KEYS" }] } }, { env: { ...providerEnv, CLIENT_KEYS: "client-a,client-b" } });
    expectError(await postJson(p.url, "/mistral", chat), "invalid_api_key");
    expectError(await postJson(p.url, "/mistral", chat, { authorization: "Bearer client-c" }), "invalid_api_key");
    expectError(await postJson(p.url, "/mistral", chat, { authorization: "Basic client-a" }), "invalid_api_key");
    // 401 comes before routing, so unauthenticated clients cannot probe for routes.
    expectError(await postJson(p.url, "/nope", chat), "invalid_api_key");
    expect(up.requests).toHaveLength(0);
    expect((await postJson(p.url, "/mistral", chat, { authorization: "Bearer client-b" })).status).toBe(200);
    const seen = await up.request(0);
    expect(seen.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(JSON.stringify(seen.rawHeaders)).not.toContain("client-b");
  });

  it("404 route_not_found", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port));
    expectError(await send(p.url, "/v1/chat/completions"), "route_not_found");
  });

  it("413 request_too_large by Content-Length, and by bytes received when chunked", async () => {
    const up = await upstreamWith();
    const p = await proxyFor({
      ...simpleConfig(up.port),
      limits: { maxRequestBodyBytes: 1000 },
      backends: [
        { name: "ns/up", host: "127.0.0.1", port: up.port, path: "/v1/chat/completions", auth: { type: "None" } },
        { name: "ns/override", host: "127.0.0.1", port: up.port, path: "/v1/chat/completions", model: "x", auth: { type: "None" } },
      ],
      routes: [
        { name: "pass", matches: [{ path: { value: "/mistral" } }], backendRefs: [{ name: "ns/up" }] },
        { name: "override", matches: [{ path: { value: "/override" } }], backendRefs: [{ name: "ns/override" }] },
      ],
    });
    const big = JSON.stringify({ model: "m", text: "x".repeat(2000) });
    expectError(await postJson(p.url, "/mistral", big), "request_too_large");
    expectError(await postJson(p.url, "/override", big), "request_too_large");
    for (const path of ["/mistral", "/override"]) {
      const url = new URL(p.url);
      const req = httpRequest({ host: url.hostname, port: url.port, method: "POST", path, headers: { "content-type": "application/json" } });
      req.on("error", () => undefined); // the proxy may close before the client finishes writing
      req.write(big.slice(0, 600));
      req.write(big.slice(600, 1200));
      req.end(big.slice(1200));
      const [res] = (await once(req, "response")) as [IncomingMessage];
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      expect(res.statusCode).toBe(413);
      expect(JSON.parse(Buffer.concat(chunks).toString())).toMatchObject({ error: { code: "request_too_large" } });
    }
    // Bodies within the limit pass.
    expect((await postJson(p.url, "/mistral", chat)).status).toBe(200);
  });
});

describe("5xx answered by the proxy", () => {
  it("502 upstream_connect_failed when nothing listens", async () => {
    const closed = await tcpServer();
    const port = closed.port;
    await new Promise((resolve) => closed.close(resolve));
    const p = await proxyFor(simpleConfig(port));
    expectError(await postJson(p.url, "/mistral", chat), "upstream_connect_failed");
  });

  it("502 upstream_tls_failed for an unknown CA and for a certificate of another host name", async () => {
    const ca = await createTestCa();
    const other = await createTestCa("another CA");
    const up = await upstreamWith(undefined, await ca.server(["api.mistral.ai"]));
    const tls = (serverName: string, pem: string) => ({ tls: { serverName, caCertificates: [{ pem }] } });
    const p = await proxyFor({
      apiVersion: API_VERSION,
      kind: "ProxyConfig",
      backends: [
        { name: "unknown-ca", host: "127.0.0.1", port: up.port, path: "/v1/chat/completions", auth: { type: "None" }, ...tls("api.mistral.ai", other.caCert) },
        { name: "wrong-name", host: "127.0.0.1", port: up.port, path: "/v1/chat/completions", auth: { type: "None" }, ...tls("api.deepseek.com", ca.caCert) },
        { name: "system", host: "127.0.0.1", port: up.port, path: "/v1/chat/completions", auth: { type: "None" }, tls: { serverName: "api.mistral.ai" } },
        { name: "good", host: "127.0.0.1", port: up.port, path: "/v1/chat/completions", auth: { type: "None" }, ...tls("api.mistral.ai", ca.caCert) },
      ],
      routes: ["unknown-ca", "wrong-name", "system", "good"].map((name) => ({ name, matches: [{ path: { value: `/${name}` } }], backendRefs: [{ name }] })),
    });
    expectError(await postJson(p.url, "/unknown-ca", chat), "upstream_tls_failed");
    expectError(await postJson(p.url, "/wrong-name", chat), "upstream_tls_failed");
    // The system store (Node.js roots) does not know the test CA.
    expectError(await postJson(p.url, "/system", chat), "upstream_tls_failed");
    expect((await postJson(p.url, "/good", chat)).status).toBe(200);
    expect(up.requests).toHaveLength(1);
  });

  it("logs why an upstream connection failed by its error code alone (expired, not yet valid, unknown CA, another host name, refused)", async () => {
    const day = 24 * 60 * 60 * 1000;
    const ca = await createTestCa();
    const other = await createTestCa("another CA");
    const ups = {
      expired: await upstreamWith(undefined, await ca.server(["api.mistral.ai"], { notBefore: new Date(Date.now() - 10 * day), notAfter: new Date(Date.now() - day) })),
      future: await upstreamWith(undefined, await ca.server(["api.mistral.ai"], { notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 10 * day) })),
      good: await upstreamWith(undefined, await ca.server(["api.mistral.ai"])),
    };
    const closed = await tcpServer();
    const refused = closed.port;
    await new Promise((resolve) => closed.close(resolve));
    const backend = (name: string, port: number, serverName: string | null, pem = ca.caCert) => ({
      name,
      host: "127.0.0.1",
      port,
      path: "/v1/chat/completions",
      auth: { type: "None" },
      ...(serverName ? { tls: { serverName, caCertificates: [{ pem }] } } : {}),
    });
    const backends = [
      backend("expired", ups.expired.port, "api.mistral.ai"),
      backend("not-yet-valid", ups.future.port, "api.mistral.ai"),
      backend("unknown-ca", ups.good.port, "api.mistral.ai", other.caCert),
      backend("wrong-name", ups.good.port, "api.deepseek.com"),
      backend("refused", refused, null),
    ];
    const p = await proxyFor({
      apiVersion: API_VERSION,
      kind: "ProxyConfig",
      backends: backends as never,
      routes: backends.map(({ name }) => ({ name, matches: [{ path: { value: `/${name}` } }], backendRefs: [{ name }] })),
    });
    const causes: Record<string, string> = {
      expired: "CERT_HAS_EXPIRED",
      "not-yet-valid": "CERT_NOT_YET_VALID",
      "unknown-ca": "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "wrong-name": "ERR_TLS_CERT_ALTNAME_INVALID",
      refused: "ECONNREFUSED",
    };
    for (const [name, cause] of Object.entries(causes)) {
      const logged = p.waitForNext((l) => l.msg === "upstream connection failed" && l.backend === name);
      const reply = await postJson(p.url, `/${name}`, chat);
      expectError(reply, name === "refused" ? "upstream_connect_failed" : "upstream_tls_failed");
      // The code only: never the error's message (the certificate's names, the address), in the log or the answer.
      expect(await logged).toEqual({ level: "warn", time: expect.any(Number), reqId: expect.any(String), backend: name, cause, msg: "upstream connection failed" });
      expect(reply.body).not.toContain(cause);
    }
    expect(Object.values(ups).flatMap((u) => u.requests)).toHaveLength(0);
  });

  it("502 upstream_tls_failed when the upstream does not speak TLS", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port, { tls: { serverName: "localhost" } }));
    expectError(await postJson(p.url, "/mistral", chat), "upstream_tls_failed");
  });

  it("502 upstream_connection_lost when the upstream closes without answering", async () => {
    const up = await upstreamWith((req) => req.socket.destroy());
    const p = await proxyFor(simpleConfig(up.port));
    expectError(await postJson(p.url, "/mistral", chat), "upstream_connection_lost");
  });

  it("502 upstream_protocol_error when the upstream answers garbage", async () => {
    const server = await tcpServer((s) => s.once("data", () => s.end("HTTP/1.1 2xx nonsense\r\n\r\n")));
    const p = await proxyFor(simpleConfig(server.port));
    expectError(await postJson(p.url, "/mistral", chat), "upstream_protocol_error");
  });

  it("501 unsupported_transfer_coding for a request body coded other than chunked; chunked alone passes", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port));
    const raw = (coding: string): Promise<string> =>
      rawExchange(p.url, `POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: ${coding}\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, /\r\n\r\n[\s\S]*\}/);
    const refused = await raw("gzip, chunked");
    expect(refused).toMatch(/^HTTP\/1\.1 501 /);
    expect(refused).toContain('"code":"unsupported_transfer_coding"');
    expect(up.requests).toHaveLength(0);
    expect(await raw("chunked")).toMatch(/^HTTP\/1\.1 200 /);
    expect(up.requests).toHaveLength(1);
  });

  it("502 upstream_protocol_error for a response body coded other than chunked, which the proxy could not pass on", async () => {
    const server = await tcpServer((s) => {
      s.on("error", () => {});
      s.once("data", () => s.end("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: gzip\r\n\r\n\x1f\x8b-not-really"));
    });
    const p = await proxyFor(simpleConfig(server.port));
    expectError(await postJson(p.url, "/mistral", chat), "upstream_protocol_error");
    const line = await p.waitForLog((l) => l.msg === "request");
    expect([line.status, line.error]).toEqual([502, "upstream_protocol_error"]);
  });

  it("400 malformed_request when a request's body breaks the protocol after its headers, logged as such", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(streamAndParse(up.port));
    for (const path of ["/stream", "/parse"]) {
      const answer = await rawExchange(p.url, `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{"\r\nzz\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toContain('"code":"malformed_request"');
      const line = await p.waitForLog((l) => l.msg === "request" && l.path === path);
      expect([line.status, line.error]).toEqual([400, "malformed_request"]);
    }
    expect(p.proxy.inflight).toBe(0);
  });

  it("a CONNECT pipelined behind a request still being answered closes the connection without an answer", async () => {
    let answer: (() => void) | undefined;
    const up = await upstreamWith((_req, res) => {
      answer = () => res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    cleanups.push(() => answer?.());
    const p = await proxyFor(simpleConfig(up.port));
    const socket = connect(Number(new URL(p.url).port), "127.0.0.1");
    cleanups.push(() => void socket.destroy());
    let received = "";
    socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
    socket.write(`POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
    await up.request(0); // the first request is at the upstream, which holds its answer
    socket.write(`CONNECT 127.0.0.1:${up.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await once(socket, "close");
    // Any answer on this connection would read as the first request's: there is none.
    expect(received).toBe("");
    const tunnel = await p.waitForLog((l) => l.msg === "request" && l.method === "CONNECT");
    expect([tunnel.status, tunnel.error]).toEqual([400, "invalid_request_target"]);
    const first = await p.waitForLog((l) => l.msg === "request" && l.method === "POST");
    expect([first.status, first.error]).toEqual([499, "client_closed_request"]);
    expect(p.proxy.inflight).toBe(0);
  });

  it.each([
    ["099", "HTTP/1.1 099 Odd\r\ncontent-length: 2\r\n\r\n{}"],
    ["600", "HTTP/1.1 600 Odd\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"],
    ["999", "HTTP/1.1 999 Odd\r\ncontent-length: 2\r\n\r\n{}"],
  ])("502 upstream_protocol_error for a status outside 100-599 (%s), which is not HTTP's", async (_status, answer) => {
    const server = await tcpServer((s) => {
      s.on("error", () => {});
      s.once("data", () => s.end(answer));
    });
    const p = await proxyFor(simpleConfig(server.port));
    expectError(await postJson(p.url, "/mistral", chat), "upstream_protocol_error");
    const line = await p.waitForLog((l) => l.msg === "request");
    expect([line.status, line.error]).toEqual([502, "upstream_protocol_error"]);
    // Counted as the upstream's error, and not logged as a bug of the proxy's.
    expect(p.logs().some((l) => l.msg === "upstream exchange failed")).toBe(false);
  });

  it("502 upstream_protocol_error when the upstream's response headers are too large", async () => {
    const server = await tcpServer((s) => {
      s.on("error", () => {}); // the proxy gives up on the connection while this is still being written
      s.once("data", () => s.end(`HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(100_000)}\r\ncontent-length: 2\r\n\r\n{}`));
    });
    const p = await proxyFor(simpleConfig(server.port));
    expectError(await postJson(p.url, "/mistral", chat), "upstream_protocol_error");
  });

  it("500 internal_error when handling a request throws (a bug), and the request is still finished", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port));
    const spy = jest.spyOn(Exchange.prototype as unknown as { forwardedHeaders(): string[] }, "forwardedHeaders").mockImplementation(() => {
      throw new TypeError("a bug");
    });
    try {
      expectError(await postJson(p.url, "/mistral", chat), "internal_error");
    } finally {
      spy.mockRestore();
    }
    // Logged, counted and no longer in flight (shutdown would otherwise wait for it); nothing went upstream.
    expect(await p.waitForLog((l) => l.msg === "request")).toMatchObject({ status: 500, error: "internal_error" });
    expect(p.proxy.inflight).toBe(0);
    expect(up.requests).toHaveLength(0);
    expect(p.rawLogs.join("\n")).not.toContain("a bug");
  });

  it("504 upstream_connect_timeout when the TLS handshake never completes", async () => {
    const server = await tcpServer();
    const p = await proxyFor(simpleConfig(server.port, { tls: { serverName: "localhost" }, timeouts: { connectMs: 150 } }));
    expectError(await postJson(p.url, "/mistral", chat), "upstream_connect_timeout");
  });

  it("504 upstream_headers_timeout when no response headers arrive", async () => {
    const up = await upstreamWith(() => undefined);
    const p = await proxyFor(simpleConfig(up.port, { timeouts: { headersMs: 150 } }));
    expectError(await postJson(p.url, "/mistral", chat), "upstream_headers_timeout");
  });

  it("504 upstream_body_timeout when the body stalls before its first byte", async () => {
    const up = await upstreamWith((_req, res) => res.writeHead(200, { "content-type": "application/json" }).flushHeaders());
    const p = await proxyFor(simpleConfig(up.port, { timeouts: { bodyMs: 150 } }));
    expectError(await postJson(p.url, "/mistral", chat), "upstream_body_timeout");
  });

  it("504 request_timeout after the route's timeouts.requestMs", async () => {
    const up = await upstreamWith(() => undefined);
    const p = await proxyFor(simpleConfig(up.port, {}, { timeouts: { requestMs: 150 } }));
    expectError(await postJson(p.url, "/mistral", chat), "request_timeout");
    const aborted = once(up, "clientAborted");
    expectError(await postJson(p.url, "/mistral", chat), "request_timeout");
    // The upstream request is abandoned too, not left running.
    await aborted;
  });
});

describe("400 json_too_complex: a large body of too many JSON values is refused before it is parsed", () => {
  it("refuses a body over 256 KiB with more than 200,000 objects and arrays, nested or flat, and serves one within either bound", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port, { model: "m-override" }));
    const nested = (n: number): string => `{"model":"x","messages":[],"a":${"[".repeat(n)}${"]".repeat(n)}}`;
    const flat = (n: number): string => `{"model":"x","messages":[],"a":[${"{},".repeat(n - 1)}{}]}`;
    const post = (body: string): Promise<Reply> => send(p.url, "/mistral", { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(nested(200_001).length).toBeGreaterThan(256 * 1024);
    expectError(await post(nested(200_001)), "json_too_complex");
    expectError(await post(flat(200_001)), "json_too_complex");
    expect(up.requests).toHaveLength(0);
    // At the bound (199,997 objects, 3 arrays and objects around them, 3 members), or under 256 KiB
    // (where parsing is bounded by the size): parsed and forwarded.
    expect((await post(flat(199_994))).status).toBe(200);
    const small = nested(120_000);
    expect(small.length).toBeLessThan(256 * 1024);
    expect((await post(small)).status).toBe(200);
    expect(up.requests).toHaveLength(2);
  });

  it("refuses a body over 256 KiB with more than 200,000 objects, arrays and members, in a single object", async () => {
    // One object, ~1.2M unique keys in 10 MiB: JSON.parse took 0.6-0.9 s over it, as long as over the
    // flat array of objects refused above, with a single `{`.
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port, { model: "m-override" }));
    const keys = (n: number): string => `{"model":"x","messages":[]${Array.from({ length: n }, (_, i) => `,"${i.toString(36)}":0`).join("")}}`;
    const post = (body: string): Promise<Reply> => send(p.url, "/mistral", { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(keys(200_001).length).toBeGreaterThan(256 * 1024);
    expectError(await post(keys(200_001)), "json_too_complex");
    expect(up.requests).toHaveLength(0);
    expect((await post(keys(199_990))).status).toBe(200);
    expect(up.requests).toHaveLength(1);
  });
});

describe("503 bodies_over_memory_budget: the request bodies held in memory at once are bounded", () => {
  /** A body of exactly `size` bytes, with `model` to rewrite. */
  const bodyOf = (size: number): string => {
    const base = JSON.stringify({ model: "x", messages: [], pad: "" });
    return JSON.stringify({ model: "x", messages: [], pad: "p".repeat(size - base.length) });
  };
  /** An upstream holding every answer until `answerAll()`. */
  async function holdingUpstream(): Promise<{ up: Upstream; answerAll: () => void }> {
    const held: (() => void)[] = [];
    const up = await upstreamWith((_req, res) => void held.push(() => res.writeHead(200, { "content-type": "application/json" }).end("{}")));
    return { up, answerAll: () => held.splice(0).forEach((answer) => answer()) };
  }
  /** A POST whose body is sent chunked (no Content-Length), in two writes. */
  function chunkedPost(base: string, body: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const url = new URL(base);
      const req = httpRequest({ host: url.hostname, port: url.port, method: "POST", path: "/mistral", headers: { "content-type": "application/json" } }, (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text, json: <T>() => JSON.parse(text) as T }));
      });
      req.on("error", reject);
      req.write(body.slice(0, 100));
      req.end(body.slice(100));
    });
  }

  // Sizes in KiB: bodies up to 64 KiB are left out of the budget.
  const K = 1024;

  it("answers 503 past the budget, counts a chunked body as it arrives, always serves a lone body, and frees a body's share when its exchange ends", async () => {
    const { up, answerAll } = await holdingUpstream();
    const p = await proxyFor({ ...simpleConfig(up.port, { model: "m-override" }), limits: { maxBufferedBodyBytes: 1000 * K } });
    const buffered = async (): Promise<string[]> => [...(await send(p.adminUrl, "/metrics")).body.matchAll(/^openai_proxy_buffered_body_bytes\{state="(\w+)"\} (\d+)$/gm)].map((m) => `${m[1]} ${Number(m[2]) / K}`);
    expect(await buffered()).toEqual(["held 0", "budget 1000"]);
    const first = postJson(p.url, "/mistral", JSON.parse(bodyOf(600 * K)));
    await up.request(0);
    expect(await buffered()).toEqual(["held 600", "budget 1000"]);
    // 600 held: another 600 would exceed 1000, sent with a Content-Length or chunked.
    expectError(await postJson(p.url, "/mistral", JSON.parse(bodyOf(600 * K))), "bodies_over_memory_budget");
    expectError(await chunkedPost(p.url, bodyOf(600 * K)), "bodies_over_memory_budget");
    // 300 more fits.
    const more = postJson(p.url, "/mistral", JSON.parse(bodyOf(300 * K)));
    await up.request(1);
    expect(up.requests).toHaveLength(2);
    answerAll();
    expect([(await first).status, (await more).status]).toEqual([200, 200]);
    // Freed: a body over the whole budget is served when no other is held, chunked or not.
    const lone = postJson(p.url, "/mistral", JSON.parse(bodyOf(1500 * K)));
    await up.request(2);
    answerAll();
    expect((await lone).status).toBe(200);
    const loneChunked = chunkedPost(p.url, bodyOf(1500 * K));
    await up.request(3);
    answerAll();
    expect((await loneChunked).status).toBe(200);
    expect(up.requests.map((r) => r.body.length)).toEqual([600, 300, 1500, 1500].map((n) => n * K + "m-override".length - 1));
    expect(await buffered()).toEqual(["held 0", "budget 1000"]);
    // Logged in order: once the last request's line is there, so are the refusals'.
    await p.waitForLog((l) => l.msg === "request" && l.status === 200 && p.logs().filter((m) => m.msg === "request").length === 6);
    expect(p.logs().filter((l) => l.msg === "request").map((l) => [l.status, l.error ?? null])).toEqual([
      [503, "bodies_over_memory_budget"],
      [503, "bodies_over_memory_budget"],
      [200, null],
      [200, null],
      [200, null],
      [200, null],
    ]);
  });

  it("never refuses a small body: clients holding the budget with large bodies sent slowly cannot stop ordinary requests", async () => {
    const { up, answerAll } = await holdingUpstream();
    const p = await proxyFor({ ...simpleConfig(up.port, { model: "m-override" }), limits: { maxBufferedBodyBytes: 1000 * K } });
    const url = new URL(p.url);
    const staller = connect(Number(url.port), url.hostname);
    await once(staller, "connect");
    cleanups.push(() => void staller.destroy());
    // Declares 900 KiB, sends 100 bytes, stalls: held by its declared length.
    staller.write(`POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${900 * K}\r\n\r\n${bodyOf(900 * K).slice(0, 100)}`);
    const held = async (): Promise<string | undefined> => /^openai_proxy_buffered_body_bytes\{state="held"\} (\d+)$/m.exec((await send(p.adminUrl, "/metrics")).body)?.[1];
    for (let i = 0; i < 50 && (await held()) !== String(900 * K); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await held()).toBe(String(900 * K));
    expectError(await postJson(p.url, "/mistral", JSON.parse(bodyOf(200 * K))), "bodies_over_memory_budget");
    // Bodies of up to 64 KiB are not counted: served, by Content-Length or chunked.
    const served = [postJson(p.url, "/mistral", JSON.parse(bodyOf(64 * K))), chunkedPost(p.url, bodyOf(64 * K))];
    await up.request(1);
    answerAll();
    expect((await Promise.all(served)).map((r) => r.status)).toEqual([200, 200]);
    expect(await held()).toBe(String(900 * K));
  });

  it("keeps a body held while the request waits for a busy backend's connection, its client gone, until undici lets go of it", async () => {
    const { up, answerAll } = await holdingUpstream();
    const p = await proxyFor({ ...simpleConfig(up.port, { model: "m-override", maxConnections: 1 }), limits: { maxBufferedBodyBytes: 1000 * K } });
    const held = async (): Promise<string | undefined> => /^openai_proxy_buffered_body_bytes\{state="held"\} (\d+)$/m.exec((await send(p.adminUrl, "/metrics")).body)?.[1];
    const waitHeld = async (value: number): Promise<void> => {
      for (let i = 0; i < 100 && (await held()) !== String(value); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await held()).toBe(String(value));
    };
    const first = postJson(p.url, "/mistral", JSON.parse(bodyOf(600 * K)));
    await up.request(0);
    // The backend's one connection is busy: this request waits in undici's queue, with its body.
    const url = new URL(p.url);
    const leaver = connect(Number(url.port), url.hostname);
    leaver.on("error", () => undefined);
    cleanups.push(() => void leaver.destroy());
    const body = bodyOf(300 * K);
    leaver.write(`POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await waitHeld(900 * K);
    leaver.destroy();
    await p.waitForLog((l) => l.msg === "request" && l.status === 499);
    // Its client is gone, but undici still holds the body it was handed: still counted.
    expect(await held()).toBe(String(900 * K));
    answerAll();
    expect((await first).status).toBe(200);
    // Given its connection, the request is aborted before it is sent, and its body let go.
    await waitHeld(0);
    expect(up.requests).toHaveLength(1);
    expect(p.proxy.inflight).toBe(0);
  });

  it("leaves bodies that stream through (no `model` to rewrite or check) out of the budget", async () => {
    const { up, answerAll } = await holdingUpstream();
    const p = await proxyFor({ ...simpleConfig(up.port), limits: { maxBufferedBodyBytes: 1000 * K } });
    const replies = [postJson(p.url, "/mistral", JSON.parse(bodyOf(600 * K))), postJson(p.url, "/mistral", JSON.parse(bodyOf(600 * K)))];
    await up.request(1);
    answerAll();
    expect((await Promise.all(replies)).map((r) => r.status)).toEqual([200, 200]);
  });

  it("defaults to a quarter of the memory limit above 128 MiB, and at least the body size limit", () => {
    const MiB = 1024 * 1024;
    expect([256, 512, 1024, 128, 64].map((limit) => defaultBodyBudget(limit * MiB, 10 * MiB) / MiB)).toEqual([32, 96, 224, 10, 10]);
    expect(memoryLimit()).toBeGreaterThan(0);
    expect(memoryLimit()).toBeLessThanOrEqual(totalmem());
  });
});

describe("the upstream timeouts wait only for the upstream", () => {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  /** POSTs `{"model":"m","messages":[]}` to `/mistral` in 4 parts, 150 ms apart; resolves with the answer. */
  const slowPost = (url: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      const req = httpRequest({ host: u.hostname, port: u.port, method: "POST", path: "/mistral", headers: { "content-type": "application/json" }, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      void (async () => {
        for (const part of ['{"model":', '"m",', '"messages":', "[]}"]) {
          if (req.destroyed) return;
          req.write(part);
          await sleep(150);
        }
        req.end();
      })();
    });

  it("start the headers timeout once the client's request body is read in full", async () => {
    // The body is forwarded as it arrives (no model rewrite), over 4 x 150 ms: longer than headersMs.
    const up = await upstreamWith((_req, res, body) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ got: body.length })));
    const p = await proxyFor(simpleConfig(up.port, { timeouts: { headersMs: 200 } }));
    const reply = await slowPost(p.url);
    expect(reply).toEqual({ status: 200, body: JSON.stringify({ got: '{"model":"m","messages":[]}'.length }) });
  });

  it("start the route's backendRequest timeout when the request is sent upstream; its request timeout when it arrives", async () => {
    // A model override reads the whole body before sending it: 4 x 150 ms of upload, longer than 300 ms.
    const up = await upstreamWith((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    const backend = await proxyFor(simpleConfig(up.port, { model: "forced" }, { timeouts: { backendRequestMs: 300 } }));
    expect(await slowPost(backend.url)).toEqual({ status: 200, body: "{}" });
    expect(up.requests).toHaveLength(1);
    // The whole exchange's timeout counts the upload.
    const whole = await proxyFor(simpleConfig(up.port, { model: "forced" }, { timeouts: { requestMs: 300 } }));
    const timedOut = await slowPost(whole.url);
    expect(timedOut.status).toBe(504);
    expect(JSON.parse(timedOut.body)).toMatchObject({ error: { code: "request_timeout" } });
    expect(up.requests).toHaveLength(1);
    // And a backend that does not answer is still cut at backendRequestMs.
    const silent = await upstreamWith(() => undefined);
    const cut = await proxyFor(simpleConfig(silent.port, { model: "forced" }, { timeouts: { backendRequestMs: 200 } }));
    expectError(await postJson(cut.url, "/mistral", chat), "request_timeout");
  });

  it("hold the body timeout while the client holds the response back, and lose nothing", async () => {
    const size = 32 * 1024 * 1024; // far beyond what the sockets' buffers take, so the proxy must wait
    const up = await upstreamWith((_req, res) => res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(size) }).end(Buffer.alloc(size, 97)));
    const p = await proxyFor(simpleConfig(up.port, { timeouts: { bodyMs: 200 } }));
    const url = new URL(p.url);
    const received = await new Promise<{ status: number; bytes: number; complete: boolean }>((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, method: "POST", path: "/mistral", headers: { "content-type": "application/json" }, agent: false }, (res) => {
        let bytes = 0;
        res.pause();
        setTimeout(() => res.resume(), 800); // four body timeouts' worth without reading
        res.on("data", (c: Buffer) => (bytes += c.length));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes, complete: res.complete }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(JSON.stringify(chat));
    });
    expect(received).toEqual({ status: 200, bytes: size, complete: true });
  });

  it("never fire before their limit", async () => {
    const up = await upstreamWith((_req, res) => {
      setTimeout(() => res.writeHead(200, { "content-type": "text/event-stream" }).write("data: 1\n\n"), 150);
      setTimeout(() => res.end("data: 2\n\n"), 300);
    });
    const p = await proxyFor(simpleConfig(up.port, { timeouts: { headersMs: 600, bodyMs: 600 } }));
    const reply = await postJson(p.url, "/mistral", { ...chat, stream: true });
    expect({ status: reply.status, body: reply.body }).toEqual({ status: 200, body: "data: 1\n\ndata: 2\n\n" });
  });
});

describe("a client that ends its connection in the middle of its body", () => {
  it.each([
    ["streamed upstream, by Content-Length", "/stream", "Content-Length: 1000\r\n\r\n{\"model\":"],
    ["streamed upstream, chunked", "/stream", 'Transfer-Encoding: chunked\r\n\r\n9\r\n{"model":\r\n'],
    ["read whole, by Content-Length", "/parse", "Content-Length: 1000\r\n\r\n{\"model\":"],
  ])("went away (499 client_closed_request), its request not malformed: %s", async (_name, path, rest) => {
    const up = await upstreamWith();
    const p = await proxyFor(streamAndParse(up.port));
    const socket = connect(Number(new URL(p.url).port), "127.0.0.1");
    socket.on("error", () => {});
    cleanups.push(() => void socket.destroy());
    await once(socket, "connect");
    let answer = "";
    socket.on("data", (d: Buffer) => (answer += d.toString("latin1")));
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${rest}`);
    // Ended once the proxy is reading the body, half-closed: a FIN, not a reset.
    for (let i = 0; i < 100 && p.proxy.inflight === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(p.proxy.inflight).toBe(1);
    const closed = once(socket, "close");
    socket.end();
    const line = await p.waitForLog((l) => l.msg === "request");
    expect([line.status, line.error, line.route ?? null]).toEqual([499, "client_closed_request", path.slice(1)]);
    await closed;
    expect(answer).toBe("");
    expect(p.proxy.inflight).toBe(0);
    expect(p.logs().filter((l) => l.msg === "request")).toHaveLength(1);
  });
});

describe("failures after a response started", () => {
  it("ends an SSE stream with one SSE error event", async () => {
    const up = await upstreamWith((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write('data: {"choices":[{"delta":{"content":"a"}}]}\n\n', () => res.socket?.destroy());
    });
    const p = await proxyFor(simpleConfig(up.port));
    const reply = await postJson(p.url, "/mistral", { ...chat, stream: true });
    expect(reply.status).toBe(200);
    const spec = ERROR_CATALOGUE.upstream_connection_lost;
    expect(reply.body).toBe(
      'data: {"choices":[{"delta":{"content":"a"}}]}\n\n' +
        `event: error\ndata: ${JSON.stringify({ error: { message: spec.message, type: spec.type, code: "upstream_connection_lost" } })}\n\n`,
    );
    // Logged with the status it started with, as a warning: the stream failed, whatever its status says.
    expect(await p.waitForLog((l) => l.msg === "request")).toMatchObject({ level: "warn", status: 200, error: "upstream_connection_lost", stream: true });
  });

  it("ends a stalled SSE stream with an upstream_body_timeout error event", async () => {
    const up = await upstreamWith((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: {}\n\n");
    });
    const p = await proxyFor(simpleConfig(up.port, { timeouts: { bodyMs: 150 } }));
    const reply = await postJson(p.url, "/mistral", { ...chat, stream: true });
    expect(reply.body).toMatch(/^data: \{\}\n\nevent: error\ndata: \{"error":\{"message":"[^"]+","type":"server_error","code":"upstream_body_timeout"\}\}\n\n$/);
  });

  describe("the error event starts an event of its own, wherever the upstream stopped", () => {
    const spec = ERROR_CATALOGUE.upstream_connection_lost;
    const event = `event: error\ndata: ${JSON.stringify({ error: { message: spec.message, type: spec.type, code: "upstream_connection_lost" } })}\n\n`;
    /** An upstream that sends `parts` (each its own chunk, a moment apart), then loses the connection. */
    const cutAfter = (parts: string[]): Upstream["handler"] => (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" }).flushHeaders();
      const next = (i: number): void => {
        if (i === parts.length) return void setTimeout(() => res.socket?.destroy(), 50);
        res.write(parts[i]!, () => setTimeout(() => next(i + 1), 20));
      };
      next(0);
    };
    it.each([
      ["inside a line: its start is dropped", ["data: 1\n\n", 'data: {"cho'], "data: 1\n\n" + event],
      ["inside a line split over chunks, after earlier lines of the chunk", ["data: 1\n\ndata: 2\n\ndata: {", '"choi'], "data: 1\n\ndata: 2\n\n" + event],
      ["after a line of an event not ended: a line end ends it", ["data: 1\n\n", "data: 2\n"], "data: 1\n\ndata: 2\n\n" + event],
      ["after a CRLF line of an event not ended", ["data: 1\r\n\r\n", "data: 2\r\n"], "data: 1\r\n\r\ndata: 2\r\n\n" + event],
      ["after a blank CRLF line", ["data: 1\r\n\r\n"], "data: 1\r\n\r\n" + event],
      ["before any byte of the body", [], event],
    ])("%s", async (_name, parts, expected) => {
      const up = await upstreamWith(cutAfter(parts));
      const p = await proxyFor(simpleConfig(up.port));
      const reply = await postJson(p.url, "/mistral", { ...chat, stream: true });
      expect({ status: reply.status, body: reply.body }).toEqual({ status: 200, body: expected });
    });

    it("forwards every byte of a stream whose lines are split across chunks, each line once it is complete", async () => {
      const up = await upstreamWith((_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write("data: {\"a\":");
        up.once("next", () => res.write('1}\n\ndata: {"b"', () => up.emit("sent")));
        up.once("last", () => res.end(":2}\n\ndata: [DONE]"));
      });
      const p = await proxyFor(simpleConfig(up.port));
      const req = httpRequest(`${p.url}/mistral`, { method: "POST", headers: { "content-type": "application/json" } });
      req.end(JSON.stringify({ ...chat, stream: true }));
      // The headers come at once, though the first line is not complete.
      const [res] = (await once(req, "response")) as [IncomingMessage];
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      up.emit("next");
      await once(up, "sent");
      for (let i = 0; i < 100 && text === ""; i++) await new Promise((r) => setTimeout(r, 10));
      expect(text).toBe('data: {"a":1}\n\n');
      up.emit("last");
      await once(res, "end");
      expect(text).toBe('data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]');
    });

    it("holds back a line sent a byte per chunk, and the next one after it, and forwards both whole", async () => {
      const first = `data: {"a":"${"x".repeat(3000)}"}`;
      const second = `data: {"b":"${"y".repeat(2000)}"}`;
      const up = await upstreamWith((_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        // Each write is a chunk of its own: the proxy gets the line a byte at a time.
        for (const byte of first) res.write(byte);
        res.write(`\n\n${second.slice(0, 1000)}`);
        res.end(`${second.slice(1000)}\n\ndata: [DONE]\n\n`);
      });
      const p = await proxyFor(simpleConfig(up.port));
      const reply = await postJson(p.url, "/mistral", { ...chat, stream: true });
      expect({ status: reply.status, body: reply.body }).toEqual({ status: 200, body: `${first}\n\n${second}\n\ndata: [DONE]\n\n` });
    });

    it("resets the connection when it breaks inside a line too long to hold back", async () => {
      const up = await upstreamWith(cutAfter(["data: 1\n\n", `data: "${"x".repeat(MAX_HELD_LINE_BYTES + 10)}`]));
      const p = await proxyFor(simpleConfig(up.port));
      await expect(postJson(p.url, "/mistral", { ...chat, stream: true })).rejects.toThrow();
      expect(await p.waitForLog((l) => l.msg === "request")).toMatchObject({ status: 200, error: "upstream_connection_lost" });
    });
  });

  // A 4xx cut after it started is logged at warn too: the upstream failed, whatever the status it began with.
  it.each([
    [200, '{"partial":'],
    [429, '{"error":'],
  ])("resets the client connection, and logs warn, when a non-stream %i body breaks after its first byte", async (status, start) => {
    const up = await upstreamWith((_req, res) => {
      res.writeHead(status, { "content-type": "application/json", "content-length": "100" });
      res.write(start, () => res.socket?.destroy());
    });
    const p = await proxyFor(simpleConfig(up.port));
    await expect(postJson(p.url, "/mistral", chat)).rejects.toThrow();
    expect(await p.waitForLog((l) => l.msg === "request")).toMatchObject({ level: "warn", status, error: "upstream_connection_lost" });
  });

  it("logs a client that went away mid-stream at info: not a failure of the proxy or the upstream", async () => {
    const up = await upstreamWith((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: {}\n\n");
    });
    const p = await proxyFor(simpleConfig(up.port));
    const req = httpRequest(`${p.url}/mistral`, { method: "POST", headers: { "content-type": "application/json" } });
    req.end(JSON.stringify({ ...chat, stream: true }));
    const [res] = (await once(req, "response")) as [IncomingMessage];
    await once(res, "data");
    req.destroy();
    expect(await p.waitForLog((l) => l.msg === "request")).toMatchObject({ level: "info", status: 499, error: "client_closed_request" });
  });
});

describe("HTTP framing at the edges", () => {
  /** A raw upstream that answers every request with `answer`, then does what `after` says with the socket. */
  async function rawUpstream(answer: string, after: "end" | "destroy" | "keep" = "end"): Promise<NetServer & { port: number }> {
    return tcpServer((s) => {
      s.on("error", () => {});
      s.once("data", () => {
        if (after === "end") s.end(answer);
        // Destroyed once the proxy has passed the bytes on and its client has read them: a reset that
        // arrives before the client reads ends its reading as an end of file (Linux).
        else if (after === "destroy") s.write(answer, () => setTimeout(() => s.destroy(), 50));
        else s.write(answer);
      });
    });
  }

  /** What a client receives on a connection of its own, and how the connection ended. */
  function receive(url: string, request: string): Promise<{ text: string; reset: boolean }> {
    return new Promise((resolve) => {
      const socket = connect(Number(new URL(url).port), "127.0.0.1", () => socket.write(request));
      let text = "";
      let reset = false;
      socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
      socket.on("error", (err: NodeJS.ErrnoException) => (reset = err.code === "ECONNRESET"));
      socket.on("close", () => resolve({ text, reset }));
    });
  }

  const post = (path = "/mistral", version = "1.1"): string => `POST ${path} HTTP/${version}\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`;

  it("resets, rather than append an error event to, an event stream of declared length that breaks", async () => {
    const server = await rawUpstream("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 500\r\n\r\ndata: 1\n\n", "destroy");
    const p = await proxyFor(simpleConfig(server.port));
    const { text, reset } = await receive(p.url, post());
    expect(text).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\ndata: 1\n\n$/);
    expect(text).not.toContain("event: error");
    expect(reset).toBe(true);
    const line = await p.waitForLog((l) => l.msg === "request");
    expect([line.status, line.error]).toEqual([200, "upstream_connection_lost"]);
  });

  it("resets, rather than append an error event to, a compressed event stream that breaks", async () => {
    const server = await rawUpstream("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n4\r\ngzip\r\n", "destroy");
    const p = await proxyFor(simpleConfig(server.port));
    const { text, reset } = await receive(p.url, post());
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text).not.toContain("event: error");
    expect(reset).toBe(true);
  });

  it("resets the connection of an HTTP/1.0 client whose body breaks, so that its end does not read as complete", async () => {
    const server = await rawUpstream('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"partial":', "destroy");
    const p = await proxyFor(simpleConfig(server.port));
    const { text, reset } = await receive(p.url, post("/mistral", "1.0"));
    expect(text).toMatch(/^HTTP\/1\.1 200 [\s\S]*\{"partial":$/);
    expect(reset).toBe(true);
  });

  it("501 unsupported_method for TRACE, which never goes upstream (it would echo the key)", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port));
    const reply = await send(p.url, "/mistral", { method: "TRACE" });
    expectError(reply, "unsupported_method");
    expect(up.requests).toHaveLength(0);
  });

  it("400 malformed_request for a request with two Host headers, before anything goes upstream", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port));
    const { text } = await receive(p.url, `POST /mistral HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toContain('"code":"malformed_request"');
    expect(up.requests).toHaveLength(0);
  });

  it("passes a 304 with a Content-Length on, and a 204's without it: both end at their headers", async () => {
    for (const [answer, status] of [
      ['HTTP/1.1 304 Not Modified\r\netag: "a"\r\ncontent-length: 50\r\n\r\n', 304],
      ["HTTP/1.1 204 No Content\r\ncontent-length: 50\r\n\r\n", 204],
    ] as const) {
      const server = await rawUpstream(answer, "keep");
      const p = await proxyFor(simpleConfig(server.port));
      const reply = await send(p.url, "/mistral", { method: "GET" });
      expect(reply.status).toBe(status);
      expect(reply.body).toBe("");
      expect(reply.headers["content-length"]).toBe(status === 304 ? "50" : undefined);
      const line = await p.waitForLog((l) => l.msg === "request");
      expect([line.status, line.error]).toEqual([status, undefined]);
    }
  });

  it.each([
    ["an unasked 100 Continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"],
    ["a 101 without an upgrade", "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"],
  ])("502 upstream_protocol_error for %s, which undici does not take", async (_name, answer) => {
    const server = await rawUpstream(answer, "keep");
    const p = await proxyFor(simpleConfig(server.port));
    expectError(await postJson(p.url, "/mistral", chat), "upstream_protocol_error");
  });

  it.each([
    ["an answer before the whole body was sent: the rest is discarded, the next request served", "401", false],
    ["a failure during the upload: the same", "reset", false],
    ["an answer before a whole chunked body was sent: the connection closes", "401", true],
  ] as const)("never leaves a connection waiting for the rest of a request body the upstream left unread: %s", async (_what, upstreamDoes, chunked) => {
    const server = await tcpServer((s) => {
      s.on("error", () => {});
      s.once("data", () => {
        if (upstreamDoes === "401") s.write("HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}");
        else s.resetAndDestroy();
      });
    });
    const p = await proxyFor(simpleConfig(server.port));
    const socket = connect(Number(new URL(p.url).port), "127.0.0.1");
    cleanups.push(() => void socket.destroy());
    let text = "";
    const received = (pattern: RegExp): Promise<boolean> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), 2000);
        const check = (): void => {
          if (!pattern.test(text)) return;
          clearTimeout(timer);
          socket.off("data", check);
          resolve(true);
        };
        socket.on("data", check);
        check();
      });
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    const closed = new Promise<void>((resolve) => socket.once("close", resolve));
    // A 1 MiB body: its first 32 kB, then the rest once the answer to it came.
    const size = 1024 * 1024;
    const piece = Buffer.alloc(32 * 1024, 97);
    const encode = (b: Buffer): Buffer => (chunked ? Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from("\r\n")]) : b);
    socket.write(`POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${size}`}\r\n\r\n`);
    socket.write(encode(piece));
    const status = upstreamDoes === "401" ? 401 : 502;
    expect(await received(new RegExp(`^HTTP/1\\.1 ${status} [\\s\\S]*\\r\\n\\r\\n[\\s\\S]*\\}$`))).toBe(true);
    const line = await p.waitForLog((l) => l.msg === "request");
    expect([line.status, line.error]).toEqual(upstreamDoes === "401" ? [401, undefined] : [502, "upstream_connection_lost"]);
    if (chunked) {
      // Its rest, of unknown length, is not read: the answer said so, and the connection closes.
      expect(text).toMatch(/\r\nconnection: close\r\n/i);
      await closed;
      return;
    }
    // The rest is read and discarded, and the next request on the connection is answered.
    expect(text).toMatch(/\r\nconnection: keep-alive\r\n/i);
    for (let sent = piece.length; sent < size; sent += piece.length) socket.write(piece);
    socket.write("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(await received(/HTTP\/1\.1 404 [\s\S]*"code":"route_not_found"/)).toBe(true);
    expect(p.proxy.inflight).toBe(0);
  });

  it("forwards the body of a request with more header lines than Node.js keeps by default (2,000)", async () => {
    const up = await upstreamWith();
    up.server.maxHeadersCount = 0; // the upstream takes them all too
    const p = await proxyFor(simpleConfig(up.port));
    const many = "x:1\r\n".repeat(2100); // 10.5 kB, within the 16 KiB header limit
    const { text } = await receive(p.url, `POST /mistral HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${many}Content-Type: application/json\r\nContent-Length: ${JSON.stringify(chat).length}\r\n\r\n${JSON.stringify(chat)}`);
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(up.requests).toHaveLength(1);
    expect(up.requests[0]!.body.toString()).toBe(JSON.stringify(chat));
  });
});

describe("the catalogue", () => {
  it("maps transport errors by err.code in one place", () => {
    const cases: [string, ErrorCode][] = [
      ["ECONNREFUSED", "upstream_connect_failed"],
      ["ENOTFOUND", "upstream_connect_failed"],
      ["ECONNRESET", "upstream_connection_lost"],
      ["UND_ERR_SOCKET", "upstream_connection_lost"],
      ["UND_ERR_CONNECT_TIMEOUT", "upstream_connect_timeout"],
      ["UND_ERR_HEADERS_TIMEOUT", "upstream_headers_timeout"],
      ["UND_ERR_BODY_TIMEOUT", "upstream_body_timeout"],
      ["ERR_TLS_CERT_ALTNAME_INVALID", "upstream_tls_failed"],
      ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "upstream_tls_failed"],
      ["SELF_SIGNED_CERT_IN_CHAIN", "upstream_tls_failed"],
      ["CERT_HAS_EXPIRED", "upstream_tls_failed"],
      ["HPE_INVALID_CONSTANT", "upstream_protocol_error"],
      ["UND_ERR_RES_CONTENT_LENGTH_MISMATCH", "upstream_protocol_error"],
      ["request_timeout", "request_timeout"],
      ["SOMETHING_ELSE", "internal_error"],
    ];
    for (const [code, expected] of cases) expect(codeForError(Object.assign(new Error("x"), { code }))).toBe(expected);
    expect(codeForError(new Error("no code"))).toBe("internal_error");
    expect(codeForError(null)).toBe("internal_error");
  });

  it("is documented, code for code, in docs/errors.md", () => {
    const doc = readFileSync(join(__dirname, "..", "docs", "errors.md"), "utf8");
    const rows = [...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| `([a-z_]+)` \| (.+?) \| (.+?) \|$/gm)].map((m) => ({
      code: m[1],
      status: Number(m[2]),
      type: m[3],
      message: m[4],
      when: m[5],
    }));
    const expected = Object.entries(ERROR_CATALOGUE).map(([code, spec]) => ({ code, status: spec.status, type: spec.type, message: spec.message, when: spec.when }));
    expect(rows).toEqual(expected);
  });

  it("is summed up, status by status, in the package README's Errors section", () => {
    const readme = readFileSync(join(__dirname, "..", "README.md"), "utf8");
    const start = readme.indexOf("\n## Errors\n");
    expect(start).toBeGreaterThan(0);
    const summary = readme.slice(start, readme.indexOf("After an SSE stream started", start)).replace(/\s+/g, " ");
    // `400 `a`, `b`; 401 `c`; ...`: each status with the codes that follow it.
    const listed = [...summary.matchAll(/(\d{3}) ((?:`[a-z_]+`(?:, )?)+)/g)].flatMap(([, status, codes]) =>
      [...codes!.matchAll(/`([a-z_]+)`/g)].map(([, code]) => `${code} ${status}`),
    );
    // 499 is never sent: the client is gone.
    const answered = Object.entries(ERROR_CATALOGUE).filter(([code]) => code !== "client_closed_request");
    expect(listed.sort()).toEqual(answered.map(([code, spec]) => `${code} ${spec.status}`).sort());
  });
});
