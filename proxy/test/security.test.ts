/**
 * Nothing a client sends can choose where the proxy connects or escape the configured path:
 * permanent regression tests for Host, absolute-form targets, dot segments and encoded separators.
 */
import { createServer, type Server } from "node:http";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { postJson, rawExchange } from "./helpers/http";
import { PROVIDER_KEY, providerEnv, simpleConfig, startCli, startProxy, type CliProxy, type TestProxy } from "./helpers/proxy";
import { openAiHandler, startUpstream, type Upstream } from "./helpers/upstream";

let upstream: Upstream;
let decoy: Server;
let decoyHits = 0;
let proxy: TestProxy;

beforeAll(async () => {
  upstream = await startUpstream();
  // Another local server a malicious request would like to reach instead.
  decoy = createServer((_req, res) => {
    decoyHits++;
    res.end("decoy");
  });
  await new Promise<void>((resolve) => decoy.listen(0, "127.0.0.1", resolve));
  // No path.full: the client's path (after the prefix rewrite) goes upstream, the case where
  // traversal would matter.
  proxy = await startProxy(
    simpleConfig(upstream.port, { path: undefined }, { urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/v1" } } }),
    { env: providerEnv },
  );
});

afterAll(async () => {
  await proxy.close();
  await upstream.close();
  await new Promise((resolve) => decoy.close(resolve));
});

const decoyPort = (): number => (decoy.address() as AddressInfo).port;

async function raw(requestLine: string, headers = "Host: proxy.local\r\n"): Promise<string> {
  return rawExchange(proxy.url, `${requestLine}\r\n${headers}Content-Length: 0\r\n\r\n`, /\r\n\r\n[\s\S]*\}/);
}

const status = (response: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
const code = (response: string): string => (JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4)) as { error: { code: string } }).error.code;

describe("the upstream is chosen by configuration only", () => {
  it("ignores the Host header: a request naming another host still goes to the configured upstream", async () => {
    const before = upstream.requests.length;
    const response = await raw("POST /mistral/chat/completions HTTP/1.1", `Host: 127.0.0.1:${decoyPort()}\r\n`);
    expect(status(response)).toBe(200);
    const seen = upstream.requests[before]!;
    expect(seen.headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(seen.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(decoyHits).toBe(0);
  });

  it.each([
    [`GET http://127.0.0.1:PORT/mistral/chat/completions HTTP/1.1`],
    [`GET https://127.0.0.1:PORT/mistral HTTP/1.1`],
    ["GET //127.0.0.1:PORT/mistral HTTP/1.1"],
    ["OPTIONS * HTTP/1.1"],
  ])("rejects a non origin-form target: %s", async (line) => {
    const before = upstream.requests.length;
    const response = await raw(line.replace("PORT", String(decoyPort())));
    expect([400, 404]).toContain(status(response));
    expect(["invalid_request_target", "route_not_found"]).toContain(code(response));
    expect(upstream.requests.length).toBe(before);
    expect(decoyHits).toBe(0);
  });

  it("answers an absolute-form target with 400 invalid_request_target", async () => {
    const response = await raw(`POST http://127.0.0.1:${decoyPort()}/mistral HTTP/1.1`);
    expect(status(response)).toBe(400);
    expect(code(response)).toBe("invalid_request_target");
  });

  it.each([
    ["http://user:sk-USERINFO-1@evil.example/x/case-1", "http://[redacted]@evil.example/x/case-1"],
    ["https://sk-USERINFO-2@127.0.0.1:PORT/mistral/case-2", "https://[redacted]@127.0.0.1:PORT/mistral/case-2"],
    ["//user:p@ss-sk-USERINFO-3@evil.example/mistral/case-3", "//[redacted]@evil.example/mistral/case-3"],
    ["http://u:sk-USERINFO-4?@evil.example/x/case-4", "http://[redacted]@evil.example/x/case-4"],
    ["//u:sk-USERINFO-5?q@evil.example/x/case-5?a=b", "//[redacted]@evil.example/x/case-5"],
  ])("logs a target's user information masked: %s", async (target, logged) => {
    const port = String(decoyPort());
    const response = await raw(`POST ${target.replace("PORT", port)} HTTP/1.1`);
    expect([400, 404]).toContain(status(response));
    const tail = logged.slice(logged.lastIndexOf("/"));
    const line = await proxy.waitForLog((l) => l.msg === "request" && typeof l.path === "string" && l.path.endsWith(tail));
    expect(line.path).toBe(logged.replace("PORT", port));
    expect(proxy.rawLogs.join("\n")).not.toContain("USERINFO");
    expect(decoyHits).toBe(0);
  });
});

describe("the path cannot climb out of the route or smuggle separators", () => {
  it.each([
    "/mistral/../admin",
    "/mistral/..",
    "/mistral/./chat",
    "/mistral/%2e%2e/admin",
    "/mistral/%2E%2E/admin",
    "/mistral/.%2e/admin",
    "/mistral%2F..%2Fadmin",
    "/mistral/chat%2fcompletions",
    "/mistral/chat%5Ccompletions",
    "/mistral\\..\\admin",
    "/mistral/..;/admin",
    "/mistral/..;jsessionid=x/admin",
    "/mistral/.;/chat",
    "/mistral/%2e%2e;/admin",
    "/mistral/..%3b/admin",
    "/mistral/%2E%2E%3B/admin",
  ])("rejects %s with 400 invalid_request_target", async (path) => {
    const before = upstream.requests.length;
    const response = await raw(`POST ${path} HTTP/1.1`);
    expect(status(response)).toBe(400);
    expect(code(response)).toBe("invalid_request_target");
    expect(upstream.requests.length).toBe(before);
  });

  it.each(["/mistral/chat#frag", "/mistral/chat#/completions", "/mistral/chat?stream=true#x", "/mistral/x#?tier=free"])(
    "rejects a target with a fragment, %s, with 400 invalid_request_target",
    async (target) => {
      // `#` is not part of an origin-form target: an upstream that drops the fragment would serve another
      // path or query than the one routed (an Exact match escaped by `/exact#`, a query match met by `#?q`).
      const before = upstream.requests.length;
      const response = await raw(`POST ${target} HTTP/1.1`);
      expect(status(response)).toBe(400);
      expect(code(response)).toBe("invalid_request_target");
      expect(upstream.requests.length).toBe(before);
    },
  );

  it("still forwards ordinary percent-encoding and dots inside segments", async () => {
    const before = upstream.requests.length;
    const response = await raw("POST /mistral/models/mistral-medium-2505.1%20x?q=a..b HTTP/1.1");
    expect(status(response)).toBe(200);
    expect(upstream.requests[before]!.url).toBe("/v1/models/mistral-medium-2505.1%20x?q=a..b");
  });

  it("still forwards path parameters on segments that are not dot segments", async () => {
    const before = upstream.requests.length;
    const response = await raw("POST /mistral/models/a;v=1/...;x/..a;b HTTP/1.1");
    expect(status(response)).toBe(200);
    expect(upstream.requests[before]!.url).toBe("/v1/models/a;v=1/...;x/..a;b");
  });
});

describe("CONNECT opens no tunnel", () => {
  it("answers 400 invalid_request_target, closes the connection, and logs the target with its user information masked", async () => {
    const before = upstream.requests.length;
    // rawExchange resolves when the proxy closes the connection: the answer is complete then.
    const response = await rawExchange(proxy.url, `CONNECT user:sk-TUNNEL-1@127.0.0.1:${decoyPort()} HTTP/1.1\r\nHost: 127.0.0.1:${decoyPort()}\r\n\r\n`);
    expect(status(response)).toBe(400);
    expect(code(response)).toBe("invalid_request_target");
    expect(response).toMatch(/\r\nconnection: close\r\n/i);
    const line = await proxy.waitForLog((l) => l.msg === "request" && l.method === "CONNECT");
    expect([line.status, line.error, line.path]).toEqual([400, "invalid_request_target", `[redacted]@127.0.0.1:${decoyPort()}`]);
    // As every error answer of the proxy's own: its log line's reqId.
    expect(/\r\nx-request-id: ([^\r]+)\r\n/i.exec(response)?.[1]).toBe(line.reqId);
    expect(proxy.rawLogs.join("\n")).not.toContain("TUNNEL");
    expect(upstream.requests.length).toBe(before);
    expect(decoyHits).toBe(0);
  });

  it("closes the connection itself when the client keeps its side open after the answer", async () => {
    const socket = connect({ port: Number(new URL(proxy.url).port), host: "127.0.0.1", allowHalfOpen: true });
    let received = "";
    socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
    socket.write(`CONNECT 127.0.0.1:${decoyPort()} HTTP/1.1\r\nHost: x\r\n\r\n`);
    socket.on("error", () => {});
    await once(socket, "end"); // the answer, then the proxy's FIN; this client does not close its side
    expect(status(received)).toBe(400);
    // A second on, the proxy has closed the connection: what the client still sends is refused (reset).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(socket.destroyed).toBe(false);
    // The first write after the proxy closed draws its reset; a later one fails on it.
    const closed = new Promise((resolve) => socket.once("close", resolve));
    const writes = setInterval(() => socket.write("more bytes for the tunnel"), 50);
    await closed.finally(() => clearInterval(writes));
    expect(decoyHits).toBe(0);
  });
});

describe("one client connection", () => {
  it("has at most 16 requests upstream at once, however many it pipelines, and all are answered in order", async () => {
    const held: (() => void)[] = [];
    upstream.handler = (_req, res, body) => held.push(() => res.writeHead(200, { "content-type": "application/json", "x-n": body.toString() }).end("{}"));
    const before = upstream.requests.length;
    const socket = connect(Number(new URL(proxy.url).port), "127.0.0.1");
    await once(socket, "connect");
    let received = "";
    socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
    const count = 200;
    // One write of small pipelined requests: without a bound, every one went upstream at once.
    let pipelined = "";
    for (let n = 0; n < count; n++) pipelined += `POST /mistral/chat HTTP/1.1\r\nHost: x\r\nContent-Length: ${String(n).length}\r\n\r\n${n}`;
    socket.write(pipelined);
    try {
      await upstream.request(before + 15);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(upstream.requests.length - before).toBe(16);
      // Each answer lets one more request go, never more than 16 at once.
      let answered = 0;
      while (answered < count) {
        if (held.length === 0) await once(upstream, "request");
        else {
          held.shift()!();
          answered++;
        }
        expect(upstream.requests.length - before - answered).toBeLessThanOrEqual(16);
      }
      while ((received.match(/^HTTP\/1\.1 200 /gm) ?? []).length < count) await once(socket, "data");
      expect([...received.matchAll(/^x-n: (\d+)\r$/gim)].map((m) => Number(m[1]))).toEqual(Array.from({ length: count }, (_, n) => n));
    } finally {
      socket.destroy();
      for (const answer of held) answer();
      upstream.handler = openAiHandler;
    }
  });

  /**
   * One connection to the proxy that sends `count` pipelined GETs in one write: how many the proxy's
   * server has parsed, its side of the connection, and a wait for all `count` answers.
   */
  async function pipelined(count: number): Promise<{ parsed: () => number; serverSide: Socket; answered: () => Promise<void>; stop: () => void }> {
    const server = (proxy.proxy as unknown as { server: Server }).server;
    let parsed = 0;
    const onRequest = (): number => parsed++;
    server.on("request", onRequest);
    const accepted = once(server, "connection") as Promise<[Socket]>;
    const socket = connect(Number(new URL(proxy.url).port), "127.0.0.1");
    const [serverSide] = await accepted;
    let received = "";
    socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
    socket.write("GET /mistral HTTP/1.1\r\nHost: x\r\n\r\n".repeat(count));
    return {
      parsed: () => parsed,
      serverSide,
      // Answers have bodies of known length, without a final newline: counted wherever they start.
      answered: async () => {
        while ((received.match(/HTTP\/1\.1 200 /g) ?? []).length < count) await once(socket, "data");
      },
      stop: () => {
        server.off("request", onRequest);
        socket.destroy();
      },
    };
  }

  it("stops reading a connection that pipelines more than 256 requests beyond the 16 upstream, and reads it again as they start", async () => {
    const held: (() => void)[] = [];
    let holding = true;
    upstream.handler = (req, res, body, up) => {
      if (holding) held.push(() => openAiHandler(req, res, body, up));
      else openAiHandler(req, res, body, up);
    };
    // 5,000 requests of 37 bytes, in one write (185 KB: more than one read).
    const count = 5000;
    const pipe = await pipelined(count);
    try {
      while (pipe.parsed() <= 16 + 256) await new Promise((resolve) => setImmediate(resolve));
      // Stopped by the request that went past the bound: what is parsed now is what was read already.
      expect(pipe.serverSide.isPaused()).toBe(true);
      expect(pipe.parsed()).toBeLessThan(count);
      holding = false;
      for (const answer of held.splice(0)) answer();
      await pipe.answered();
      expect(pipe.parsed()).toBe(count);
      expect(pipe.serverSide.isPaused()).toBe(false);
    } finally {
      pipe.stop();
      for (const answer of held) answer();
      upstream.handler = openAiHandler;
    }
  });

  it("keeps a connection past 256 waiting requests unread while the upstream answers the others, its answers queued behind one it holds", async () => {
    // The first request is held; every other is answered at once. Node.js reads a connection again each
    // time an answer queued behind the one being written is buffered (while they are under the socket's
    // high-water mark): each answer read on, and the proxy read again whenever no request waited, so that
    // all the client pipelined was parsed and queued, its answers with it, while the first was held.
    let first: (() => void) | null = null;
    const release = (): void => {
      const answer = first;
      first = null;
      answer?.();
    };
    let holding = true;
    upstream.handler = (req, res, body, up) => {
      if (holding) {
        holding = false;
        first = () => openAiHandler(req, res, body, up);
      } else openAiHandler(req, res, body, up);
    };
    const before = upstream.requests.length;
    // 10,000 requests of 37 bytes, in one write (370 KB: some six reads).
    const count = 10_000;
    const pipe = await pipelined(count);
    const parsedNow = pipe.parsed;
    try {
      // Until every request parsed has been forwarded and only the held one is in progress, for 100 ms
      // (or all are parsed, which is the failure).
      let stable = 0;
      let last = -1;
      while (parsedNow() < count && stable < 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        const settled = upstream.requests.length - before === parsedNow() && proxy.proxy.inflight === 1;
        stable = settled && parsedNow() === last ? stable + 1 : 0;
        last = parsedNow();
      }
      expect(holding).toBe(false);
      expect(parsedNow()).toBeLessThan(count);
      expect(pipe.serverSide.isPaused()).toBe(true);
      release();
      // Once the first answer is written, those queued behind it go, and the rest is read.
      await pipe.answered();
      expect(parsedNow()).toBe(count);
      expect(upstream.requests.length - before).toBe(count);
    } finally {
      pipe.stop();
      release();
      upstream.handler = openAiHandler;
    }
  });
});

describe("route regular expressions on what clients send", () => {
  let dir = "";
  let cli: CliProxy | null = null;
  afterEach(async () => {
    // SIGKILL: a proxy stuck in a regex never runs its SIGTERM handler.
    await cli?.stop("SIGKILL");
    cli = null;
    rmSync(dir, { recursive: true, force: true });
  });

  it("match in linear time, as RE2 does: a header that would backtrack for hours is answered at once, and the proxy keeps serving", async () => {
    dir = mkdtempSync(join(tmpdir(), "proxy-regex-"));
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify(simpleConfig(upstream.port, {}, { matches: [{ path: { type: "PathPrefix", value: "/mistral" }, headers: [{ type: "RegularExpression", name: "x-tier", value: "(a|aa)+" }] }] })));
    cli = await startCli(["--config", config, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"], providerEnv);
    // ~2^40 steps for a backtracking engine before it can say no.
    expect((await postJson(cli.url, "/mistral", { model: "m" }, { "x-tier": `${"a".repeat(60)}b` })).status).toBe(404);
    expect((await postJson(cli.url, "/mistral", { model: "m" }, { "x-tier": "a".repeat(16_000) })).status).toBe(200);
  }, 30_000);
});
