/**
 * The admin port: health, readiness (ready once a config is loaded, not while draining), and
 * Prometheus metrics named after the OpenTelemetry conventions, with token usage from JSON responses
 * and from the final SSE chunk.
 */
import { once } from "node:events";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { connect, createServer, type AddressInfo } from "node:net";
import { postJson, send } from "./helpers/http";
import { providerEnv, simpleConfig, startProxy, type TestProxy } from "./helpers/proxy";
import { ProxyServer } from "../src/server/proxy-server";
import { ProxyMetrics } from "../src/server/metrics";
import { REQUEST_LINES_MAX, REQUEST_LINES_MS, createLogger, flushLogger, jsonString, logRequest, millis, type Logger, type RequestRecord } from "../src/server/logger";
import { startUpstream, type Upstream } from "./helpers/upstream";

let upstream: Upstream;
let proxy: TestProxy;

beforeEach(async () => {
  upstream = await startUpstream();
  proxy = await startProxy(simpleConfig(upstream.port, { model: "mistral-medium-2505", provider: "mistral_ai" }), { env: providerEnv });
});

afterEach(async () => {
  await proxy.close();
  await upstream.close();
});

/** The value of one sample, by metric name and a subset of its labels. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

describe("admin endpoints", () => {
  it("answers /healthz and /readyz, and 404 elsewhere", async () => {
    expect(await send(proxy.adminUrl, "/healthz")).toMatchObject({ status: 200, body: "ok\n" });
    expect(await send(proxy.adminUrl, "/readyz")).toMatchObject({ status: 200, body: "ready\n" });
    expect((await send(proxy.adminUrl, "/nope")).status).toBe(404);
  });

  it("reports not ready while draining", async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: {}\n\n");
      upstream.once("release", () => res.end("data: [DONE]\n\n"));
    };
    const url = new URL(proxy.url);
    const req = httpRequest({ host: url.hostname, port: url.port, method: "POST", path: "/mistral", headers: { "content-type": "application/json" } });
    req.end("{}");
    const [res] = (await once(req, "response")) as [IncomingMessage];
    const closing = proxy.proxy.shutdown(10_000);
    expect(await send(proxy.adminUrl, "/readyz")).toMatchObject({ status: 503, body: "draining\n" });
    upstream.release();
    res.resume();
    await once(res, "end");
    await closing;
  });

  it("closes the data port it opened when the admin port cannot be listened on, so a failed start leaves nothing open", async () => {
    // A port free a moment ago, for the data path; the admin port is the running test proxy's, in use.
    const probe = createServer().listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const started = ProxyServer.start({
      source: { config: simpleConfig(upstream.port) },
      env: providerEnv,
      listen: { host: "127.0.0.1", port },
      adminListen: { host: "127.0.0.1", port: Number(new URL(proxy.adminUrl).port) },
      logger: createLogger({ level: "silent" }),
      metrics: new ProxyMetrics({ processMetrics: false }),
    });
    await expect(started).rejects.toMatchObject({ code: "EADDRINUSE" });
    const connected = await new Promise<string>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve("accepted");
      });
      socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    });
    expect(connected).toBe("ECONNREFUSED");
  });

  it("counts the requests in flight", async () => {
    let answer: () => void = () => {};
    upstream.handler = (_req, res) => (answer = () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    const held = postJson(proxy.url, "/mistral", { model: "m", messages: [] });
    await upstream.request(0);
    const inflight = async (): Promise<string | undefined> => /^openai_proxy_inflight_requests (\d+)$/m.exec((await send(proxy.adminUrl, "/metrics")).body)?.[1];
    expect(await inflight()).toBe("1");
    answer();
    expect((await held).status).toBe(200);
    expect(await inflight()).toBe("0");
  });

  it("exposes request counters, latency, time to first byte, upstream errors and GenAI metrics", async () => {
    await postJson(proxy.url, "/mistral", { model: "m", messages: [] });
    await postJson(proxy.url, "/mistral", { model: "m", messages: [], stream: true, stream_options: { include_usage: true }, x_chunks: 5 });
    await postJson(proxy.url, "/nowhere", {});
    await postJson(proxy.url, "/mistral", { model: "m", x_status: 429 });
    upstream.handler = (req) => req.socket.destroy();
    await postJson(proxy.url, "/mistral", { model: "m" });

    const reply = await send(proxy.adminUrl, "/metrics");
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toMatch(/^text\/plain/);
    const m = reply.body;
    const route = { http_route: "ns/route/0" };
    expect(sample(m, "http_server_requests_total", { ...route, http_response_status_code: "200" })).toBe(2);
    expect(sample(m, "http_server_requests_total", { ...route, http_response_status_code: "429" })).toBe(1);
    expect(sample(m, "http_server_requests_total", { ...route, http_response_status_code: "502" })).toBe(1);
    expect(sample(m, "http_server_requests_total", { http_route: "", http_response_status_code: "404" })).toBe(1);
    expect(sample(m, "http_server_request_duration_seconds_count", { ...route, http_response_status_code: "200" })).toBe(2);
    expect(sample(m, "http_server_request_duration_seconds_bucket", { ...route, http_response_status_code: "200", le: "+Inf" })).toBe(2);
    expect(sample(m, "http_server_request_duration_seconds_bucket", { ...route, http_response_status_code: "200", le: "300" })).toBe(2);
    expect(sample(m, "openai_proxy_upstream_time_to_first_byte_seconds_count", { backend: "ns/up" })).toBe(3);
    expect(sample(m, "openai_proxy_upstream_errors_total", { backend: "ns/up", error_code: "upstream_connection_lost" })).toBe(1);

    const genAi = { gen_ai_operation_name: "chat", gen_ai_provider_name: "mistral_ai", gen_ai_request_model: "mistral-medium-2505", server_address: "127.0.0.1" };
    // JSON usage 20/17, plus the stream's final chunk 11/5.
    expect(sample(m, "gen_ai_client_token_usage_sum", { ...genAi, gen_ai_token_type: "input" })).toBe(31);
    expect(sample(m, "gen_ai_client_token_usage_sum", { ...genAi, gen_ai_token_type: "output" })).toBe(22);
    expect(sample(m, "gen_ai_client_token_usage_count", { ...genAi, gen_ai_token_type: "input" })).toBe(2);
    expect(sample(m, "gen_ai_client_operation_duration_seconds_count", { ...genAi, error_type: "" })).toBe(2);
    expect(sample(m, "gen_ai_client_operation_duration_seconds_count", { ...genAi, error_type: "429" })).toBe(1);
    expect(sample(m, "gen_ai_client_operation_duration_seconds_count", { ...genAi, error_type: "upstream_connection_lost" })).toBe(1);
    expect(sample(m, "openai_proxy_config_generation")).toBe(1);
    expect(m).toContain("# TYPE gen_ai_client_token_usage histogram");
  });

  it("counts no token usage that is not a whole number of tokens: the sums stay finite", async () => {
    // An upstream's `1e308` was counted: two of them made the histogram's sum +Inf for the life of the process.
    upstream.handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"id":"x","usage":{"prompt_tokens":1e308,"completion_tokens":1e309}}');
    };
    for (let i = 0; i < 2; i++) expect((await postJson(proxy.url, "/mistral", { model: "m" })).status).toBe(200);
    upstream.handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"id":"x","usage":{"prompt_tokens":1.5,"completion_tokens":7}}');
    };
    expect((await postJson(proxy.url, "/mistral", { model: "m" })).status).toBe(200);
    const requestLines = (): ReturnType<TestProxy["logs"]> => proxy.logs().filter((l) => l.msg === "request");
    while (requestLines().length < 3) await proxy.waitForNext((l) => l.msg === "request");
    const lines = requestLines();
    expect(lines.map((l) => [l.status, l.inputTokens, l.outputTokens])).toEqual([
      [200, undefined, undefined],
      [200, undefined, undefined],
      [200, 0, 7],
    ]);
    const m = (await send(proxy.adminUrl, "/metrics")).body;
    const genAi = { gen_ai_operation_name: "chat", gen_ai_provider_name: "mistral_ai", gen_ai_request_model: "mistral-medium-2505" };
    expect(sample(m, "gen_ai_client_token_usage_sum", { ...genAi, gen_ai_token_type: "input" })).toBe(0);
    expect(sample(m, "gen_ai_client_token_usage_sum", { ...genAi, gen_ai_token_type: "output" })).toBe(7);
    expect(sample(m, "gen_ai_client_token_usage_count", { ...genAi, gen_ai_token_type: "output" })).toBe(1);
  });

  it("writes one JSON log line per request with a request id, and no key", async () => {
    await postJson(proxy.url, "/mistral", { model: "m", messages: [] }, { authorization: "Bearer client-secret-key" });
    await proxy.waitForLog((l) => l.msg === "request");
    const lines = proxy.logs().filter((l) => l.msg === "request");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "info", method: "POST", path: "/mistral", route: "ns/route/0", backend: "ns/up", status: 200, inputTokens: 20, outputTokens: 17, upstreamRequestId: "up-json-1" });
    expect(lines[0]!.reqId).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    const all = proxy.rawLogs.join("\n");
    expect(all).not.toContain(providerEnv.TEST_PROVIDER_KEY);
    expect(all).not.toContain("client-secret-key");
    expect(all).not.toContain("messages");
  });

  it("keeps the first 128 characters of an upstream's x-request-id, and passes the header on whole", async () => {
    const id = `req_${"a".repeat(124)}${"b".repeat(16_000)}`;
    upstream.handler = (_req, res) => res.writeHead(200, { "content-type": "application/json", "x-request-id": id }).end("{}");
    const reply = await postJson(proxy.url, "/mistral", { model: "m", messages: [] });
    expect(reply.headers["x-request-id"]).toBe(id);
    expect(await proxy.waitForLog((l) => l.msg === "request")).toMatchObject({ status: 200, upstreamRequestId: id.slice(0, 128) });
  });
});

describe("the request log line", () => {
  /** Every line a pino logger writes, through the same options as the proxy's. */
  function capture(level = "info"): { logger: Logger; lines: string[] } {
    const lines: string[] = [];
    return { logger: createLogger({ level, destination: { write: (s: string) => void lines.push(s) } }), lines };
  }

  const base: RequestRecord = {
    reqId: "0123456789ab-1",
    method: "POST",
    path: "/mistral",
    route: "ns/route/0",
    backend: "ns/up",
    status: 200,
    durMs: 1.234,
    ttfbMs: 0.5,
    stream: false,
    bytesOut: 360,
    error: null,
    inputTokens: 20,
    outputTokens: 17,
    upstreamRequestId: "up-1",
  };
  const records: [string, RequestRecord, boolean][] = [
    ["a complete exchange", base, false],
    ["a stream the client left", { ...base, status: 499, stream: true, error: "client_closed_request", inputTokens: undefined, outputTokens: undefined }, false],
    ["an unmatched request", { ...base, route: undefined, backend: undefined, status: 404, ttfbMs: undefined, bytesOut: 0, error: "route_not_found", inputTokens: undefined, outputTokens: undefined, upstreamRequestId: undefined }, false],
    ["a proxy failure, at warn", { ...base, status: 502, error: "upstream_connection_failed", bytesOut: 0 }, true],
    ["hostile strings from the client and the upstream", { ...base, path: '/mistral/"quoted"\\back\u0001\u2028é😀', upstreamRequestId: '"},"level":"fatal' }, false],
  ];

  it.each(records)("is the line pino writes for the same object: %s", (_name, record, warn) => {
    const ours = capture();
    logRequest(ours.logger, record, warn);
    flushLogger(ours.logger);
    const generic = capture();
    // The object pino would be given: the same keys in the same order, absent ones left out.
    const obj: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record)) {
      if (v === undefined || v === null || (k === "stream" && v === false) || (k === "bytesOut" && v === 0)) continue;
      obj[k] = v;
    }
    if (warn) generic.logger.warn(obj, "request");
    else generic.logger.info(obj, "request");
    expect(ours.lines).toHaveLength(1);
    const strip = (line: string): string => line.replace(/"time":\d+/, '"time":0');
    expect(strip(ours.lines[0]!)).toBe(strip(generic.lines[0]!));
    expect(JSON.parse(ours.lines[0]!)).toMatchObject({ ...obj, msg: "request", level: warn ? "warn" : "info" });
  });

  it("writes strings as JSON.stringify does, for every character of the first planes and lone surrogates", () => {
    const strings = ["", "/mistral", "ns/route/0", 'a"b', "a\\b", "\u007f", "\ud800", "\udc00x", "😀"];
    for (let c = 0; c < 0x3000; c++) strings.push(String.fromCharCode(c), `x${String.fromCharCode(c)}y`);
    expect(strings.filter((s) => jsonString(s) !== JSON.stringify(s))).toEqual([]);
  });

  it("writes durations as String does, for durations up to ten seconds in steps of 37 µs, and beyond", () => {
    // Durations are rounded to the microsecond where they are recorded, as in exchange.ts.
    const seconds = [0, 1e-6, 0.0005, 0.00123, 0.01, 0.1, 1, 59.999999, 3600.0000015, 86_400 * 365, 1e12];
    for (let us = 0; us < 10_000_000; us += 37) seconds.push(us / 1e6);
    const differ = seconds.map((s) => Math.round(s * 1e6) / 1e3).filter((ms) => millis(ms) !== String(ms));
    expect(differ).toEqual([]);
    for (const odd of [-1, 0.0001, 1.2345, Number.NaN, Number.POSITIVE_INFINITY, 1e21]) expect(millis(odd)).toBe(String(odd));
  });

  it("follows the logger's level", () => {
    const quiet = capture("warn");
    logRequest(quiet.logger, base, false);
    flushLogger(quiet.logger);
    expect(quiet.lines).toEqual([]);
    logRequest(quiet.logger, { ...base, status: 502, error: "upstream_connection_failed" }, true);
    flushLogger(quiet.logger);
    expect(quiet.lines).toHaveLength(1);
    const silent = capture("silent");
    logRequest(silent.logger, { ...base, status: 502, error: "upstream_connection_failed" }, true);
    flushLogger(silent.logger);
    expect(silent.lines).toEqual([]);
  });

  it(`hands request lines to the destination in one write, in order, within ${REQUEST_LINES_MS} ms`, async () => {
    const { logger, lines } = capture();
    for (let i = 0; i < 3; i++) logRequest(logger, { ...base, reqId: `r-${i}` }, false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toEqual([]);
    // A timer set after the logger's fires after it.
    await new Promise((resolve) => setTimeout(resolve, REQUEST_LINES_MS + 5));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { reqId: string }).reqId)).toEqual(["r-0", "r-1", "r-2"]);
    // A long burst is not held back: every REQUEST_LINES_MAX lines go out at once.
    for (let i = 0; i < REQUEST_LINES_MAX; i++) logRequest(logger, base, false);
    expect(lines).toHaveLength(2);
    expect(lines[1]!.split("\n").filter(Boolean)).toHaveLength(REQUEST_LINES_MAX);
  });

  it("completes a record once: with its batch when the line is written, at once when the level drops it", () => {
    const calls: string[] = [];
    const record = (reqId: string): RequestRecord => ({
      ...base,
      reqId,
      inputTokens: undefined,
      outputTokens: undefined,
      complete: (r) => {
        calls.push(r.reqId);
        r.inputTokens = 7;
        r.outputTokens = 9;
      },
    });
    const info = capture();
    logRequest(info.logger, record("kept"), false);
    expect(calls).toEqual([]);
    flushLogger(info.logger);
    flushLogger(info.logger);
    expect(calls).toEqual(["kept"]);
    expect(JSON.parse(info.lines[0]!)).toMatchObject({ reqId: "kept", inputTokens: 7, outputTokens: 9 });
    const quiet = capture("warn");
    logRequest(quiet.logger, record("dropped"), false);
    expect(calls).toEqual(["kept", "dropped"]);
    expect(quiet.lines).toEqual([]);
  });

  it("writes pending request lines before any other line, so the output keeps its order", () => {
    const { logger, lines } = capture();
    logRequest(logger, { ...base, reqId: "before" }, false);
    logger.child({ component: "x" }).warn("config warning");
    logRequest(logger, { ...base, reqId: "after" }, false);
    flushLogger(logger);
    const order = lines.join("").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { reqId?: string; msg: string });
    expect(order.map((l) => l.reqId ?? l.msg)).toEqual(["before", "config warning", "after"]);
  });
});
