// The platform's floor: what Node.js itself costs for the pieces every
// node:http + undici proxy is made of, measured in the same run as the proxies
// so their numbers can be read against it (README.md, "The platform's floor").
// None of these does the job; each is one half of it, or less.
//
//   node floor.mjs pipe   PORT ORIGIN_PORT  a TCP pipe: each client connection gets its own upstream
//                                          connection and bytes go both ways untouched (no HTTP at all)
//   node floor.mjs http   PORT              the server half: node:http reads each request's body and
//                                          answers the upstream's completion from memory (no upstream)
//   node floor.mjs proxy  PORT ORIGIN_PORT  the least node:http + undici proxy: the client's headers
//                                          minus hop-by-hop ones, the key and Host added, the path
//                                          replaced, the body passed on as read; undici's raw handler
//                                          callbacks; no model rewrite, validation, logs or metrics
//   node floor.mjs client ORIGIN CONNECTIONS SECONDS WARMUP_SECONDS
//                                          the client half: undici's Pool with `CONNECTIONS` requests in
//                                          flight against the upstream, closed loop; prints one JSON line
//
// Environment: BENCH_PROVIDER_KEY, BENCH_MODEL (the upstream checks both).
import net from "node:net";
import http from "node:http";
import { Pool } from "undici";
import { chatRequest, completionBytes } from "./lib/completion.mjs";

const [mode, ...args] = process.argv.slice(2);
const KEY = process.env.BENCH_PROVIDER_KEY ?? "";
const MODEL = process.env.BENCH_MODEL ?? "";
process.on("SIGTERM", () => process.exit(0));

if (mode === "pipe") {
  const [port, originPort] = args.map(Number);
  net
    .createServer({ noDelay: true }, (client) => {
      const upstream = net.connect({ host: "127.0.0.1", port: originPort, noDelay: true });
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    })
    .listen(port, "127.0.0.1");
} else if (mode === "http") {
  // The same bytes the upstream answers a JSON request with.
  const completion = completionBytes(MODEL);
  const headers = ["content-type", "application/json", "content-length", String(completion.length)];
  http
    .createServer({ noDelay: true }, (req, res) => {
      req.on("data", () => {});
      req.on("end", () => {
        res.writeHead(req.method === "POST" ? 200 : 404, headers);
        res.end(completion);
      });
    })
    .listen(Number(args[0]), "127.0.0.1");
} else if (mode === "proxy") {
  const [port, originPort] = args.map(Number);
  const pool = new Pool(`http://127.0.0.1:${originPort}`, { connections: null });
  const hopByHop = new Set(["connection", "keep-alive", "transfer-encoding", "host", "authorization"]);
  class Forward {
    constructor(res) {
      this.res = res;
    }
    onConnect() {}
    onHeaders(status, raw) {
      const headers = [];
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i].toString("latin1");
        if (!hopByHop.has(name.toLowerCase())) headers.push(name, raw[i + 1].toString("latin1"));
      }
      this.res.writeHead(status, headers);
      return true;
    }
    onData(chunk) {
      return this.res.write(chunk);
    }
    onComplete() {
      this.res.end();
    }
    onError() {
      if (this.res.headersSent) this.res.destroy();
      else this.res.writeHead(502).end();
    }
  }
  http
    .createServer({ noDelay: true }, (req, res) => {
      const raw = req.rawHeaders;
      const headers = [];
      for (let i = 0; i < raw.length; i += 2) if (!hopByHop.has(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
      headers.push("authorization", `Bearer ${KEY}`, "host", "localhost");
      const parts = [];
      req.on("data", (c) => parts.push(c));
      req.on("end", () => {
        const body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
        pool.dispatch({ path: "/v1/chat/completions", method: req.method, headers, body }, new Forward(res));
      });
    })
    .listen(port, "127.0.0.1");
} else if (mode === "client") {
  const [origin, connections, seconds, warmup] = [args[0], Number(args[1]), Number(args[2]), Number(args[3] ?? 2)];
  const pool = new Pool(origin, { connections: null });
  const body = Buffer.from(chatRequest(MODEL));
  const headers = ["content-type", "application/json", "authorization", `Bearer ${KEY}`, "host", "localhost"];
  let measuring = false;
  let stopping = false;
  let requests = 0;
  let errors = 0;
  const latencies = [];
  // undici's own handler callbacks with raw headers, as ours uses them: the least a client can do.
  class Handler {
    constructor() {
      this.t0 = performance.now();
      this.status = 0;
    }
    onConnect() {}
    onHeaders(status) {
      this.status = status;
      return true;
    }
    onData() {
      return true;
    }
    onComplete() {
      if (measuring) {
        requests++;
        if (this.status !== 200) errors++;
        latencies.push(performance.now() - this.t0);
      }
      next();
    }
    onError() {
      if (measuring) errors++;
      next();
    }
  }
  const next = () => {
    if (!stopping) pool.dispatch({ path: "/v1/chat/completions", method: "POST", headers, body }, new Handler());
  };
  for (let i = 0; i < connections; i++) next();
  setTimeout(() => {
    measuring = true;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    setTimeout(() => {
      const cpu = process.cpuUsage(cpu0);
      const elapsed = (performance.now() - t0) / 1000;
      measuring = false;
      stopping = true;
      latencies.sort((a, b) => a - b);
      const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? null;
      const result = { requests, errors, seconds: elapsed, cpuUs: cpu.user + cpu.system, systemUs: cpu.system, p50: q(0.5), p99: q(0.99) };
      process.stdout.write(`BENCH_FLOOR ${JSON.stringify(result)}\n`, () => pool.destroy().then(() => process.exit(0)));
    }, seconds * 1000);
  }, warmup * 1000);
} else {
  console.error("usage: floor.mjs pipe PORT ORIGIN_PORT | http PORT | proxy PORT ORIGIN_PORT | client ORIGIN CONNECTIONS SECONDS [WARMUP_SECONDS]");
  process.exit(2);
}
