/**
 * The package README's options table says what the CLI does: the same flags as `--help`, each with the
 * environment variable the CLI reads and the default `--help` gives.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { USAGE } from "../src/cli";

const README = readFileSync(join(__dirname, "..", "README.md"), "utf8");

interface Row {
  flag: string;
  env: string;
  fallback: string;
}

/** The rows of the table under `## Options`: flag, environment variable and default, as written. */
function optionRows(): Row[] {
  const start = README.indexOf("\n## Options\n");
  const end = README.indexOf("\n## ", start + 1);
  return README.slice(start, end)
    .split("\n")
    .filter((line) => line.startsWith("| `--"))
    .map((line) => {
      const [flag, env, fallback] = line.split("|").slice(1, -1).map((cell) => cell.trim());
      return { flag: flag!.replace(/`/g, ""), env: /`([A-Z_]+(?:=false)?)`/.exec(env!)?.[1] ?? "", fallback: fallback!.replace(/`/g, "") };
    });
}

/** `--help`'s options other than help and version, with their default when it gives one. */
function usageOptions(): { flag: string; fallback: string }[] {
  const lines = USAGE.split("\n");
  return lines.flatMap((line, i) => {
    const m = /^ {2}(--[a-z-]+(?: [A-Z:.]+)?)\s+(.*)$/.exec(line);
    if (!m) return [];
    // A description may go on over the next, indented lines.
    let text = m[2]!;
    for (let j = i + 1; j < lines.length && /^ {20,}\S/.test(lines[j]!); j++) text += ` ${lines[j]!.trim()}`;
    return [{ flag: m[1]!, fallback: /\(default ([^;)]+)/.exec(text)?.[1] ?? "" }];
  });
}

/** The variables `--help` says the CLI reads. */
function usageEnv(): string[] {
  const paragraph = USAGE.slice(USAGE.indexOf("Every option can also be set"));
  return [...paragraph.matchAll(/OPENAI_COMPATIBLE_PROXY_[A-Z_]+(?:=false)?/g)].map(([name]) => name);
}

describe("proxy/README.md's options table", () => {
  it("lists every option --help lists, with its default", () => {
    const usage = usageOptions();
    expect(usage.length).toBeGreaterThanOrEqual(9);
    // `--no-watch` has no value; its default is "watching".
    const byFlag = (a: { flag: string }, b: { flag: string }) => a.flag.localeCompare(b.flag);
    expect(optionRows().map((r) => ({ flag: r.flag, fallback: r.flag === "--no-watch" ? "" : r.fallback })).sort(byFlag)).toEqual(usage.sort(byFlag));
  });

  it("names, for each option, the environment variable the CLI reads", () => {
    const rows = optionRows();
    expect(rows.map((r) => r.env).sort()).toEqual(usageEnv().sort());
    for (const r of rows) {
      const name = r.flag.split(" ")[0]!.replace(/^--(no-)?/, "").replace(/-/g, "_").toUpperCase();
      expect(r.env).toBe(`OPENAI_COMPATIBLE_PROXY_${name}${r.flag === "--no-watch" ? "=false" : ""}`);
    }
  });
});
