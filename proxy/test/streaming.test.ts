/**
 * Streams: SSE events reach the client as the upstream sends them, backpressure holds the upstream
 * back instead of buffering, and a client abort aborts the upstream request at once.
 */
import { once } from "node:events";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { connect } from "node:net";
import OpenAI from "openai";
import { providerEnv, simpleConfig, startProxy, PROVIDER_KEY, type TestProxy } from "./helpers/proxy";
import { startUpstream, type Upstream } from "./helpers/upstream";

let upstream: Upstream;
let proxy: TestProxy;

beforeEach(async () => {
  upstream = await startUpstream();
  proxy = await startProxy(simpleConfig(upstream.port, { model: "mistral-medium-2505" }, { urlRewrite: { hostname: "api.mistral.ai" } }), { env: providerEnv });
});

afterEach(async () => {
  await proxy.close();
  await upstream.close();
});

function post(path: string, body: unknown): { req: ReturnType<typeof httpRequest>; response: Promise<IncomingMessage> } {
  const url = new URL(proxy.url);
  const req = httpRequest({ host: url.hostname, port: url.port, method: "POST", path, headers: { "content-type": "application/json" } });
  req.on("error", () => undefined); // tests destroy requests on purpose
  req.end(JSON.stringify(body));
  const response = once(req, "response").then(([res]) => res as IncomingMessage);
  response.catch(() => undefined); // awaited only by tests that expect a response
  return { req, response };
}

/** Resolves with the text received once it matches `pattern`. */
function readUntil(res: IncomingMessage, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      if (pattern.test(text)) {
        res.off("data", onData);
        resolve(text);
      }
    };
    res.on("data", onData);
    res.once("end", () => (pattern.test(text) ? resolve(text) : reject(new Error(`stream ended without ${String(pattern)}: ${text}`))));
  });
}

describe("server-sent events", () => {
  it("delivers the first event before the upstream finishes, then the rest, unbuffered", async () => {
    const gated = upstream.gate();
    const { response } = post("/mistral", { model: "x", messages: [], stream: true, x_gate: true });
    const res = await response;
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/event-stream");
    await gated;
    // The upstream is holding the rest of the stream until released: the first event is already here.
    const first = await readUntil(res, /tok0/);
    expect(first).toMatch(/^data: \{.*"tok0 ".*\}\n\n$/);
    upstream.release();
    const rest = await readUntil(res, /data: \[DONE\]\n\n$/);
    expect(rest).toContain('"usage":{"prompt_tokens":11');
  });

  it("lets the upstream finish only as fast as the client reads (backpressure)", async () => {
    const chunk = Buffer.alloc(64 * 1024, "a");
    const total = 256 * 1024 * 1024;
    let written = 0;
    let finished = false;
    const blocked = new Promise<void>((signalBlocked) => {
      upstream.handler = (_req, res) => {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        const pump = (): void => {
          while (written < total) {
            written += chunk.length;
            if (!res.write(chunk)) {
              signalBlocked();
              res.once("drain", pump);
              return;
            }
          }
          finished = true;
          res.end();
        };
        pump();
      };
    });
    const { response } = post("/mistral", { model: "x" });
    const res = await response;
    res.pause();
    await blocked;
    // Give the pipe time to fill every buffer between the upstream and the paused client.
    let stable = -1;
    while (stable !== written) {
      stable = written;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(finished).toBe(false);
    // Socket buffers on loopback can hold a few MB each; nothing close to the whole response is held.
    expect(written).toBeLessThan(64 * 1024 * 1024);
    let received = 0;
    res.on("data", (c: Buffer) => (received += c.length));
    res.resume();
    await once(res, "end");
    expect(received).toBe(total);
    expect(finished).toBe(true);
  }, 60_000);

  describe("a client that stops reading without closing", () => {
    /** An upstream writing `total` bytes (for ever without it, as an event stream) as fast as it is taken. */
    function fastUpstream(total?: number): { written: () => number } {
      const chunk = Buffer.alloc(64 * 1024, "a");
      let written = 0;
      upstream.handler = (_req, res) => {
        res.writeHead(200, total === undefined ? { "content-type": "text/event-stream" } : { "content-type": "application/json", "content-length": String(total) });
        const pump = (): void => {
          while (total === undefined || written < total) {
            written += chunk.length;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          res.end();
        };
        pump();
      };
      return { written: () => written };
    }

    for (const [kind, total] of [["an event stream", undefined], ["a 20 MB JSON response", 20 * 1024 * 1024]] as const) {
      it(`is disconnected once it took nothing for the keep-alive timeout, its upstream request aborted (${kind})`, async () => {
        const up = fastUpstream(total);
        const p = await startProxy(simpleConfig(upstream.port), { env: providerEnv, keepAliveTimeoutMs: 300 });
        const socket = connect(Number(new URL(p.url).port), "127.0.0.1");
        try {
          socket.on("error", () => undefined);
          socket.pause(); // never reads
          const aborted = once(upstream, "clientAborted");
          const t0 = performance.now();
          socket.write('POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
          await aborted;
          // The keep-alive timeout, its 1 s of grace and up to two sweeps: not sooner, and not for ever.
          expect(performance.now() - t0).toBeGreaterThanOrEqual(1300);
          expect(up.written()).toBeLessThan(total ?? Infinity);
          const line = await p.waitForLog((l) => l.msg === "request" && l.status === 499);
          expect(line).toMatchObject({ error: "client_closed_request" });
          // Told apart from a client that went away: the proxy closed it, for taking nothing.
          const closed = p.logs().find((l) => l.msg === "client took none of its answer; connection closed");
          expect(closed).toMatchObject({ level: "warn", reqIds: [line.reqId], idleMs: 1300 });
          expect(closed?.pendingBytes).toBeGreaterThan(0);
          expect(p.proxy.inflight).toBe(0);
          socket.resume(); // takes what is buffered, then sees the proxy's close
          await once(socket, "close");
        } finally {
          socket.destroy();
          await p.close();
        }
      });
    }

    it("is not disconnected while it reads, however slowly, for longer than the keep-alive timeout", async () => {
      const size = 16 * 1024 * 1024; // more than the sockets' buffers take, so the proxy waits on the client
      fastUpstream(size);
      const p = await startProxy(simpleConfig(upstream.port), { env: providerEnv, keepAliveTimeoutMs: 200 });
      const socket = connect(Number(new URL(p.url).port), "127.0.0.1");
      try {
        socket.on("error", () => undefined);
        let bytes = 0;
        let quota = 0;
        // At most 400 KiB every 100 ms, 4 MB a second: about four seconds, each sweep seeing some taken.
        const refill = setInterval(() => {
          quota = 400 * 1024;
          socket.resume();
        }, 100);
        socket.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
          quota -= chunk.length;
          if (quota <= 0) socket.pause();
        });
        socket.pause();
        socket.write('POST /mistral HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
        const t0 = performance.now();
        await new Promise<void>((resolve, reject) => {
          const check = setInterval(() => {
            if (bytes > size || socket.destroyed) {
              clearInterval(check);
              clearInterval(refill);
              if (bytes > size) resolve();
              else reject(new Error(`closed after ${bytes} bytes`));
            }
          }, 20);
        });
        expect(performance.now() - t0).toBeGreaterThan(2000);
        expect((await p.waitForLog((l) => l.msg === "request")).status).toBe(200);
        expect(p.logs().filter((l) => l.msg === "client took none of its answer; connection closed")).toEqual([]);
      } finally {
        socket.destroy();
        await p.close();
      }
    }, 15_000);
  });

  it("aborts the upstream request as soon as the client goes away mid-stream", async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: {\"n\":0}\n\n");
      // Never ends on its own.
    };
    const { req, response } = post("/mistral", { model: "x", stream: true });
    const res = await response;
    await readUntil(res, /"n":0/);
    const aborted = once(upstream, "clientAborted");
    req.destroy();
    await aborted;
    const line = await proxy.waitForLog((l) => l.msg === "request" && l.status === 499);
    expect(line).toMatchObject({ error: "client_closed_request", stream: true });
  });

  it("aborts the upstream request when the client goes away before the response headers", async () => {
    upstream.handler = () => undefined;
    const { req } = post("/mistral", { model: "x" });
    await upstream.request(0);
    const aborted = once(upstream, "clientAborted");
    req.destroy();
    await aborted;
  });
  it("aborts every exchange still in progress on a connection when it closes, and none it already finished", async () => {
    // One keep-alive connection: a request answered, then two pipelined ones the upstream holds.
    upstream.handler = (_req, res, body) => {
      if ((JSON.parse(body.toString()) as { n: number }).n === 1) res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    };
    const url = new URL(proxy.url);
    const socket = connect(Number(url.port), url.hostname);
    socket.on("error", () => undefined);
    const request = (n: number): string => {
      const body = JSON.stringify({ model: "x", n });
      return `POST /mistral HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    };
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString()));
    socket.write(request(1));
    await proxy.waitForLog((l) => l.msg === "request" && l.status === 200);
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    const aborted: unknown[] = [];
    upstream.on("clientAborted", (r) => aborted.push(r));
    socket.write(request(2) + request(3));
    await upstream.request(2);
    socket.destroy();
    const statuses = (): unknown[] => proxy.logs().filter((l) => l.msg === "request").map((l) => l.status);
    for (let i = 0; i < 100 && (statuses().length < 3 || aborted.length < 2); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(statuses().sort()).toEqual([200, 499, 499]);
    expect(aborted).toHaveLength(2);
  });
});

describe("the official openai client", () => {
  const client = (): OpenAI => new OpenAI({ apiKey: "client-side-key-not-forwarded", baseURL: `${proxy.url}/mistral`, maxRetries: 0 });

  it("completes a chat (non-streaming) through the proxy", async () => {
    const completion = await client().chat.completions.create({ model: "ignored", messages: [{ role: "user", content: "Write a haiku." }] });
    expect(completion.choices[0]?.message.content).toBe("Neural networks learn.");
    expect(completion.model).toBe("mistral-medium-2505");
    expect(completion.usage).toEqual({ prompt_tokens: 20, completion_tokens: 17, total_tokens: 37 });
    const seen = await upstream.request(0);
    expect(seen.url).toBe("/v1/chat/completions");
    expect(seen.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(seen.headers.host).toBe("api.mistral.ai");
  });

  it("streams a chat through the proxy", async () => {
    const stream = await client().chat.completions.create({
      model: "ignored",
      messages: [{ role: "user", content: "Write a haiku." }],
      stream: true,
      stream_options: { include_usage: true },
      // Unknown to the SDK's types, passed through to the upstream untouched.
      ...({ x_chunks: 4 } as object),
    });
    const parts: string[] = [];
    let usage: unknown;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) parts.push(chunk.choices[0].delta.content);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(parts.join("")).toBe("tok0 tok1 tok2 tok3 ");
    expect(usage).toEqual({ prompt_tokens: 11, completion_tokens: 4, total_tokens: 15 });
    const body = JSON.parse((await upstream.request(0)).body.toString()) as Record<string, unknown>;
    expect(body).toMatchObject({ model: "mistral-medium-2505", stream: true, stream_options: { include_usage: true }, x_chunks: 4 });
  });

  it("raises the proxy's own errors as OpenAI APIErrors with their code", async () => {
    const wrong = new OpenAI({ apiKey: "k", baseURL: `${proxy.url}/nowhere`, maxRetries: 0 });
    await expect(wrong.chat.completions.create({ model: "m", messages: [] })).rejects.toMatchObject({ status: 404, code: "route_not_found", type: "invalid_request_error" });
  });
});
