// How the proxy runs where users run it, so the benchmark measures that and
// nothing else: the node flags of the image's ENTRYPOINT (proxy/Dockerfile),
// and the memory limit of the component's default Deployment
// (DEFAULT_PROXY_RESOURCES in src/proxy-settings.ts), applied with a memory
// cgroup when this machine lets the harness create one. Node.js sizes its heap
// from that limit, as it does in the container.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const PROXY_DIR = resolve(import.meta.dirname, "..", "..");
const REPO_DIR = resolve(PROXY_DIR, "..");

/** The flags between `node` and the script in the Dockerfile's ENTRYPOINT. */
export function imageNodeFlags(dockerfile = join(PROXY_DIR, "Dockerfile")) {
  const m = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(dockerfile, "utf8"));
  if (!m) throw new Error(`${dockerfile}: no ENTRYPOINT in exec form`);
  const argv = JSON.parse(m[1]);
  const script = argv.findIndex((a) => a.endsWith("/cli.js"));
  if (!/\/node$/.test(argv[0]) || script < 1) throw new Error(`${dockerfile}: ENTRYPOINT is not node <flags> .../cli.js: ${m[1]}`);
  return argv.slice(1, script);
}

/** The default Deployment's memory limit in bytes, read from the component's source. */
export function deploymentMemoryLimit(source = join(REPO_DIR, "src", "proxy-settings.ts")) {
  const m = /DEFAULT_PROXY_RESOURCES\s*=\s*{[^;]*limits:\s*{\s*memory:\s*"(\d+)(Mi|Gi)"/.exec(readFileSync(source, "utf8"));
  if (!m) throw new Error(`${source}: DEFAULT_PROXY_RESOURCES.limits.memory not found`);
  return Number(m[1]) * (m[2] === "Gi" ? 2 ** 30 : 2 ** 20);
}

/**
 * A memory cgroup limited to `bytes` (cgroup v2, else v1), or `{ reason }` when
 * it cannot be made here (not root, no memory controller). `wrap(cmd, args)`
 * returns a command line that enters the cgroup, then execs `cmd` (same pid).
 */
export function memoryCgroup(name, bytes) {
  const candidates = [
    { root: "/sys/fs/cgroup", limitFile: "memory.max", ok: (r) => existsSync(join(r, "cgroup.controllers")) && readFileSync(join(r, "cgroup.controllers"), "utf8").includes("memory") },
    { root: "/sys/fs/cgroup/memory", limitFile: "memory.limit_in_bytes", ok: (r) => existsSync(join(r, "memory.limit_in_bytes")) },
  ];
  const reasons = [];
  for (const c of candidates) {
    if (!c.ok(c.root)) continue;
    const dir = join(c.root, name);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, c.limitFile), String(bytes));
      return {
        dir,
        wrap: (cmd, args) => ["/bin/sh", ["-c", `echo $$ > '${join(dir, "cgroup.procs")}' && exec "$@"`, "sh", cmd, ...args]],
        remove: () => {
          try {
            rmdirSync(dir);
          } catch {
            /* still has a process, or already gone */
          }
        },
      };
    } catch (err) {
      reasons.push(`${dir}: ${err.code ?? err.message}`);
    }
  }
  return { reason: reasons.length > 0 ? reasons.join("; ") : "no cgroup memory controller" };
}
