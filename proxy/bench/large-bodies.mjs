#!/usr/bin/env node
// Concurrent large request bodies (images sent inline) on a route that rewrites `model`, against our
// proxy run as deployed: the image's node flags, in a memory cgroup of its Deployment's default limit.
// Prints, for each concurrency, what the clients got and whether the proxy survived, and the cgroup's
// peak memory; a proxy the kernel kills for memory drops every request and stream it holds.
//
//   node proxy/bench/large-bodies.mjs [body MiB, default 9.5] [concurrencies, default 4,8,16,32] [rounds, default 3]
//
// BENCH_OURS_CLI=<another build's cli.js> runs that build instead (before and after);
// BENCH_OURS_NODE_ARGS adds node flags after the image's.
//
// Needs root for the cgroup (as `npm run bench`); without one it says so and runs without a limit.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deploymentMemoryLimit, imageNodeFlags, memoryCgroup } from "./lib/as-deployed.mjs";
import { freePort, installCleanup, runMain, setPidLog, start, stop, untilListening } from "./lib/procs.mjs";
import { PROXY_DIR } from "./lib/targets.mjs";

const MiB = 1024 * 1024;
const bodyMiB = Number(process.argv[2] ?? 9.5);
const concurrencies = (process.argv[3] ?? "4,8,16,32").split(",").map(Number);
const rounds = Number(process.argv[4] ?? 3);

/** One POST of `body`; resolves with the status, or the socket error's code. */
function post(port, body) {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, method: "POST", path: "/mistral", headers: { "content-type": "application/json", "content-length": body.length } }, (res) => {
      res.resume();
      res.on("end", () => resolve(String(res.statusCode)));
    });
    req.on("error", (e) => resolve(e.code ?? e.message));
    req.end(body);
  });
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "ocp-large-bodies-"));
  setPidLog(join(dir, "pids"));
  installCleanup();
  const upstreamPort = await freePort();
  // The upstream reads each body, then answers after 200 ms, as a provider would after some work.
  const upstreamJs = join(dir, "upstream.cjs");
  writeFileSync(
    upstreamJs,
    `require("node:http").createServer((req, res) => { req.resume(); req.on("end", () => setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end('{"object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'), 200)); }).listen(${upstreamPort}, "127.0.0.1");`,
  );
  start("upstream", process.execPath, [upstreamJs], { logDir: dir });
  await untilListening(upstreamPort);
  const config = join(dir, "config.json");
  writeFileSync(
    config,
    JSON.stringify({
      apiVersion: "openai-compatible-proxy/v1",
      kind: "ProxyConfig",
      backends: [{ name: "ns/up", host: "127.0.0.1", port: upstreamPort, path: "/v1/chat/completions", model: "m-override", auth: { type: "Key", key: { env: "BENCH_KEY" } } }],
      routes: [{ name: "ns/route/0", matches: [{ path: { type: "PathPrefix", value: "/mistral" } }], backendRefs: [{ name: "ns/up" }] }],
    }),
  );
  const image = "A".repeat(Math.round(bodyMiB * MiB));
  const body = Buffer.from(JSON.stringify({ model: "x", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: `data:image/png;base64,${image}` } }] }] }));
  const cli = process.env.BENCH_OURS_CLI || join(PROXY_DIR, "dist", "cli.js");
  const limit = deploymentMemoryLimit();
  const flags = [...imageNodeFlags(), ...(process.env.BENCH_OURS_NODE_ARGS ?? "").split(" ").filter(Boolean)];
  console.log(`ours: node ${flags.join(" ")} ${cli}; bodies of ${(body.length / MiB).toFixed(1)} MiB, ${rounds} rounds each`);
  for (const n of concurrencies) {
    const port = await freePort();
    const admin = await freePort();
    const cgroup = memoryCgroup(`ocp-large-bodies-${process.pid}-${n}`, limit);
    let command = [process.execPath, [...flags, cli, "--config", config, "--listen", `127.0.0.1:${port}`, "--admin-listen", `127.0.0.1:${admin}`, "--log-level", "warn"]];
    if (cgroup.wrap) command = cgroup.wrap(...command);
    const proxy = start(`ours-${n}`, ...command, { logDir: dir, env: { BENCH_KEY: "sk-bench" } });
    await untilListening(port);
    const counts = {};
    for (let r = 0; r < rounds; r++) {
      for (const status of await Promise.all(Array.from({ length: n }, () => post(port, body)))) counts[status] = (counts[status] ?? 0) + 1;
    }
    const peak = cgroup.dir ? readFileSync(join(cgroup.dir, existsSync(join(cgroup.dir, "memory.peak")) ? "memory.peak" : "memory.max_usage_in_bytes"), "utf8") : null;
    // A kill is reported a moment after the connections it reset.
    const ended = await Promise.race([proxy.exited, new Promise((resolve) => setTimeout(() => resolve(null), 500))]);
    const alive = ended === null;
    const memory = cgroup.wrap ? `cgroup peak ${(Number(peak) / MiB).toFixed(0)} of ${limit / MiB} MiB` : `no memory limit (${cgroup.reason})`;
    console.log(`${n} concurrent: ${JSON.stringify(counts)}; proxy ${alive ? "alive" : `killed (${ended.signal ?? ended.code})`}; ${memory}`);
    await stop(proxy);
    cgroup.remove?.();
  }
}

runMain(main);
