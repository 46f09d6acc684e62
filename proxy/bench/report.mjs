#!/usr/bin/env node
// Prints the report of an earlier benchmark run again, from the results file it wrote
// (`${XDG_CACHE_HOME:-~/.cache}/ocp-bench/results/<start time>.json`, or BENCH_OUT):
//   node proxy/bench/report.mjs FILE
import { readFileSync } from "node:fs";
import { printReport } from "./lib/report.mjs";

const file = process.argv[2];
if (!file) {
  console.error("usage: report.mjs RESULTS.json");
  process.exit(2);
}
console.log(printReport(JSON.parse(readFileSync(file, "utf8"))));
