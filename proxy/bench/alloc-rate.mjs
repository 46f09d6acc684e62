#!/usr/bin/env node
// Bytes the proxy allocated on V8's heap per request, from one log that holds
// both node's --trace-gc lines and the proxy's request lines (its stdout).
// Unlike CPU time, this barely moves with the machine's other load, so it
// compares two builds on a shared machine:
//
//   BENCH_OURS_NODE_ARGS=--trace-gc BENCH_KEEP=1 BENCH_ONLY=ours BENCH_KINDS=json \
//     BENCH_FLAVORS=plain BENCH_CONNECTIONS=50 BENCH_TTFB_REQUESTS=0 BENCH_STREAMS=0 BENCH_BODIES= npm run bench
//   node proxy/bench/alloc-rate.mjs <the temp dir it prints>/ours.log
//
// Allocation between two collections is the heap size before the second
// minus the size after the first; requests are the log's "request" lines.
//
// With --trace-gc-nvp instead of --trace-gc (one name=value line per
// collection), it also prints what young-generation collections promoted to
// the old generation per request: objects that outlived two of them. That is
// what makes the old generation grow between full collections, and with it
// the peak memory (README.md, fix 16).
import { readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
  console.error("usage: node proxy/bench/alloc-rate.mjs <log with --trace-gc output and request lines>");
  process.exit(2);
}
const GC = /(Scavenge|Mark-Compact|Mark-Sweep|Minor Mark-Sweep)\S*\s+([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/;
let previousAfter = null;
let allocatedMb = 0;
let collections = 0;
let major = 0;
let requests = 0;
let promotedBytes = 0;
const ALLOCATED = /\ballocated=(\d+)/;
const PROMOTED = /\bpromoted=(\d+)/;
const nvp = (line, re) => Number(re.exec(line)?.[1] ?? 0);
for (const line of readFileSync(file, "utf8").split("\n")) {
  if (line.includes('"msg":"request"')) {
    requests++;
    continue;
  }
  if (line.includes(" gc=")) {
    // --trace-gc-nvp: the bytes allocated since the previous collection are given as such.
    allocatedMb += nvp(line, ALLOCATED) / 2 ** 20;
    promotedBytes += nvp(line, PROMOTED);
    collections++;
    if (!line.includes(" gc=s ")) major++;
    continue;
  }
  const m = GC.exec(line);
  if (!m) continue;
  const before = Number(m[2]);
  const after = Number(m[4]);
  if (previousAfter !== null && before > previousAfter) allocatedMb += before - previousAfter;
  previousAfter = after;
  collections++;
  if (m[1] !== "Scavenge") major++;
}
if (collections < 2 || requests === 0) {
  console.error(`${file}: ${collections} collections and ${requests} request lines; run the proxy with --trace-gc under load`);
  process.exit(1);
}
console.log(
  `${requests} requests, ${collections} collections (${major} major), ${allocatedMb.toFixed(0)} MB allocated: ` +
    `${((allocatedMb * 1024) / requests).toFixed(1)} KB per request` +
    (promotedBytes > 0 ? `; ${(promotedBytes / 2 ** 20).toFixed(1)} MB promoted: ${(promotedBytes / requests).toFixed(0)} bytes per request` : ""),
);
