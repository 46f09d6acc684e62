// Child processes of the benchmark: started with a recorded pid, measured
// through /proc, and stopped by that pid only (never by name).
import { spawn } from "node:child_process";
import net from "node:net";
import { openSync, closeSync, readFileSync, readdirSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** pid -> { name, child } for every process this run started and has not reaped. */
const running = new Map();
let pidLog = null;

/** Every started pid is also appended here, so a crashed run can be cleaned up by hand. */
export function setPidLog(file) {
  pidLog = file;
}

/**
 * Starts `cmd args` in its own process group (so helpers it forks, such as
 * nginx's worker, can be signalled through the group of the recorded pid),
 * with stdout and stderr appended to `<logDir>/<name>.log`.
 */
export function start(name, cmd, args, { env = {}, logDir, cwd } = {}) {
  const logFile = join(logDir, `${name}.log`);
  const fd = openSync(logFile, "a");
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", fd, fd],
    detached: true,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${name}: ${cmd}`);
  running.set(child.pid, { name, child });
  if (pidLog) appendFileSync(pidLog, `${child.pid} ${name}\n`);
  child.exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(child.pid);
      resolve({ code, signal });
    });
  });
  child.logFile = logFile;
  child.benchName = name;
  return child;
}

/** Records a short-lived child started elsewhere (a wrk run), so an interrupt stops it too. */
export function track(child, name) {
  if (child.pid === undefined) return;
  running.set(child.pid, { name, child });
  child.once("exit", () => running.delete(child.pid));
}

function signalGroup(pid, sig) {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. */
export async function stop(child, graceMs = 5000) {
  if (!running.has(child.pid)) return child.exited;
  signalGroup(child.pid, "SIGTERM");
  const status = await Promise.race([child.exited, sleep(graceMs).then(() => null)]);
  if (status) {
    signalGroup(child.pid, "SIGKILL"); // leftovers of the group, if any
    return status;
  }
  signalGroup(child.pid, "SIGKILL");
  return child.exited;
}

/** Synchronous last resort for exit and signal handlers. */
export function killAllSync() {
  for (const pid of running.keys()) signalGroup(pid, "SIGKILL");
}

export async function stopAll() {
  await Promise.all([...running.values()].map(({ child }) => stop(child, 3000)));
}

let cleanupInstalled = false;
export function installCleanup(onSignal) {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on("exit", killAllSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping ${running.size} process(es)\n`);
      killAllSync();
      if (onSignal) onSignal();
      process.exit(130);
    });
  }
}

// ---- /proc readers ---------------------------------------------------------

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64 and arm64

function statFields(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  // comm may contain spaces and parentheses: fields restart after the last ')'.
  return s.slice(s.lastIndexOf(")") + 2).split(" ");
}

/** The pid and all its live descendants. */
export function processTree(pid) {
  const parentOf = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      parentOf.set(Number(entry), Number(statFields(entry)[1]));
    } catch {
      /* exited meanwhile */
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** User + system CPU seconds of the process tree (all threads). */
export function cpuSeconds(pid) {
  const { user, system } = cpuSplit(pid);
  return user + system;
}

/** User and system CPU seconds of the process tree (all threads), apart. */
export function cpuSplit(pid) {
  let user = 0;
  let system = 0;
  for (const p of processTree(pid)) {
    try {
      const f = statFields(p);
      user += Number(f[11]); // utime
      system += Number(f[12]); // stime
    } catch {
      /* exited meanwhile */
    }
  }
  return { user: user / CLK_TCK, system: system / CLK_TCK };
}

function statusKb(pid, field) {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) : 0;
}

/** Sum over the process tree of VmHWM (peak resident set), in MB. */
export function peakRssMb(pid) {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      kb += statusKb(p, "VmHWM");
    } catch {
      /* exited meanwhile */
    }
  }
  return kb / 1024;
}

/** Sum over the process tree of VmRSS (current resident set), in KB. */
export function rssKb(pid) {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      kb += statusKb(p, "VmRSS");
    } catch {
      /* exited meanwhile */
    }
  }
  return kb;
}

/** Resolves once something accepts connections on 127.0.0.1:`port` (up to 10 s). */
export async function untilListening(port) {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((ok) => net.connect(port, "127.0.0.1").on("connect", function () { this.destroy(); ok(true); }).on("error", () => ok(false)));
    if (up) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port}`);
}

/** Runs a script's `main`, then stops every process it started, whether it succeeded or threw. */
export function runMain(main) {
  main()
    .then(() => stopAll())
    .catch(async (e) => {
      console.error(e);
      await stopAll();
      process.exitCode = 1;
    });
}

/**
 * The lowest port the kernel hands to outgoing connections (`net.ipv4.ip_local_port_range`). A port
 * chosen for a server is released before its process binds it: one from the ephemeral range could be
 * taken meanwhile by an outgoing connection (wrk's, undici's), and the process would fail to listen.
 */
function ephemeralLow() {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 2000) return low;
  } catch {
    /* not Linux: the IANA range's start */
  }
  return 49152;
}

/** A TCP port free on 127.0.0.1 right now, below the ephemeral range. */
export async function freePort() {
  const low = ephemeralLow();
  for (let tries = 0; tries < 100; tries++) {
    const port = 1024 + Math.floor(Math.random() * (low - 1024));
    const free = await new Promise((resolve) => {
      const s = net.createServer();
      s.unref();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port found below ${low} on 127.0.0.1`);
}
