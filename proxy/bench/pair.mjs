#!/usr/bin/env node
// Compares the CPU per JSON request of two builds of our proxy by running them
// at the same time: both pinned to CPU 1, the upstream and two wrk loads
// (json, 50 connections, plain upstream, the docs' request) pinned to CPU 0.
// Whatever the shared machine does during a round, it does to both builds, so
// the ratio B/A holds still where each build's own number moves by ±30%
// (README.md, "Paired comparison"). Needs 2 CPUs and `taskset`.
//
//   node proxy/bench/pair.mjs A/dist/cli.js B/dist/cli.js [rounds=3] [duration=8s] [connections=50] [json|sse]
//
// `sse` sends the docs' streaming request instead (the upstream answers 20 events).
// BENCH_PAIR_A_ARGS and BENCH_PAIR_B_ARGS add node flags to one build only (after
// the image's and BENCH_OURS_NODE_ARGS), to compare a flag against its absence:
//   BENCH_PAIR_B_ARGS=--single-threaded-gc node proxy/bench/pair.mjs proxy/dist/cli.js proxy/dist/cli.js 4
//
// Each build is started as the harness starts ours (the image's node flags;
// without the memory cgroup, so both share one limit-free setting), with
// NODE_PATH set to this checkout's dependencies. `floor` in place of a build
// is the least node:http + undici proxy (floor.mjs proxy, the harness's
// floor-proxy target), sent the upstream's own model since it rewrites none.
// The build started first alternates from round to round, so neither gets
// the small edge of starting second (README.md, "Paired comparison").
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execFileSync } from "node:child_process";
import { stop, installCleanup, cpuSplit, runMain, untilListening } from "./lib/procs.mjs";
import { runWrk } from "./lib/load.mjs";
import { targets, startUpstream } from "./lib/targets.mjs";
import { chatRequest } from "./lib/completion.mjs";

const [a, b, roundsArg, duration = "8s", connectionsArg = "50", kind = "json"] = process.argv.slice(2);
const connections = Number(connectionsArg);
const stream = kind === "sse";
if (!a || !b) {
  console.error("usage: node proxy/bench/pair.mjs A/cli.js|floor B/cli.js|floor [rounds] [duration] [connections] [json|sse]");
  process.exit(2);
}
const rounds = Number(roundsArg ?? 3);
const baseNodeArgs = process.env.BENCH_OURS_NODE_ARGS ?? "";
const buildNodeArgs = [process.env.BENCH_PAIR_A_ARGS ?? "", process.env.BENCH_PAIR_B_ARGS ?? ""];
const pin = (pid, cpu) => execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" });

const dir = mkdtempSync(join(tmpdir(), "ocp-pair-"));
installCleanup(() => rmSync(dir, { recursive: true, force: true }));

async function main() {
  pin(process.pid, 0); // the upstream and wrk inherit CPU 0
  const { upstream, ctx } = await startUpstream(dir);
  const ours = targets.find((t) => t.name === "ours");
  const floor = targets.find((t) => t.name === "floor-proxy");
  const bodies = new Map();
  const bodyFor = (model) => {
    if (!bodies.has(model)) {
      const file = join(dir, `body-${bodies.size}.json`);
      writeFileSync(file, chatRequest(model, { stream }));
      bodies.set(model, file);
    }
    return bodies.get(model);
  };
  const ratios = [];
  for (let round = 1; round <= rounds; round++) {
    const run = [];
    // Odd rounds start A first, even rounds B.
    const order = round % 2 === 1 ? [0, 1] : [1, 0];
    for (const i of order) {
      const build = [a, b][i];
      let target = floor;
      if (build !== "floor") {
        process.env.BENCH_OURS_CLI = resolve(build);
        process.env.BENCH_OURS_CGROUP = "0";
        process.env.BENCH_OURS_NODE_ARGS = `${baseNodeArgs} ${buildNodeArgs[i]}`;
        target = ours;
      }
      const started = await target.start(ctx);
      await untilListening(started.port);
      pin(started.child.pid, 1);
      const request = target.request(ctx, "plain", started);
      run[i] = { started, load: { url: request.url, headers: request.headers, bodyFile: bodyFor(request.model), connections, dir } };
    }
    await Promise.all(run.map((r) => runWrk({ ...r.load, duration: "2s" })));
    const before = run.map((r) => cpuSplit(r.started.child.pid));
    const loads = await Promise.all(run.map((r) => runWrk({ ...r.load, duration })));
    const after = run.map((r) => cpuSplit(r.started.child.pid));
    const us = run.map((_, i) => ((after[i].user + after[i].system - before[i].user - before[i].system) * 1e6) / loads[i].requests);
    for (const r of run) await stop(r.started.child);
    const errors = loads.map((l) => l.errors);
    ratios.push(us[1] / us[0]);
    console.log(`round ${round}: A ${us[0].toFixed(1)} µs/req, B ${us[1].toFixed(1)} µs/req, B/A ${(us[1] / us[0]).toFixed(3)} (requests ${loads[0].requests}/${loads[1].requests}, errors ${errors.join("/")})`);
  }
  await stop(upstream);
  const sorted = [...ratios].sort((x, y) => x - y);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
  const geomean = Math.exp(ratios.reduce((sum, r) => sum + Math.log(r), 0) / ratios.length);
  const flags = (i) => (buildNodeArgs[i] ? ` ${buildNodeArgs[i]}` : "");
  console.log(`B/A median ${median.toFixed(3)}, geometric mean ${geomean.toFixed(3)} over ${rounds} rounds (A = ${a}${flags(0)}, B = ${b}${flags(1)})`);
}

runMain(main);
