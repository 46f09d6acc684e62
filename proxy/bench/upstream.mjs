// The benchmark's local OpenAI-compatible upstream: chat completions as JSON
// (with `usage`) or as an SSE stream of N chunks with an optional delay,
// served over plain HTTP and over TLS. It checks every request's key, path and
// model (and, when told, the length of the first message) and counts each
// mismatch, so a fast wrong answer cannot pass: a mismatch is also answered
// with 400, which the load generator counts as an error.
//
// Run as its own process (so its CPU is never mixed with a proxy's):
//   BENCH_UPSTREAM_PLAIN_PORT BENCH_UPSTREAM_TLS_PORT BENCH_UPSTREAM_CERT
//   BENCH_UPSTREAM_CERT_KEY BENCH_PROVIDER_KEY BENCH_MODEL node upstream.mjs
// Control (plain port only, never counted): GET /__bench/stats,
// POST /__bench/mode {chunks, delayMs, contentLength} (also resets the counters).
import http from "node:http";
import https from "node:https";
import { readFileSync } from "node:fs";
import { CREATED, completionBytes } from "./lib/completion.mjs";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`upstream: \`${name}\` must be set`);
  return v;
};
const EXPECTED_AUTH = `Bearer ${env("BENCH_PROVIDER_KEY")}`;
const MODEL = env("BENCH_MODEL");
const EXPECTED_PATH = "/v1/chat/completions";

const mode = { chunks: 20, delayMs: 0, contentLength: null };
const fresh = () => ({
  requests: 0,
  ok: 0,
  badKey: 0,
  badPath: 0,
  badModel: 0,
  badBody: 0,
  badJson: 0,
  streamsOpen: 0,
  streamsMaxOpen: 0,
  streamsAborted: 0,
  /** The first few mismatches of this mode: what was wrong, and the request's method and path. */
  rejected: [],
});
let stats = fresh();

const created = CREATED;
const completion = completionBytes(MODEL);
/** One `chat.completion.chunk` SSE event: the envelope every chunk shares, then its own fields. */
const sseChunk = (fields) =>
  `data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created, model: MODEL, ...fields })}\n\n`;
const chunkEvent = Buffer.from(
  sseChunk({ choices: [{ index: 0, delta: { content: "tok " }, logprobs: null, finish_reason: null }] }),
);
const finalEvents = Buffer.from(
  sseChunk({ choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }] }) +
    sseChunk({ choices: [], usage: { prompt_tokens: 20, completion_tokens: 20, total_tokens: 40 } }) +
    "data: [DONE]\n\n",
);

let examples = 0;
function reject(res, why, req) {
  // A few examples in the log say what a failing target actually sent.
  if (stats.rejected.length < 5) stats.rejected.push(`${why}: ${req.method} ${req.url}`);
  if (examples++ < 5) console.error(`upstream: ${why}: ${req.method} ${req.url} authorization=${req.headers.authorization ? "<set>" : "<none>"}`);
  const body = JSON.stringify({ error: { message: `bench upstream: ${why}`, type: "invalid_request_error", code: why } });
  res.writeHead(400, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function stream(res) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const { chunks, delayMs } = mode;
  if (delayMs <= 0) {
    for (let i = 0; i < chunks; i++) res.write(chunkEvent);
    res.end(finalEvents);
    return;
  }
  stats.streamsOpen++;
  if (stats.streamsOpen > stats.streamsMaxOpen) stats.streamsMaxOpen = stats.streamsOpen;
  let sent = 0;
  let timer = null;
  let done = false;
  const finish = (aborted) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    stats.streamsOpen--;
    if (aborted) stats.streamsAborted++;
  };
  const next = () => {
    if (sent === chunks) {
      finish(false);
      res.end(finalEvents);
      return;
    }
    sent++;
    res.write(chunkEvent);
    timer = setTimeout(next, delayMs);
  };
  res.on("close", () => finish(!res.writableFinished));
  next();
}

/** Requests being read or answered, control requests left out. */
let active = 0;

/**
 * Until the requests of the load that just ended have been counted: a load generator that stops leaves
 * requests in flight, read (here, in the order the event loop finds their sockets ready) possibly after
 * the next load's reset, and counted against the next load's mode (a body of another length: a
 * mismatch no target made). Waits for a pause of 20 ms with no request in progress, 2 s at most.
 */
async function settled() {
  const until = Date.now() + 2000;
  let quiet = 0;
  while (quiet < 4 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    quiet = active === 0 ? quiet + 1 : 0;
  }
}

async function control(req, res, body) {
  if (req.method === "POST" && req.url === "/__bench/mode") {
    await settled();
    Object.assign(mode, JSON.parse(body.toString() || "{}"));
    stats = fresh();
  }
  const out = JSON.stringify({ mode, stats });
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(out) });
  res.end(out);
}

function handle(req, res, isControlPort) {
  if (!(isControlPort && req.url.startsWith("/__bench/"))) {
    active++;
    res.once("close", () => active--);
  }
  const parts = [];
  let size = 0;
  req.on("data", (c) => {
    parts.push(c);
    size += c.length;
  });
  req.on("end", () => {
    const body = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
    if (isControlPort && req.url.startsWith("/__bench/")) return void control(req, res, body);
    stats.requests++;
    if (req.headers.authorization !== EXPECTED_AUTH) {
      stats.badKey++;
      return reject(res, "wrong_key", req);
    }
    if (req.url !== EXPECTED_PATH || req.method !== "POST") {
      stats.badPath++;
      return reject(res, "wrong_path", req);
    }
    let json;
    try {
      json = JSON.parse(body.toString());
    } catch {
      stats.badJson++;
      return reject(res, "invalid_json", req);
    }
    if (json.model !== MODEL) {
      stats.badModel++;
      return reject(res, "wrong_model", req);
    }
    if (mode.contentLength !== null && json.messages?.[0]?.content?.length !== mode.contentLength) {
      stats.badBody++;
      return reject(res, "wrong_body", req);
    }
    stats.ok++;
    if (json.stream === true) return stream(res);
    res.writeHead(200, { "content-type": "application/json", "content-length": completion.length });
    res.end(completion);
  });
}

function tune(server) {
  // Keep connections open for the proxies' pools; never cap requests per socket.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  server.maxRequestsPerSocket = 0;
  return server;
}

const plain = tune(http.createServer((req, res) => handle(req, res, true)));
const tls = tune(
  https.createServer(
    { cert: readFileSync(env("BENCH_UPSTREAM_CERT")), key: readFileSync(env("BENCH_UPSTREAM_CERT_KEY")) },
    (req, res) => handle(req, res, false),
  ),
);
plain.listen(Number(env("BENCH_UPSTREAM_PLAIN_PORT")), "127.0.0.1");
tls.listen(Number(env("BENCH_UPSTREAM_TLS_PORT")), "127.0.0.1");
process.on("SIGTERM", () => {
  plain.close();
  tls.close();
  plain.closeAllConnections();
  tls.closeAllConnections();
});
