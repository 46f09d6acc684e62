#!/usr/bin/env node
// The proxy benchmark: our proxy side by side with direct upstream, a bare
// undici forwarder, nginx, Portkey's gateway and LiteLLM, in one run, on this
// machine. See README.md for what is measured and how; `npm run bench` at the
// repository root runs setup.sh and then this.
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir, cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stop, stopAll, installCleanup, setPidLog, cpuSplit, peakRssMb, rssKb } from "./lib/procs.mjs";
import { runWrk, oneRequest, firstEventLatency, openStreams } from "./lib/load.mjs";
import { targets, startUpstream, CACHE } from "./lib/targets.mjs";
import { printReport } from "./lib/report.mjs";
import { SYSTEM, chatRequest } from "./lib/completion.mjs";
import http from "node:http";
import https from "node:https";

const env = process.env;
const list = (v, d) => (v ?? d).split(",").map((s) => s.trim()).filter(Boolean);
const opt = {
  duration: env.BENCH_DURATION ?? "10s",
  warmup: env.BENCH_WARMUP ?? "2s",
  only: list(env.BENCH_ONLY, targets.map((t) => t.name).join(",")),
  connections: list(env.BENCH_CONNECTIONS, "1,50").map(Number),
  kinds: list(env.BENCH_KINDS, "json,sse"),
  flavors: list(env.BENCH_FLAVORS, "plain,tls"),
  sseChunks: Number(env.BENCH_SSE_CHUNKS ?? 20),
  ttfbRequests: Number(env.BENCH_TTFB_REQUESTS ?? 200),
  bodies: list(env.BENCH_BODIES, "1000,100000,1000000").map(Number),
  curveConnections: Number(env.BENCH_CURVE_CONNECTIONS ?? 4),
  streams: Number(env.BENCH_STREAMS ?? 1000),
  directAgain: (env.BENCH_DIRECT_AGAIN ?? "1") === "1",
  rounds: Number(env.BENCH_ROUNDS ?? 3),
  roundDuration: env.BENCH_ROUND_DURATION ?? "8s",
  keep: env.BENCH_KEEP === "1",
  out: env.BENCH_OUT ?? null,
};
for (const name of opt.only) {
  if (!targets.some((t) => t.name === name)) {
    console.error(`bench: \`BENCH_ONLY\` names an unknown target \`${name}\`; known: ${targets.map((t) => t.name).join(", ")}`);
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), "ocp-bench-"));
setPidLog(join(dir, "pids"));
installCleanup(() => !opt.keep && rmSync(dir, { recursive: true, force: true }));
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---- the upstream's control channel ----------------------------------------

let controlUrl = "";
async function setMode(mode) {
  const r = await fetch(`${controlUrl}/__bench/mode`, { method: "POST", body: JSON.stringify(mode) });
  return r.json();
}
async function upstreamStats() {
  const r = await fetch(`${controlUrl}/__bench/stats`);
  return (await r.json()).stats;
}
const badCount = (s) => s.badKey + s.badPath + s.badModel + s.badBody + s.badJson;

// ---- request bodies ----------------------------------------------------------

const bodyCache = new Map();
/** A chat completion request of about `size` bytes (or the docs' example), written to a file for wrk. */
function body(model, stream, size = 0) {
  const key = `${model}|${stream}|${size}`;
  const hit = bodyCache.get(key);
  if (hit) return hit;
  const make = (system) => chatRequest(model, { system, stream });
  let system = SYSTEM;
  if (size > 0) system = "x".repeat(Math.max(0, size - make("").length));
  const buf = Buffer.from(make(system));
  const file = join(dir, `body-${bodyCache.size}.json`);
  writeFileSync(file, buf);
  const out = { buf, file, contentLength: system.length };
  bodyCache.set(key, out);
  return out;
}

// ---- readiness -------------------------------------------------------------------

async function waitReady(started, certs) {
  const { url, status } = started.ready;
  const deadline = Date.now() + (started.readyTimeoutMs ?? 30_000);
  let last = "";
  while (Date.now() < deadline) {
    if (started.child && started.child.exitCode !== null) break;
    try {
      const code = await new Promise((resolve, reject) => {
        const mod = url.startsWith("https") ? https : http;
        const req = mod.get(url, { ca: certs.caPem, timeout: 2000 }, (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
      });
      if (code === status) return;
      last = `status ${code}`;
    } catch (e) {
      last = e.code ?? e.message;
    }
    await sleep(100);
  }
  throw new Error(`not ready at ${url} (${last})${logTail(started.child)}`);
}

function logTail(child) {
  if (!child?.logFile || !existsSync(child.logFile)) return "";
  const lines = readFileSync(child.logFile, "utf8").trim().split("\n").slice(-15);
  return `\n  --- last lines of ${child.logFile}:\n  ${lines.join("\n  ")}`;
}

// ---- one target --------------------------------------------------------------------

async function smoke(ctx, t, started, flavor, stream) {
  const req = t.request(ctx, flavor, started);
  const b = body(req.model, stream);
  await setMode({ chunks: 5, delayMs: 0, contentLength: b.contentLength });
  const isTls = req.url.startsWith("https:");
  const agent = new (isTls ? https : http).Agent({ keepAlive: false, ...(isTls ? { ca: ctx.certs.caPem } : {}) });
  const r = await oneRequest({ mod: isTls ? https : http, agent }, req.url, req.headers, b.buf, { keepBody: true });
  const s = await upstreamStats();
  if (t.noUpstream) {
    if (s.requests !== 0) throw new Error(`smoke ${flavor}: ${t.name} never calls the upstream, which saw ${JSON.stringify(s)}`);
  } else if (s.requests !== 1 || s.ok !== 1) throw new Error(`smoke ${flavor} ${stream ? "sse" : "json"}: upstream saw ${JSON.stringify(s)}`);
  if (stream) {
    const tokens = r.body.split('"tok "').length - 1;
    if (tokens !== 5 || !r.body.includes("[DONE]"))
      throw new Error(`smoke ${flavor} sse: ${tokens}/5 chunks${r.body.includes("[DONE]") ? "" : ", no [DONE]"}: ${r.body.slice(0, 300)}`);
  } else if (!JSON.parse(r.body).usage) {
    throw new Error(`smoke ${flavor} json: no usage in ${r.body.slice(0, 300)}`);
  }
}

async function measure(ctx, t, started, pid, { flavor, kind, connections, size, duration }) {
  const req = t.request(ctx, flavor, started);
  const b = body(req.model, kind === "sse", size);
  const mode = { chunks: opt.sseChunks, delayMs: 0, contentLength: b.contentLength };
  const load = { url: req.url, headers: req.headers, bodyFile: b.file, connections, dir };
  await setMode(mode);
  await runWrk({ ...load, duration: opt.warmup });
  await setMode(mode);
  const cpu0 = cpuSplit(pid);
  const r = await runWrk({ ...load, duration });
  const cpu1 = cpuSplit(pid);
  const up = await upstreamStats();
  return {
    ...r,
    cpuUsPerReq: r.requests > 0 ? ((cpu1.user + cpu1.system - cpu0.user - cpu0.system) * 1e6) / r.requests : null,
    cpuSystemShare: cpu1.user + cpu1.system > cpu0.user + cpu0.system ? (cpu1.system - cpu0.system) / (cpu1.user + cpu1.system - cpu0.user - cpu0.system) : null,
    peakRssMb: peakRssMb(pid),
    upstreamRequests: up.requests,
    upstreamBad: badCount(up),
    upstreamDetail: up,
    bodyBytes: b.buf.length,
  };
}

/** Time to the first SSE event: sequential streams of 8 events 2 ms apart, with the upstream's mismatches. */
async function firstEvent(ctx, t, started, flavor) {
  const req = t.request(ctx, flavor, started);
  const b = body(req.model, true);
  await setMode({ chunks: 8, delayMs: 2, contentLength: b.contentLength });
  const fe = await firstEventLatency({ ...req, body: b.buf, ca: ctx.certs.caPem, count: opt.ttfbRequests });
  const up = await upstreamStats();
  return { ...fe, upstreamBad: badCount(up), upstreamRejected: up.rejected };
}

async function launch(ctx, t) {
  const started = await t.start(ctx);
  started.pid = started.child?.pid ?? ctx.upstreamPid;
  if (started.ready) await waitReady(started, ctx.certs);
  return started;
}

async function runTarget(ctx, t, label) {
  const result = { target: label, note: t.note, rows: [], firstEvent: {}, curves: [], streams: null };
  const reason = t.unavailable(ctx);
  if (reason) {
    log(`${label}: skipped: ${reason}`);
    return { ...result, skipped: reason };
  }
  log(`${label}: starting`);
  // Floors (floor.mjs) run only the loads that mean something for them.
  const flavors = opt.flavors.filter((x) => !t.flavors || t.flavors.includes(x));
  const kinds = opt.kinds.filter((x) => !t.kinds || t.kinds.includes(x));
  if (t.load) {
    try {
      result.rows = await floorClientRows(ctx, t, label, flavors);
    } catch (e) {
      result.error = String(e.message ?? e);
      log(`${label}: FAILED: ${result.error}`);
    }
    return result;
  }
  let started = null;
  try {
    started = await launch(ctx, t);
    if (started.note) result.note = started.note;
    const pid = started.pid;
    for (const flavor of flavors) for (const kind of kinds) await smoke(ctx, t, started, flavor, kind === "sse");
    for (const flavor of flavors) {
      for (const kind of kinds) {
        for (const connections of opt.connections) {
          const r = await measure(ctx, t, started, pid, { flavor, kind, connections, duration: opt.duration });
          result.rows.push({ flavor, kind, connections, ...r });
          log(
            `${label}: ${kind} c${connections} ${flavor}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, ` +
              `cpu ${r.cpuUsPerReq?.toFixed(1)} µs/req (${((r.cpuSystemShare ?? 0) * 100).toFixed(0)}% system), hwm ${r.peakRssMb.toFixed(1)} MB, errors ${r.errors}, upstream bad ${r.upstreamBad}`,
          );
        }
      }
    }
    result.peakRssMainMb = peakRssMb(pid);
    if (kinds.includes("sse") && opt.ttfbRequests > 0) {
      for (const flavor of flavors) {
        const fe = await firstEvent(ctx, t, started, flavor);
        result.firstEvent[flavor] = fe;
        log(`${label}: first SSE event ${flavor}: p50 ${fe.p50.toFixed(3)} ms (whole stream ${fe.totalP50.toFixed(2)} ms)`);
      }
    }
    for (const size of t.floor ? [] : opt.bodies) {
      const r = await measure(ctx, t, started, pid, {
        flavor: "plain",
        kind: "json",
        connections: opt.curveConnections,
        size,
        duration: opt.duration,
      });
      result.curves.push({ size, ...r });
      log(`${label}: body ${size} B: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(3)} ms, cpu ${r.cpuUsPerReq?.toFixed(1)} µs/req, upstream bad ${r.upstreamBad}`);
    }
    result.peakRssMb = peakRssMb(pid);
    if (opt.streams > 0 && t.name !== "direct" && !t.floor) {
      // A fresh process, so the garbage of the loads above does not blur the delta.
      result.exit = await stop(started.child, 15_000);
      started = await launch(ctx, t);
      await smoke(ctx, t, started, "plain", true);
      result.streams = await slowStreams(ctx, t, started, started.pid, label);
    }
  } catch (e) {
    result.error = String(e.message ?? e);
    log(`${label}: FAILED: ${result.error}${logTail(started?.child)}`);
  } finally {
    if (started?.child) result.exit = await stop(started.child, 15_000);
  }
  return result;
}

/** The undici client floor: its own closed-loop load (floor.mjs client), measured from inside. */
async function floorClientRows(ctx, t, label, flavors) {
  const rows = [];
  if (!flavors.includes("plain")) return rows;
  const seconds = wrkSeconds(opt.duration);
  for (const connections of opt.connections) {
    await setMode({ chunks: opt.sseChunks, delayMs: 0, contentLength: null });
    const r = await t.load(ctx, { connections, seconds, warmupSeconds: wrkSeconds(opt.warmup) });
    const up = await upstreamStats();
    const row = {
      flavor: "plain",
      kind: "json",
      connections,
      requests: r.requests,
      rps: r.requests / r.seconds,
      p50: r.p50,
      p99: r.p99,
      cpuUsPerReq: r.requests > 0 ? r.cpuUs / r.requests : null,
      cpuSystemShare: r.cpuUs > 0 ? r.systemUs / r.cpuUs : null,
      peakRssMb: null,
      errors: r.errors,
      upstreamRequests: up.requests,
      upstreamBad: badCount(up),
      upstreamDetail: up,
    };
    rows.push(row);
    log(`${label}: json c${connections} plain: ${row.rps.toFixed(0)} req/s, p50 ${row.p50?.toFixed(3)} ms, cpu ${row.cpuUsPerReq?.toFixed(1)} µs/req, errors ${row.errors}, upstream bad ${row.upstreamBad}`);
  }
  return rows;
}

/** wrk's duration syntax (`10s`, `1m`) in seconds. */
function wrkSeconds(d) {
  const m = /^(\d+(?:\.\d+)?)([smh]?)$/.exec(d);
  if (!m) throw new Error(`bench: \`${d}\` is not a duration like 10s or 1m`);
  return Number(m[1]) * { "": 1, s: 1, m: 60, h: 3600 }[m[2]];
}

async function slowStreams(ctx, t, started, pid, label) {
  const req = t.request(ctx, "plain", started);
  const b = body(req.model, true);
  await setMode({ chunks: 300, delayMs: 1000, contentLength: b.contentLength });
  await sleep(2000);
  const before = rssKb(pid);
  const s = await openStreams({ ...req, body: b.buf, ca: ctx.certs.caPem, count: opt.streams });
  await sleep(3000);
  const during = rssKb(pid);
  const up = await upstreamStats();
  s.close();
  const t0 = Date.now();
  let open = up.streamsOpen;
  while (open > 0 && Date.now() - t0 < 10_000) {
    await sleep(50);
    open = (await upstreamStats()).streamsOpen;
  }
  const r = {
    requested: opt.streams,
    opened: s.opened,
    failed: s.failed,
    errors: s.errors,
    upstreamOpen: up.streamsOpen,
    rssBeforeMb: before / 1024,
    rssOpenMb: during / 1024,
    kbPerStream: s.opened > 0 ? (during - before) / s.opened : null,
    upstreamReleasedMs: open === 0 ? Date.now() - t0 : null,
    upstreamBad: badCount(up),
  };
  log(
    `${label}: ${r.opened}/${r.requested} slow streams open (upstream sees ${r.upstreamOpen}), RSS ${r.rssBeforeMb.toFixed(1)} -> ${r.rssOpenMb.toFixed(1)} MB, ` +
      `${r.kbPerStream?.toFixed(1)} KB/stream, upstream released ${r.upstreamReleasedMs ?? "NOT within 10 s"} ms after client abort`,
  );
  await setMode({ chunks: opt.sseChunks, delayMs: 0, contentLength: null });
  return r;
}

// ---- rounds: the targets' headline loads, interleaved ------------------------------------

/** The targets the rounds cover: those issue 6's targets are checked against, and nginx for scale. */
const ROUND_TARGETS = ["direct", "ours", "floor-proxy", "nginx", "portkey", "litellm"];

/**
 * The loads the targets of issue 6 are read from (JSON at 50 and at 1 connection, and the first SSE
 * event, plain upstream), run in `opt.rounds` rounds that go through every target in turn, on fresh
 * processes all started at once: the machine's slow and fast minutes then fall on every target alike,
 * where each target's own loads above ran in a minute of its own. Medians per target.
 */
async function rounds(ctx, selected) {
  const chosen = selected.filter((t) => ROUND_TARGETS.includes(t.name) && !t.unavailable(ctx));
  // Without direct there is nothing to take the ratios and additions from.
  if (opt.rounds < 1 || chosen.length < 2 || !chosen.some((t) => t.name === "direct")) return null;
  const running = [];
  const out = { rounds: opt.rounds, duration: opt.roundDuration, targets: {} };
  try {
    for (const t of chosen) {
      const started = await launch(ctx, t);
      running.push({ t, started });
      await smoke(ctx, t, started, "plain", false);
      out.targets[t.label ?? t.name] = { json50: [], json1: [], firstEvent: [] };
    }
    for (let round = 1; round <= opt.rounds; round++) {
      // Each round in another order, so that no target always follows the same one.
      const order = round % 2 === 1 ? running : [...running].reverse();
      for (const { t, started } of order) {
        const acc = out.targets[t.label ?? t.name];
        for (const connections of [50, 1]) {
          const r = await measure(ctx, t, started, started.pid, { flavor: "plain", kind: "json", connections, duration: opt.roundDuration });
          (connections === 50 ? acc.json50 : acc.json1).push({ rps: r.rps, p50: r.p50, cpuUsPerReq: t.name === "direct" ? null : r.cpuUsPerReq, errors: r.errors, upstreamBad: r.upstreamBad, ...(r.upstreamBad > 0 ? { upstreamRejected: r.upstreamDetail.rejected } : {}) });
        }
        if (opt.ttfbRequests > 0) {
          const fe = await firstEvent(ctx, t, started, "plain");
          acc.firstEvent.push({ p50: fe.p50, upstreamBad: fe.upstreamBad, ...(fe.upstreamBad > 0 ? { upstreamRejected: fe.upstreamRejected } : {}) });
        }
        const last = acc.json50.at(-1);
        log(`round ${round}/${opt.rounds} ${t.label ?? t.name}: json c50 ${last.rps.toFixed(0)} req/s, cpu ${last.cpuUsPerReq?.toFixed(1) ?? "—"} µs/req; json c1 p50 ${acc.json1.at(-1).p50.toFixed(3)} ms; first event ${acc.firstEvent.at(-1)?.p50.toFixed(3) ?? "—"} ms`);
      }
    }
  } catch (e) {
    out.error = String(e.message ?? e);
    log(`rounds: FAILED: ${out.error}`);
  } finally {
    for (const { started } of running) if (started.child) await stop(started.child, 15_000);
  }
  return out;
}

// ---- main -----------------------------------------------------------------------------

async function main() {
  const startedAt = new Date();
  const { upstream, ctx } = await startUpstream(dir);
  const { ports, certs } = ctx;
  controlUrl = `http://127.0.0.1:${ports.plain}`;
  await waitReady({ child: upstream, ready: { url: `${controlUrl}/__bench/stats`, status: 200 } }, certs);
  log(`bench: temp dir ${dir}; upstream pid ${upstream.pid} on :${ports.plain} (plain) :${ports.tls} (TLS); options ${JSON.stringify(opt)}`);

  const load0 = loadavg();
  const results = [];
  const selected = targets.filter((t) => opt.only.includes(t.name));
  for (const t of selected) results.push(await runTarget(ctx, t, t.label ?? t.name));
  if (opt.directAgain && selected.length > 1 && opt.only.includes("direct")) {
    results.push(await runTarget(ctx, targets[0], "direct (again)"));
  }
  const interleaved = await rounds(ctx, selected);
  await stop(upstream);

  const report = {
    command: commandLine(),
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadavgBefore: load0, loadavgAfter: loadavg() },
    options: opt,
    results,
    rounds: interleaved,
  };
  // Kept after the run (the temp dir is not): `node proxy/bench/report.mjs <file>` prints its report again.
  const out = opt.out ?? join(CACHE, "results", `${report.startedAt.replace(/[:.]/g, "-")}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 2));
  console.log(printReport(report));
  log(`bench: results in ${out}`);
  return results.some((r) => r.error) || interleaved?.error ? 1 : 0;
}

function commandLine() {
  const vars = Object.entries(env)
    .filter(([k]) => k.startsWith("BENCH_"))
    .map(([k, v]) => `${k}=${v}`);
  return [...vars, "npm run bench"].join(" ");
}

main()
  .then(async (code) => {
    await stopAll();
    if (code !== 0 || opt.keep) console.error(`bench: logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  })
  .catch(async (e) => {
    console.error(e);
    await stopAll();
    console.error(`bench: logs kept in ${dir}`);
    process.exit(1);
  });
