#!/usr/bin/env node
// Summarises V8 .cpuprofile files (from `node --cpu-prof`, e.g. the bench's
// BENCH_OURS_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR") as text: the share of
// CPU samples by function (self and inclusive) and by file, so hot spots can
// be named precisely without a browser.
//   node proxy/bench/profile-summary.mjs DIR_OR_FILE... [--top N] [--filter SUBSTRING]
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const args = process.argv.slice(2);
let top = 30;
let filter = null;
const inputs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--top") top = Number(args[++i]);
  else if (args[i] === "--filter") filter = args[++i];
  else inputs.push(args[i]);
}
const files = inputs.flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => f.endsWith(".cpuprofile"))
        .map((f) => join(p, f))
    : [p],
);
if (files.length === 0) {
  console.error("usage: profile-summary.mjs DIR_OR_FILE... [--top N] [--filter SUBSTRING]");
  process.exit(2);
}

const cwd = process.cwd();
const where = (cf) => {
  let url = cf.url || "";
  if (url.startsWith("file://")) url = relative(cwd, url.slice(7));
  if (url.includes("node_modules/")) url = url.slice(url.lastIndexOf("node_modules/") + 13);
  return url || "(native)";
};
const label = (cf) => `${cf.functionName || "(anonymous)"} ${where(cf)}:${cf.lineNumber + 1}`;

/** node_modules package, `node:` core (http, streams, net...), our own files, or native. */
const pkgOf = (cf) => {
  const url = cf.url || "";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split("/");
    return rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith("node:")) return "node: core";
  if (url.startsWith("wasm://")) return "wasm (undici's llhttp)";
  if (url === "") {
    const n = cf.functionName;
    if (n === "(garbage collector)") return "(garbage collector)";
    if (n === "writev" || n === "writeBuffer" || n === "writeUtf8String" || n === "writeString" || n === "writeLatin1String") return "native: socket/file writes";
    return "native: other";
  }
  return where(cf);
};
const byPackage = new Map();
const self = new Map();
const inclusive = new Map();
const byFile = new Map();
let total = 0;
let idle = 0;

for (const file of files) {
  const prof = JSON.parse(readFileSync(file, "utf8"));
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const counts = new Map();
  for (const id of prof.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  for (const [id, count] of counts) {
    const node = nodes.get(id);
    const name = node.callFrame.functionName;
    if (name === "(idle)") {
      idle += count;
      continue;
    }
    total += count;
    const l = label(node.callFrame);
    self.set(l, (self.get(l) ?? 0) + count);
    const f = where(node.callFrame);
    byFile.set(f, (byFile.get(f) ?? 0) + count);
    const pk = pkgOf(node.callFrame);
    byPackage.set(pk, (byPackage.get(pk) ?? 0) + count);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const cl = label(nodes.get(cur).callFrame);
      if (seen.has(cl)) continue;
      seen.add(cl);
      inclusive.set(cl, (inclusive.get(cl) ?? 0) + count);
    }
  }
}

const pct = (n) => `${((100 * n) / total).toFixed(1).padStart(5)}%`;
const show = (title, map) => {
  console.log(`\n${title}`);
  [...map.entries()]
    .filter(([k]) => !filter || k.includes(filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([k, v]) => console.log(`${pct(v)}  ${k}`));
};
console.log(`${files.length} profile(s), ${total} busy samples (${idle} idle samples excluded)`);
show("self time by package (node_modules), node core, own file or native", byPackage);
show("self time by function", self);
show("self time by file", byFile);
show("inclusive time by function", inclusive);
