// Load and latency clients: wrk for throughput (its Lua `done` hook reports
// exact percentiles as JSON), and two small node clients for what wrk cannot
// see: the time to the first SSE event, and many concurrent slow streams.
import http from "node:http";
import https from "node:https";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { track } from "./procs.mjs";

const luaString = (s) => {
  if (s.includes("]==]")) throw new Error("header value cannot contain ]==]");
  return `[==[${s}]==]`;
};

/**
 * Runs wrk against `url` with a POST of the file `bodyFile` and `headers`.
 * Returns requests/s, latency percentiles (ms) and error counts.
 */
export async function runWrk({ url, headers, bodyFile, connections, duration, dir, timeout = "10s" }) {
  const script = join(dir, `wrk-${process.hrtime.bigint()}.lua`);
  const lines = [
    `local f = assert(io.open(${luaString(bodyFile)}, "rb"))`,
    `wrk.body = f:read("*a")`,
    `f:close()`,
    `wrk.method = "POST"`,
    `wrk.headers["Content-Type"] = "application/json"`,
    ...Object.entries(headers).map(([k, v]) => `wrk.headers[ ${luaString(k)} ] = ${luaString(v)}`),
    `function done(summary, latency, requests)`,
    `  local e = summary.errors`,
    `  io.write(string.format('BENCH_WRK {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\\n',`,
    `    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,`,
    `    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))`,
    `end`,
  ];
  writeFileSync(script, lines.join("\n") + "\n");
  const args = ["-t1", `-c${connections}`, `-d${duration}`, `--timeout`, timeout, "-s", script, url];
  const out = await capture("wrk", args);
  const line = out.split("\n").find((l) => l.startsWith("BENCH_WRK "));
  if (!line) throw new Error(`wrk printed no result:\n${out}`);
  const r = JSON.parse(line.slice("BENCH_WRK ".length));
  const seconds = r.duration_us / 1e6;
  return {
    requests: r.requests,
    rps: r.requests / seconds,
    p50: r.p50_us / 1000,
    p90: r.p90_us / 1000,
    p99: r.p99_us / 1000,
    max: r.max_us / 1000,
    errors: r.connect + r.read + r.write + r.status + r.timeout,
    errorDetail: { connect: r.connect, read: r.read, write: r.write, status: r.status, timeout: r.timeout },
  };
}

function capture(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    track(child, cmd);
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}:\n${out}`))));
  });
}

function clientFor(url, ca, maxSockets, keepAlive) {
  const isTls = url.startsWith("https:");
  const mod = isTls ? https : http;
  const agent = new mod.Agent({ keepAlive, maxSockets, ...(isTls ? { ca } : {}) });
  return { mod, agent };
}

/** One POST; resolves with the time to the first SSE `data:` line and to the end (ms), and the body. */
export function oneRequest({ mod, agent }, url, headers, body, { keepBody = false } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let first = 0n;
    const req = mod.request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/json", ...headers, "content-length": body.length } },
      (res) => {
        let seen = "";
        const parts = [];
        res.on("data", (c) => {
          if (keepBody || res.statusCode !== 200) parts.push(c);
          if (first === 0n) {
            seen += c.toString("latin1");
            if (seen.includes("data:")) first = process.hrtime.bigint();
          }
        });
        res.on("end", () => {
          const end = process.hrtime.bigint();
          const text = Buffer.concat(parts).toString();
          if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}: ${text.slice(0, 300)}`));
          resolve({
            firstEventMs: first === 0n ? null : Number(first - t0) / 1e6,
            totalMs: Number(end - t0) / 1e6,
            headers: res.headers,
            body: text,
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** Sequential streaming requests over one keep-alive connection: median time to the first event. */
export async function firstEventLatency({ url, headers, body, ca, count }) {
  const client = clientFor(url, ca, 1, true);
  const first = [];
  const total = [];
  try {
    for (let i = 0; i < count; i++) {
      const r = await oneRequest(client, url, headers, body);
      if (r.firstEventMs === null) throw new Error("stream carried no `data:` event");
      if (i >= Math.min(10, count / 10)) {
        // the first few warm the connection and the JIT
        first.push(r.firstEventMs);
        total.push(r.totalMs);
      }
    }
  } finally {
    client.agent.destroy();
  }
  first.sort((a, b) => a - b);
  total.sort((a, b) => a - b);
  return { p50: quantile(first, 0.5), p99: quantile(first, 0.99), totalP50: quantile(total, 0.5), samples: first.length };
}

/**
 * Opens `count` concurrent streams (in batches, so no listen backlog overflows),
 * each held open until `close()` is called. Resolves once every stream has
 * delivered its first event, or failed.
 */
export async function openStreams({ url, headers, body, ca, count, batch = 100, timeoutMs = 60_000 }) {
  const { mod, agent } = clientFor(url, ca, Infinity, false);
  const reqs = [];
  let opened = 0;
  let failed = 0;
  const errors = new Map();
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    const target = opened + failed + n;
    for (let j = 0; j < n; j++) {
      let settled = false;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        failed++;
        const k = String(err.code ?? err.message).slice(0, 80);
        errors.set(k, (errors.get(k) ?? 0) + 1);
      };
      const req = mod.request(
        url,
        { method: "POST", agent, headers: { "content-type": "application/json", ...headers, "content-length": body.length } },
        (res) => {
          if (res.statusCode !== 200) {
            fail(new Error(`status ${res.statusCode}`));
            res.resume();
            return;
          }
          res.on("data", () => {
            if (!settled) {
              settled = true;
              opened++;
            }
          });
          res.on("error", () => {});
          res.on("end", () => fail(new Error("stream ended early")));
        },
      );
      req.on("error", fail);
      req.end(body);
      reqs.push(req);
    }
    while (opened + failed < target && Date.now() < deadline) await sleep(20);
  }
  return {
    opened,
    failed,
    errors: Object.fromEntries(errors),
    close() {
      for (const r of reqs) r.destroy();
      agent.destroy();
    },
  };
}
