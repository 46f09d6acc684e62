/**
 * The official `openai` npm client against the real proxy and real local upstreams: the error class,
 * code and retries it sees for each of the proxy's own errors, streams (usage, aborts, a stream the
 * proxy ends with its `event: error`), the headers it sends and reads, and the base URLs the component's
 * `url` output gives it.
 */
import { once } from "node:events";
import { connect } from "node:net";
import OpenAI, { APIError, AuthenticationError, BadRequestError, InternalServerError, NotFoundError } from "openai";
import { ERROR_CATALOGUE, type ErrorCode } from "../src/server/errors";
import { API_VERSION, PROVIDER_KEY, providerEnv, simpleConfig, type TestProxy } from "./helpers/proxy";
import { cleanups, proxyFor, upstreamWith } from "./helpers/owned";
import { openAiHandler } from "./helpers/upstream";


function client(baseURL: string, options: { apiKey?: string; maxRetries?: number } = {}): OpenAI {
  return new OpenAI({ apiKey: options.apiKey ?? "client-side-key", baseURL, maxRetries: options.maxRetries ?? 0 });
}

const chat = { model: "m", messages: [{ role: "user" as const, content: "Write a haiku." }] };

/** The error a promise rejects with (failing the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<APIError> {
  try {
    await promise;
  } catch (err) {
    return err as APIError;
  }
  throw new Error("expected a rejection");
}

/** What the client reads from one of the proxy's own errors. */
function expectProxyError(err: APIError, code: ErrorCode, inStream = false): void {
  const spec = ERROR_CATALOGUE[code];
  // An error event in a stream has no status of its own.
  const status = inStream ? undefined : spec.status;
  expect(err).toBeInstanceOf(APIError);
  expect({ status: err.status, code: err.code, type: err.type, message: err.message }).toEqual({
    status,
    code,
    type: spec.type,
    message: status === undefined ? spec.message : `${status} ${spec.message}`,
  });
}

/** The proxy's request lines so far, as [status, error]. */
const requestLines = (p: TestProxy): [unknown, unknown][] => p.logs().filter((l) => l.msg === "request").map((l) => [l.status, l.error ?? null]);

describe("the proxy's own errors, as the openai client raises them", () => {
  it("404 route_not_found: NotFoundError with the code, type and message, not retried", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port));
    const err = await rejection(client(`${p.url}/nowhere`, { maxRetries: 2 }).chat.completions.create(chat));
    expect(err).toBeInstanceOf(NotFoundError);
    expectProxyError(err, "route_not_found");
    const line = await p.waitForLog((l) => l.msg === "request");
    expect(requestLines(p)).toEqual([[404, "route_not_found"]]);
    // The error's request id finds the proxy's log line.
    expect(err.requestID).toBe(line.reqId);
  });

  it("401 invalid_api_key: AuthenticationError, not retried; the client's apiKey is its proxy key, never forwarded", async () => {
    const up = await upstreamWith();
    const p = await proxyFor({ ...simpleConfig(up.port), clientAuth: { apiKeys: [{ env: "CLIENT_KEYS" }] } }, { env: { ...providerEnv, CLIENT_KEYS: "client-a" } });
    const err = await rejection(client(`${p.url}/mistral`, { apiKey: "client-b", maxRetries: 2 }).chat.completions.create(chat));
    expect(err).toBeInstanceOf(AuthenticationError);
    expectProxyError(err, "invalid_api_key");
    const ok = await client(`${p.url}/mistral`, { apiKey: "client-a" }).chat.completions.create(chat);
    expect(ok.choices[0]?.message.content).toBe("Neural networks learn.");
    expect(up.requests).toHaveLength(1);
    expect(up.requests[0]!.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    await p.waitForLog((l) => l.msg === "request" && l.status === 200);
    expect(requestLines(p)).toEqual([
      [401, "invalid_api_key"],
      [200, null],
    ]);
  });

  it("400 model_required: BadRequestError, not retried", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port, { requireModel: true }));
    const err = await rejection(client(`${p.url}/mistral`, { maxRetries: 2 }).chat.completions.create({ ...chat, model: "" }));
    expect(err).toBeInstanceOf(BadRequestError);
    expectProxyError(err, "model_required");
    await p.waitForLog((l) => l.msg === "request");
    expect(requestLines(p)).toEqual([[400, "model_required"]]);
    expect(up.requests).toHaveLength(0);
  });

  it("413 request_too_large: an APIError with status 413, not retried", async () => {
    const up = await upstreamWith();
    const p = await proxyFor({ ...simpleConfig(up.port), limits: { maxRequestBodyBytes: 1000 } });
    const err = await rejection(client(`${p.url}/mistral`, { maxRetries: 2 }).chat.completions.create({ ...chat, messages: [{ role: "user", content: "x".repeat(5000) }] }));
    expectProxyError(err, "request_too_large");
    await p.waitForLog((l) => l.msg === "request");
    expect(requestLines(p)).toEqual([[413, "request_too_large"]]);
  });

  it("502 upstream_connect_failed: InternalServerError, retried as the client retries 5xx", async () => {
    const up = await upstreamWith();
    const port = up.port;
    await up.close();
    const p = await proxyFor(simpleConfig(port));
    const err = await rejection(client(`${p.url}/mistral`, { maxRetries: 1 }).chat.completions.create(chat));
    expect(err).toBeInstanceOf(InternalServerError);
    expectProxyError(err, "upstream_connect_failed");
    await p.waitForLog((l) => l.msg === "request" && requestLines(p).length === 2);
    // The error's request id is the last attempt's.
    expect(err.requestID).toBe(p.logs().filter((l) => l.msg === "request")[1]!.reqId);
    expect(requestLines(p)).toEqual([
      [502, "upstream_connect_failed"],
      [502, "upstream_connect_failed"],
    ]);
  });

  it("503 bodies_over_memory_budget: retried, and served once the budget has room", async () => {
    const K = 1024;
    const up = await upstreamWith();
    const p = await proxyFor({ ...simpleConfig(up.port, { model: "m-override" }), limits: { maxBufferedBodyBytes: 1000 * K } });
    // A client that declares 900 KiB and stalls holds the budget.
    const url = new URL(p.url);
    const staller = connect(Number(url.port), url.hostname);
    staller.on("error", () => undefined);
    await once(staller, "connect");
    cleanups.push(() => void staller.destroy());
    staller.write(`POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${900 * K}\r\n\r\n{"model":`);
    for (let i = 0; i < 100 && !(await held(p)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await held(p)).toBe(true);
    // The first refusal frees the budget: the client's retry is served.
    void p.waitForLog((l) => l.error === "bodies_over_memory_budget").then(() => staller.destroy());
    const completion = await client(`${p.url}/mistral`, { maxRetries: 2 }).chat.completions.create({ ...chat, messages: [{ role: "user", content: "x".repeat(200 * K) }] });
    expect(completion.model).toBe("m-override");
    await p.waitForLog((l) => l.msg === "request" && l.status === 200);
    // (The staller, gone in the middle of its body, is logged too, as 499.)
    expect(requestLines(p).filter(([s]) => s !== 499)).toEqual([
      [503, "bodies_over_memory_budget"],
      [200, null],
    ]);
  });
});

async function held(p: TestProxy): Promise<boolean> {
  const text = await p.proxy.metrics.registry.metrics();
  return /^openai_proxy_buffered_body_bytes\{state="held"\} [1-9]/m.test(text);
}

describe("streams with the openai client", () => {
  it("stream.controller.abort() mid-stream aborts the upstream request", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port));
    const aborted = once(up, "clientAborted");
    const gated = up.gate();
    const stream = await client(`${p.url}/mistral`).chat.completions.create({ ...chat, stream: true, ...({ x_gate: true } as object) });
    await gated;
    const seen: string[] = [];
    for await (const chunk of stream) {
      seen.push(chunk.choices[0]?.delta.content ?? "");
      stream.controller.abort();
    }
    expect(seen).toEqual(["tok0 "]);
    await aborted;
    expect((await p.waitForLog((l) => l.msg === "request")).status).toBe(499);
  });

  it("an AbortSignal fired before the response aborts the upstream request: APIUserAbortError", async () => {
    const up = await upstreamWith(() => undefined); // never answers
    const p = await proxyFor(simpleConfig(up.port));
    const aborted = once(up, "clientAborted");
    const controller = new AbortController();
    const pending = client(`${p.url}/mistral`, { maxRetries: 2 }).chat.completions.create(chat, { signal: controller.signal });
    await up.request(0);
    controller.abort();
    const err = await rejection(pending);
    expect(err).toBeInstanceOf(OpenAI.APIUserAbortError);
    await aborted;
    expect((await p.waitForLog((l) => l.msg === "request")).status).toBe(499);
    expect(up.requests).toHaveLength(1);
  });

  it("a stream the proxy ends with its error event: an APIError with the code, after the chunks before it", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port, { timeouts: { bodyMs: 150 } }));
    const stream = await client(`${p.url}/mistral`, { maxRetries: 2 }).chat.completions.create({ ...chat, stream: true, ...({ x_gate: true } as object) });
    const seen: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? "");
      })(),
    );
    expect(seen).toEqual(["tok0 "]);
    expectProxyError(err, "upstream_body_timeout", true);
    up.release();
  });

  it("a stream cut in the middle of an event: the client still gets the proxy's error event, not a JSON parse error", async () => {
    const up = await upstreamWith((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const first = `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content: "tok0 " }, finish_reason: null }] })}\n\n`;
      // The second event is cut after a few bytes, then the connection is lost.
      res.write(first + 'data: {"id":"c","object":"chat.comp');
      up.once("cut", () => res.socket?.destroy());
    });
    const p = await proxyFor(simpleConfig(up.port));
    const stream = await client(`${p.url}/mistral`).chat.completions.create({ ...chat, stream: true });
    const seen: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const chunk of stream) {
          seen.push(chunk.choices[0]?.delta.content ?? "");
          up.emit("cut");
        }
      })(),
    );
    expect(seen).toEqual(["tok0 "]);
    expectProxyError(err, "upstream_connection_lost", true);
  });

  it("include_usage and withResponse(): chunks, the final usage and the upstream's x-request-id", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port, { model: "mistral-medium-2505" }));
    const { data: stream, response, request_id } = await client(`${p.url}/mistral`)
      .chat.completions.create({ ...chat, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    expect(response.headers.get("x-request-id")).toBe("up-stream-1");
    expect(request_id).toBe("up-stream-1");
    let text = "";
    let usage: unknown;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("tok0 tok1 tok2 ");
    expect(usage).toEqual({ prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 });
    const { data, request_id: jsonId } = await client(`${p.url}/mistral`).chat.completions.create(chat).withResponse();
    expect([data.model, jsonId]).toEqual(["mistral-medium-2505", "up-json-1"]);
  });
});

describe("what the openai client sends", () => {
  it("passes x-stainless-* and idempotency-key headers and the body through; the client's key never goes upstream", async () => {
    const up = await upstreamWith();
    const p = await proxyFor(simpleConfig(up.port, { model: "mistral-medium-2505" }));
    const content = "é".repeat(600 * 1024); // 1.2 MB of UTF-8, model rewritten in place
    const completion = await client(`${p.url}/mistral`).chat.completions.create({ ...chat, messages: [{ role: "user", content }] }, { idempotencyKey: "idem-1", headers: { "Idempotency-Key": "idem-1" } });
    expect(completion.model).toBe("mistral-medium-2505");
    const seen = up.requests[0]!;
    expect(seen.headers["idempotency-key"]).toBe("idem-1");
    expect(seen.headers["x-stainless-lang"]).toBe("js");
    expect(seen.headers["x-stainless-retry-count"]).toBe("0");
    expect(seen.headers["x-stainless-package-version"]).toMatch(/^\d/);
    expect(seen.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(JSON.stringify(seen.headers)).not.toContain("client-side-key");
    expect(JSON.parse(seen.body.toString("utf8"))).toEqual({ model: "mistral-medium-2505", messages: [{ role: "user", content }] });
  });

  it("reaches the route with the component's url as baseURL, with or without a trailing slash, for a nested or a `/` prefix", async () => {
    const up = await upstreamWith();
    const p = await proxyFor({
      apiVersion: API_VERSION,
      kind: "ProxyConfig",
      backends: [{ name: "ns/up", host: "127.0.0.1", port: up.port, path: "/v1/chat/completions", auth: { type: "None" }, model: "nested" } as never],
      routes: [
        { name: "ns/nested", matches: [{ path: { type: "PathPrefix", value: "/llm/mistral" } }], backendRefs: [{ name: "ns/up" }] },
        { name: "ns/slash", matches: [{ path: { type: "PathPrefix", value: "/llm/slash/" } }], backendRefs: [{ name: "ns/up" }] },
      ] as never,
    });
    for (const base of ["/llm/mistral", "/llm/mistral/", "/llm/slash", "/llm/slash/"]) {
      const completion = await client(`${p.url}${base}`).chat.completions.create(chat);
      expect(completion.model).toBe("nested");
    }
    expect(up.requests.map((r) => r.url)).toEqual(Array(4).fill("/v1/chat/completions"));
    const root = await proxyFor(simpleConfig(up.port, {}, { matches: [{ path: { type: "PathPrefix", value: "/" } }] }));
    for (const base of ["", "/"]) expect((await client(`${root.url}${base}`).chat.completions.create(chat)).choices).toHaveLength(1);
  });

  it("an embeddings request to a chat route goes to the Backend's chat-completions path (path.full), model overridden", async () => {
    const up = await upstreamWith((req, res, body, u) => {
      if ((JSON.parse(body.toString()) as { input?: unknown }).input !== undefined) {
        res.writeHead(422, { "content-type": "application/json" }).end('{"error":{"message":"messages: Field required","type":"invalid_request_error","code":null}}');
      } else openAiHandler(req, res, body, u);
    });
    const p = await proxyFor(simpleConfig(up.port, { model: "mistral-medium-2505" }));
    const err = await rejection(client(`${p.url}/mistral`, { maxRetries: 2 }).embeddings.create({ model: "mistral-embed", input: "hi" }));
    expect(err).toBeInstanceOf(OpenAI.UnprocessableEntityError);
    expect(up.requests.map((r) => [r.url, (JSON.parse(r.body.toString()) as { model: unknown }).model])).toEqual([["/v1/chat/completions", "mistral-medium-2505"]]);
  });
});
