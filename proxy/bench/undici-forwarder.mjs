// The "bare undici forwarder" reference: the least code that does the same job
// (route, path rewrite, key injection, model override, SSE streamed through,
// keep-alive pool, abort propagation), with nothing else: no config, no
// validation, no metrics, no logs. What a proxy costs above this is its features.
//   BENCH_LISTEN_PORT BENCH_PLAIN_ORIGIN BENCH_TLS_ORIGIN BENCH_CA BENCH_PROVIDER_KEY BENCH_MODEL
import http from "node:http";
import { readFileSync } from "node:fs";
import { Pool } from "undici";

const e = process.env;
const routes = {
  "/mistral": new Pool(e.BENCH_PLAIN_ORIGIN, { connections: null }),
  "/secure/mistral": new Pool(e.BENCH_TLS_ORIGIN, {
    connections: null,
    connect: { ca: readFileSync(e.BENCH_CA), servername: "localhost" },
  }),
};
const headers = { "content-type": "application/json", authorization: `Bearer ${e.BENCH_PROVIDER_KEY}`, host: "localhost" };
const hopByHop = new Set(["connection", "keep-alive", "transfer-encoding"]);

http
  .createServer((req, res) => {
    const pool = routes[req.url];
    if (!pool) return res.writeHead(404).end();
    const parts = [];
    req.on("data", (c) => parts.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(parts).toString());
      body.model = e.BENCH_MODEL;
      const ac = new AbortController();
      res.on("close", () => res.writableFinished || ac.abort());
      pool
        .request({ method: "POST", path: "/v1/chat/completions", headers, body: JSON.stringify(body), signal: ac.signal })
        .then(({ statusCode, headers: h, body: upstream }) => {
          for (const k of Object.keys(h)) if (!hopByHop.has(k)) res.setHeader(k, h[k]);
          res.writeHead(statusCode);
          upstream.on("data", (c) => res.write(c) || upstream.pause());
          res.on("drain", () => upstream.resume());
          upstream.on("end", () => res.end());
          upstream.on("error", () => res.destroy());
        })
        .catch(() => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    });
  })
  .listen(Number(e.BENCH_LISTEN_PORT), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
