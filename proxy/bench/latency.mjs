#!/usr/bin/env node
// Latency added at one connection, interleaved: short blocks of sequential
// requests, rotating between the upstream itself, the least node:http + undici
// proxy (floor.mjs proxy) and ours, so that whatever the shared machine does
// during the run falls on all three alike. The harness measures each target in its
// own minute, and on this VM one minute's first-event time differs from the
// next by ±0.15 ms, as much as the targets it checks (README.md, "Interleaved
// latency").
//
//   node proxy/bench/latency.mjs [OURS/cli.js=proxy/dist/cli.js] [requests=600]
//
// Two loads, each `requests` measured requests per target, one at a time over
// the target's own keep-alive connection, in blocks of 20 of which the first 4
// warm the target up again and are not counted (one request at a time rotating
// through the three would measure each target cold, woken from idle every
// time): the docs' JSON request (the whole response), and the docs' streaming
// request against an upstream sending 8 events 2 ms apart (the time to the
// first event). Ours runs with the image's node flags and no
// memory cgroup (the least proxy has none either). The upstream counts every
// request that arrived with a wrong key, path, model or body; the run fails
// if there is one.
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chatRequest, SYSTEM } from "./lib/completion.mjs";
import { oneRequest } from "./lib/load.mjs";
import { installCleanup, runMain, stop, untilListening } from "./lib/procs.mjs";
import { PROXY_DIR, startUpstream, targets } from "./lib/targets.mjs";

const [cliArg, countArg] = process.argv.slice(2);
const cli = resolve(cliArg ?? join(PROXY_DIR, "dist", "cli.js"));
const count = Number(countArg ?? 600);
const BLOCK = 20;
const REWARM = 4;

const dir = mkdtempSync(join(tmpdir(), "ocp-latency-"));
installCleanup(() => rmSync(dir, { recursive: true, force: true }));

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

async function main() {
  const { upstream, ctx } = await startUpstream(dir);
  const control = `http://127.0.0.1:${ctx.ports.plain}/__bench`;
  process.env.BENCH_OURS_CLI = cli;
  process.env.BENCH_OURS_CGROUP = "0";
  const runs = [];
  for (const name of ["direct", "floor-proxy", "ours"]) {
    const target = targets.find((t) => t.name === name);
    const started = await target.start(ctx);
    if (started.port) await untilListening(started.port);
    runs.push({ name, started, request: target.request(ctx, "plain", started), agent: new http.Agent({ keepAlive: true, maxSockets: 1 }) });
  }
  const setMode = (mode) => fetch(`${control}/mode`, { method: "POST", body: JSON.stringify(mode) }).then((r) => r.json());
  const results = {};
  for (const kind of ["json", "sse"]) {
    await setMode({ chunks: kind === "sse" ? 8 : 5, delayMs: kind === "sse" ? 2 : 0, contentLength: SYSTEM.length });
    const samples = runs.map(() => []);
    const blocks = Math.ceil(count / (BLOCK - REWARM));
    for (let b = 0; b < blocks; b++) {
      for (let k = 0; k < runs.length; k++) {
        const j = (b + k) % runs.length; // each target goes first, second and third in turn
        const run = runs[j];
        const body = Buffer.from(chatRequest(run.request.model, { stream: kind === "sse" }));
        for (let i = 0; i < BLOCK; i++) {
          const r = await oneRequest({ mod: http, agent: run.agent }, run.request.url, run.request.headers, body);
          if (i >= REWARM && samples[j].length < count) samples[j].push(kind === "sse" ? r.firstEventMs : r.totalMs);
        }
      }
    }
    results[kind] = runs.map((run, j) => ({ name: run.name, p50: quantile(samples[j], 0.5), p90: quantile(samples[j], 0.9) }));
  }
  const stats = (await (await fetch(`${control}/stats`)).json()).stats;
  const bad = stats.badKey + stats.badPath + stats.badModel + stats.badBody + stats.badJson;
  for (const run of runs) {
    run.agent.destroy();
    if (run.started.child) await stop(run.started.child);
  }
  await stop(upstream);
  console.log(`${count} requests per target and load, in interleaved blocks of ${BLOCK} (the first ${REWARM} of each not counted); ours: ${cli}`);
  for (const [kind, label] of [["json", "JSON request, whole response"], ["sse", "streaming request, first event (8 events 2 ms apart)"]]) {
    const direct = results[kind][0].p50;
    console.log(`\n${label}`);
    for (const r of results[kind]) {
      const added = r.name === "direct" ? "" : `   added over direct at p50 ${(r.p50 - direct >= 0 ? "+" : "") + (r.p50 - direct).toFixed(3)} ms`;
      console.log(`  ${r.name.padEnd(12)} p50 ${r.p50.toFixed(3)} ms  p90 ${r.p90.toFixed(3)} ms${added}`);
    }
  }
  console.log(`\nupstream: ${stats.requests} requests, ${bad} with a wrong key, path, model or body`);
  if (bad > 0) process.exitCode = 1;
}

runMain(main);
