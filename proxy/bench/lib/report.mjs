// Renders the benchmark's results as Markdown tables (pasteable into README.md),
// and checks our proxy against the targets of issue 6.

const f = (v, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? "—" : v.toFixed(d));
const signed = (v, d = 3) => (v === null || v === undefined ? "—" : `${v >= 0 ? "+" : ""}${v.toFixed(d)}`);
const table = (head, rows) =>
  [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

const scenarioKey = (r) => `${r.kind} c${r.connections} ${r.flavor}`;

/** The direct rows to compare against: the mean of the first and the repeated direct run. */
function directBaseline(results) {
  const runs = results.filter((r) => r.target.startsWith("direct") && !r.skipped && !r.error);
  const rows = new Map();
  const firstEvent = {};
  for (const run of runs) {
    for (const row of run.rows) {
      const k = scenarioKey(row);
      const acc = rows.get(k) ?? { rps: 0, p50: 0, p99: 0, n: 0 };
      acc.rps += row.rps;
      acc.p50 += row.p50;
      acc.p99 += row.p99;
      acc.n++;
      rows.set(k, acc);
    }
    for (const [flavor, fe] of Object.entries(run.firstEvent)) {
      const acc = firstEvent[flavor] ?? { p50: 0, n: 0 };
      acc.p50 += fe.p50;
      acc.n++;
      firstEvent[flavor] = acc;
    }
  }
  for (const acc of rows.values()) for (const k of ["rps", "p50", "p99"]) acc[k] /= acc.n;
  for (const acc of Object.values(firstEvent)) acc.p50 /= acc.n;
  const curves = new Map();
  for (const run of runs) for (const c of run.curves) if (!curves.has(c.size)) curves.set(c.size, c);
  return { rows, firstEvent, curves };
}

export function printReport(report) {
  const { results } = report;
  const base = directBaseline(results);
  const out = [];
  const minConn = Math.min(...results.flatMap((r) => r.rows.map((row) => row.connections)));

  out.push(`## Results (${report.startedAt.slice(0, 16)}Z, ${report.machine.cpus} CPUs ${report.machine.cpu}, node ${report.machine.node})`);
  out.push("");
  out.push(
    `Load average before ${report.machine.loadavgBefore.map((x) => x.toFixed(2)).join(" ")}, after ${report.machine.loadavgAfter.map((x) => x.toFixed(2)).join(" ")}. ` +
      `Each load ${report.options.duration} after ${report.options.warmup} warm-up; wrk -t1; SSE = ${report.options.sseChunks} chunks.`,
  );
  out.push("");
  out.push(sideBySide(results, base, minConn));
  out.push("");
  if (report.rounds) {
    out.push(roundsTable(report.rounds));
    out.push("");
  }
  out.push("### Every load");
  out.push("");
  const rows = [];
  for (const res of results) {
    if (res.skipped || (res.error && res.rows.length === 0)) {
      rows.push([res.target, res.skipped ? `skipped: ${res.skipped}` : `FAILED: ${res.error.split("\n")[0]}`, ...Array(12).fill("")]);
      continue;
    }
    const isDirect = res.target.startsWith("direct");
    for (const row of res.rows) {
      const d = base.rows.get(scenarioKey(row));
      const fe = row.kind === "sse" && row.connections === minConn ? res.firstEvent[row.flavor] : undefined;
      const dfe = base.firstEvent[row.flavor];
      rows.push([
        res.target,
        scenarioKey(row),
        f(row.rps, 0),
        d ? f(row.rps / d.rps, 2) : "—",
        f(row.p50, 3),
        f(row.p99, 3),
        d && !isDirect ? signed(row.p50 - d.p50) : "—",
        d && !isDirect ? signed(row.p99 - d.p99) : "—",
        isDirect ? "—" : f(row.cpuUsPerReq, 1),
        isDirect ? "—" : f(row.peakRssMb, 1),
        fe ? f(fe.p50, 3) : "",
        fe && dfe && !isDirect ? signed(fe.p50 - dfe.p50) : "",
        `${row.errors}${row.upstreamBad ? ` / ${row.upstreamBad} bad` : ""}`,
      ]);
    }
  }
  out.push(
    table(
      ["target", "load", "req/s", "× direct", "p50 ms", "p99 ms", "+p50 ms", "+p99 ms", "CPU µs/req", "peak RSS MB", "1st event ms", "+1st event ms", "errors / upstream bad"],
      rows,
    ),
  );
  out.push("");
  out.push("Targets:");
  for (const res of results) if (!res.skipped) out.push(`- ${res.target}: ${res.note}${res.error ? ` — FAILED: ${res.error.split("\n")[0]}` : ""}`);

  const curveRows = [];
  for (const res of results) {
    for (const c of res.curves) {
      const d = base.curves.get(c.size);
      const isDirect = res.target.startsWith("direct");
      curveRows.push([
        res.target,
        `${(c.bodyBytes / 1000).toFixed(c.bodyBytes < 10_000 ? 1 : 0)} kB`,
        f(c.rps, 0),
        d ? f(c.rps / d.rps, 2) : "—",
        f(c.p50, 3),
        f(c.p99, 3),
        isDirect ? "—" : f(c.cpuUsPerReq, 1),
        isDirect ? "—" : f(c.cpuUsPerReq / (c.bodyBytes / 1000), 2),
        `${c.errors}${c.upstreamBad ? ` / ${c.upstreamBad} bad` : ""}`,
      ]);
    }
  }
  if (curveRows.length) {
    out.push("");
    out.push(`### Cost curve: request body size (JSON, model override, plain upstream, ${report.options.curveConnections} connections)`);
    out.push("");
    out.push(table(["target", "body", "req/s", "× direct", "p50 ms", "p99 ms", "CPU µs/req", "CPU µs/kB", "errors / upstream bad"], curveRows));
  }

  const streamRows = results
    .filter((r) => r.streams)
    .map((r) => {
      const s = r.streams;
      return [
        r.target,
        `${s.opened}/${s.requested}${s.failed ? ` (${Object.entries(s.errors).map(([k, v]) => `${v}× ${k}`).join(", ")})` : ""}` +
          (s.opened + s.failed < s.requested ? ` (${s.requested - s.opened - s.failed} still waiting after 60 s)` : ""),
        String(s.upstreamOpen),
        f(s.rssBeforeMb, 1),
        f(s.rssOpenMb, 1),
        f(s.kbPerStream, 1),
        s.upstreamReleasedMs === null ? "NOT within 10 s" : `${s.upstreamReleasedMs} ms`,
      ];
    });
  if (streamRows.length) {
    out.push("");
    out.push("### Cost curve: concurrent slow SSE streams (one event per second each)");
    out.push("");
    out.push(table(["target", "streams open", "open at upstream", "RSS before MB", "RSS open MB", "KB per stream", "upstream closed after client abort"], streamRows));
  }

  out.push("");
  out.push(checkTargets(results, base, report.rounds));
  return out.join("\n");
}

const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const range = (xs, d) => {
  const v = xs.filter((x) => x !== null && x !== undefined);
  return v.length > 1 ? ` (${f(Math.min(...v), d)}–${f(Math.max(...v), d)})` : "";
};

/** Medians of the interleaved rounds, per target, and what they add over `direct`'s medians. */
function roundMedians(rounds) {
  if (!rounds || rounds.error) return null;
  const direct = rounds.targets.direct;
  if (!direct) return null;
  const d50 = median(direct.json50.map((r) => r.rps));
  const d1 = median(direct.json1.map((r) => r.p50));
  const dfe = median(direct.firstEvent.map((r) => r.p50));
  const by = {};
  for (const [label, acc] of Object.entries(rounds.targets)) {
    const rps = median(acc.json50.map((r) => r.rps));
    const p1 = median(acc.json1.map((r) => r.p50));
    const fe = median(acc.firstEvent.map((r) => r.p50));
    by[label] = {
      rps,
      ratio: rps !== null && d50 ? rps / d50 : null,
      cpu: median(acc.json50.map((r) => r.cpuUsPerReq)),
      added1: p1 !== null && d1 !== null ? p1 - d1 : null,
      feAdded: fe !== null && dfe !== null ? fe - dfe : null,
      bad: [...acc.json50, ...acc.json1, ...acc.firstEvent].reduce((n, r) => n + (r.errors ?? 0) + (r.upstreamBad ?? 0), 0),
      acc,
    };
  }
  return by;
}

function roundsTable(rounds) {
  if (rounds.error) return `### Interleaved rounds: FAILED: ${rounds.error.split("\n")[0]}`;
  const by = roundMedians(rounds);
  if (!by) return "### Interleaved rounds: not run (direct did not run)";
  const rows = Object.entries(by).map(([label, m]) => [
    label,
    `${f(m.rps, 0)} (${f(m.ratio, 2)}×)`,
    label === "direct" ? "—" : `${f(m.cpu, 1)}${range(m.acc.json50.map((r) => r.cpuUsPerReq), 1)}`,
    label === "direct" ? "—" : signed(m.added1),
    label === "direct" ? "—" : signed(m.feAdded),
    String(m.bad),
  ]);
  return [
    `### Interleaved rounds: medians of ${rounds.rounds} (JSON and first event, plain upstream, ${rounds.duration} loads)`,
    "",
    "Fresh processes, all started at once; each round runs every target's loads in turn (the order reversed every other round), so a slow minute of the machine falls on all of them. The targets below are checked on these medians.",
    "",
    table(["target", "JSON req/s at 50 conn. (× direct)", "CPU µs per JSON request (range)", "+p50 ms at 1 conn.", "+1st SSE event ms", "errors / upstream bad"], rows),
  ].join("\n");
}

/**
 * One row per target with the numbers issue 6 sets targets on, side by side: what a reader compares first.
 * The full table of every load follows it.
 */
function sideBySide(results, base, minConn) {
  const rows = [];
  for (const res of results) {
    if (res.skipped || res.target.startsWith("direct (again)") || res.target.startsWith("floor: node:http") || res.target.startsWith("floor: undici")) continue;
    const isDirect = res.target.startsWith("direct");
    const at = (k) => res.rows.find((r) => scenarioKey(r) === k);
    const json50 = at("json c50 plain");
    const json1 = at("json c1 plain");
    const d50 = base.rows.get("json c50 plain");
    const d1 = base.rows.get("json c1 plain");
    const fe = res.firstEvent.plain;
    const dfe = base.firstEvent.plain;
    const mb = res.curves.find((c) => c.bodyBytes >= 1_000_000);
    rows.push([
      res.target,
      json50 ? `${f(json50.rps, 0)} (${f(d50 ? json50.rps / d50.rps : null, 2)}×)` : "—",
      isDirect ? "—" : f(json50?.cpuUsPerReq, 1),
      isDirect || !json1 || !d1 ? "—" : signed(json1.p50 - d1.p50),
      isDirect || !fe || !dfe || minConn !== 1 ? "—" : signed(fe.p50 - dfe.p50),
      isDirect ? "—" : f(res.peakRssMainMb, 1),
      isDirect ? "—" : f(res.streams?.kbPerStream, 1),
      isDirect || !mb ? "—" : f(mb.cpuUsPerReq / (mb.bodyBytes / 1000), 2),
    ]);
  }
  return [
    "### Side by side (JSON and first event, plain upstream: each target's own loads)",
    "",
    table(
      ["target", "JSON req/s at 50 conn. (× direct)", "CPU µs per JSON request", "+p50 ms at 1 conn.", "+1st SSE event ms", "peak RSS MB", "KB per idle stream", "CPU µs/kB, 1 MB body"],
      rows,
    ),
  ].join("\n");
}

function checkTargets(results, base, rounds) {
  const ours = results.find((r) => r.target === "ours" && !r.skipped);
  if (!ours || ours.rows.length === 0) return "Targets of issue 6: not checked (ours did not run).";
  const medians = roundMedians(rounds);
  // CPU, throughput, latency and first event: the rounds' medians when they ran, else each target's own loads.
  const by = medians?.ours ? medians : ownLoads(results, base);
  const leastResult = results.find((r) => r.target.startsWith("floor: least") && !r.skipped && !r.error);
  const lines = [
    "### Targets of issue 6 (ours)",
    "",
    medians?.ours
      ? `CPU, throughput, latency and first event: medians of the ${rounds.rounds} interleaved rounds; memory: the loads above. In brackets: the same number for the least node:http + undici proxy (\`floor-proxy\`), when it ran.`
      : "In brackets: the same number for the least node:http + undici proxy (`floor-proxy`) in this run, when it ran.",
    "",
  ];
  const o = by.ours;
  // The floor: what the least proxy on the same stack measures, for the same target.
  const least = Object.entries(by).find(([label]) => label.startsWith("floor: least"))?.[1];
  const bracket = (v, fmt) => (least && v !== null && v !== undefined ? ` [${fmt(v)}]` : "");
  // A load with errors or upstream mismatches meets nothing: a fast wrong answer must not pass.
  const check = (name, value, ok, detail, floor = "") =>
    lines.push(`- ${value === null || value === undefined ? "NOT MEASURED" : ok && o.bad === 0 ? "met" : "MISSED"}: ${name}: ${detail}${o.bad > 0 ? ` (${o.bad} errors or upstream mismatches in the rounds)` : ""}${floor}`);
  check("CPU per JSON request ≤ 60 µs (json c50 plain)", o.cpu, o.cpu <= 60, `${f(o.cpu)} µs`, bracket(least?.cpu, (v) => `${f(v)} µs`));
  check("JSON throughput at 50 connections ≥ 0.5× direct", o.ratio, o.ratio >= 0.5, `${f(o.ratio, 2)}×`, bracket(least?.ratio, (v) => `${f(v, 2)}×`));
  for (const peer of ["portkey", "litellm"]) {
    const p = by[peer];
    const x = o.rps !== null && p?.rps ? o.rps / p.rps : null;
    check(`JSON throughput at 50 connections ≥ 15× ${peer}`, x, x >= 15, `${f(x, 1)}×`);
  }
  check("latency added at 1 connection ≤ 0.15 ms at p50", o.added1, o.added1 <= 0.15, `${signed(o.added1)} ms`, bracket(least?.added1, (v) => `${signed(v)} ms`));
  check("first SSE event ≤ 0.3 ms later than direct", o.feAdded, o.feAdded <= 0.3, `${signed(o.feAdded)} ms`, bracket(least?.feAdded, (v) => `${signed(v)} ms`));
  const leastRss = leastResult?.peakRssMainMb;
  check("peak RSS under the 50-connection load ≤ 80 MB", ours.peakRssMainMb, ours.peakRssMainMb <= 80, `${f(ours.peakRssMainMb)} MB`, leastRss ? ` [${f(leastRss)} MB]` : "");
  const kb = ours.streams?.kbPerStream;
  check("each idle open stream < 50 KB", kb, kb < 50, `${f(kb)} KB`);
  return lines.join("\n");
}

/** The numbers {@link roundMedians} gives, from each target's own loads (plain upstream), by target. */
function ownLoads(results, base) {
  const d50 = base.rows.get("json c50 plain");
  const d1 = base.rows.get("json c1 plain");
  const dfe = base.firstEvent.plain;
  const by = {};
  for (const res of results) {
    if (res.skipped || (res.target.startsWith("floor: least") && res.error)) continue;
    const json50 = res.rows.find((r) => scenarioKey(r) === "json c50 plain");
    const json1 = res.rows.find((r) => scenarioKey(r) === "json c1 plain");
    const fe = res.firstEvent.plain;
    by[res.target] = {
      rps: json50?.rps ?? null,
      ratio: json50 && d50 ? json50.rps / d50.rps : null,
      cpu: json50?.cpuUsPerReq,
      added1: json1 && d1 ? json1.p50 - d1.p50 : null,
      feAdded: fe && dfe ? fe.p50 - dfe.p50 : null,
      bad: 0,
    };
  }
  return by;
}
