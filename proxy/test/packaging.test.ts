/**
 * What ships: the package's bin, exports and files point at real files; the translate subpath loads
 * no server code at run time; the Dockerfile copies only files that exist and that its ignore file lets in.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "..");
const REPO = join(ROOT, "..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  bin: Record<string, string>;
  exports: Record<string, { types: string; default: string }>;
  files: string[];
};

describe("the package", () => {
  it("has a committed bin shim that runs the built CLI", () => {
    const bin = pkg.bin["openai-compatible-proxy"]!;
    expect(bin).toBe("bin/openai-compatible-proxy.js");
    expect(readFileSync(join(ROOT, bin), "utf8")).toMatch(/^#!\/usr\/bin\/env node\n[\s\S]*require\("\.\.\/dist\/cli\.js"\)\.main\(\);/);
    const help = execFileSync(process.execPath, [join(ROOT, bin), "--help"], { encoding: "utf8" });
    expect(help).toContain("Usage: openai-compatible-proxy");
  });

  it("exports built files", () => {
    for (const entry of Object.values(pkg.exports).filter((e) => typeof e === "object")) {
      expect(existsSync(join(ROOT, entry.default))).toBe(true);
      expect(existsSync(join(ROOT, entry.types))).toBe(true);
    }
    expect(pkg.files.sort()).toEqual(["bin", "dist", "docs", "schema"]);
  });

  it("loads openai-compatible-proxy/translate without any server module", () => {
    const script = `
      require(${JSON.stringify(join(ROOT, "dist", "translate", "index.js"))});
      const loaded = Object.keys(require.cache).filter((f) => f.includes("node_modules")).map((f) => f.split("node_modules/").pop().split("/")[0]);
      process.stdout.write(JSON.stringify([...new Set(loaded)].sort()));
    `;
    expect(JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }))).toEqual(["zod"]);
  });
  it("loads undici's Pool and connector without the rest of undici, and they are what undici exports", () => {
    const script = `
      const { Pool, buildConnector } = require(${JSON.stringify(join(ROOT, "dist", "server", "upstream-pools.js"))});
      const undiciFiles = Object.keys(require.cache).filter((f) => f.includes("/undici/"));
      const indexLoaded = undiciFiles.some((f) => f.endsWith("/undici/index.js"));
      const fetchLoaded = undiciFiles.some((f) => f.includes("/undici/lib/web/"));
      process.stdout.write(JSON.stringify({ indexLoaded, fetchLoaded, same: Pool === require("undici").Pool && buildConnector === require("undici").buildConnector }));
    `;
    expect(JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8", cwd: ROOT }))).toEqual({ indexLoaded: false, fetchLoaded: false, same: true });
  });
});

describe("the Dockerfile", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  const ignore = readFileSync(join(ROOT, "Dockerfile.dockerignore"), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("!"))
    .map((l) => l.slice(1).replace(/\/\*\*$/, ""));

  it("copies only files that exist and that the ignore file lets into the context", () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(" "));
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      expect(existsSync(join(REPO, source))).toBe(true);
      expect(ignore.some((allowed) => source === allowed || source.startsWith(`${allowed}/`))).toBe(true);
    }
  });

  it("starts node with flags this Node.js accepts, then the CLI", () => {
    const argv = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    expect(argv[0]).toBe("/nodejs/bin/node");
    expect(argv.at(-1)).toBe("/app/proxy/dist/cli.js");
    const flags = argv.slice(1, -1);
    expect(flags.length).toBeGreaterThan(0);
    // V8 rejects an unknown flag with "bad option" and a non-zero exit.
    expect(execFileSync(process.execPath, [...flags, "-e", "process.stdout.write('ok')"], { encoding: "utf8" })).toBe("ok");
  });

  it("runs as a non-root user with production dependencies only", () => {
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
    expect(dockerfile).toMatch(/npm ci --workspace proxy --omit=dev/);
    expect(dockerfile).toMatch(/^FROM gcr\.io\/distroless\/nodejs\$\{NODE_VERSION\}-debian12:nonroot$/m);
  });
});
