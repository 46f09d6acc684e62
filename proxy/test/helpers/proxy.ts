/** Starts the real proxy in-process (with captured logs) or as a CLI child process. */
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter, once } from "node:events";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ProxyServer, createLogger, type ManifestValues, type ProxyConfigInput, type ProxyServerOptions } from "../../src/index";
import { ProxyMetrics } from "../../src/server/metrics";

export const API_VERSION = "openai-compatible-proxy/v1";

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export interface TestProxy {
  proxy: ProxyServer;
  url: string;
  adminUrl: string;
  /** Raw log lines, as written (one entry per line). */
  rawLogs: string[];
  logs(): LogLine[];
  /** Resolves with the first log line (already written or future) that passes `test`. */
  waitForLog(test: (l: LogLine) => boolean): Promise<LogLine>;
  /** Resolves with the first log line written from now on that passes `test`. */
  waitForNext(test: (l: LogLine) => boolean): Promise<LogLine>;
  close(): Promise<void>;
}

export async function startProxy(
  config: ProxyConfigInput,
  options: Partial<Omit<ProxyServerOptions, "source">> & { values?: ManifestValues } = {},
): Promise<TestProxy> {
  const { values, ...rest } = options;
  return startProxyFrom({ config, ...(values ? { values } : {}) }, rest);
}

/** The real proxy in-process, from any source (a config file or manifests are watched). */
export async function startProxyFrom(source: ProxyServerOptions["source"], options: Partial<Omit<ProxyServerOptions, "source">> = {}): Promise<TestProxy> {
  const rawLogs: string[] = [];
  const written = new EventEmitter();
  const logger = createLogger({
    level: "debug",
    destination: {
      // One write may carry several lines (request lines are handed over in batches).
      write: (text: string) => {
        for (const line of text.split("\n")) {
          if (line === "") continue;
          rawLogs.push(line);
          written.emit("line", JSON.parse(line) as LogLine);
        }
      },
    },
  });
  const logs = (): LogLine[] => rawLogs.map((l) => JSON.parse(l) as LogLine);
  const next = (test: (l: LogLine) => boolean): Promise<LogLine> =>
    new Promise((resolve) => {
      const onLine = (l: LogLine): void => {
        if (!test(l)) return;
        written.off("line", onLine);
        resolve(l);
      };
      written.on("line", onLine);
    });
  const proxy = await ProxyServer.start({
    source,
    listen: { host: "127.0.0.1", port: 0 },
    adminListen: { host: "127.0.0.1", port: 0 },
    logger,
    metrics: new ProxyMetrics({ processMetrics: false }),
    ...options,
  });
  return {
    proxy,
    url: proxy.url,
    adminUrl: proxy.adminUrl!,
    rawLogs,
    logs,
    waitForLog: (test) => {
      const seen = logs().find(test);
      if (seen) return Promise.resolve(seen);
      return next(test);
    },
    waitForNext: next,
    close: () => proxy.shutdown(1000),
  };
}

/** A one-backend, one-route config; override any part. */
export function simpleConfig(upstreamPort: number, backend: Record<string, unknown> = {}, route: Record<string, unknown> = {}): ProxyConfigInput {
  return {
    apiVersion: API_VERSION,
    kind: "ProxyConfig",
    backends: [
      {
        name: "ns/up",
        host: "127.0.0.1",
        port: upstreamPort,
        path: "/v1/chat/completions",
        auth: { type: "Key", key: { env: "TEST_PROVIDER_KEY" } },
        ...backend,
      } as never,
    ],
    routes: [{ name: "ns/route/0", matches: [{ path: { type: "PathPrefix", value: "/mistral" } }], backendRefs: [{ name: "ns/up" }], ...route } as never],
  };
}

export const PROVIDER_KEY = "sk-provider-0123456789-SECRET";
export const providerEnv = { TEST_PROVIDER_KEY: PROVIDER_KEY };

const CLI = join(__dirname, "..", "..", "dist", "cli.js");

/** The proxy CLI as a child process, its stdout parsed as JSON log lines. */
export class CliProxy {
  readonly lines: LogLine[] = [];
  readonly rawOutput: string[] = [];
  stderr = "";
  url = "";
  adminUrl = "";
  readonly exited: Promise<number | null>;
  private readonly waiters: { test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  constructor(readonly child: ChildProcess) {
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", (line) => {
      this.rawOutput.push(line);
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        return;
      }
      this.lines.push(parsed);
      for (const w of [...this.waiters]) {
        if (w.test(parsed)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    });
    child.stderr!.on("data", (d: Buffer) => {
      this.stderr += d.toString();
      this.rawOutput.push(d.toString());
    });
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  /** Resolves with the first line (already seen or future) that passes `test`. */
  waitFor(test: (l: LogLine) => boolean, what = "log line"): Promise<LogLine> {
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      this.waiters.push({ test, resolve });
      void this.exited.then((code) => reject(new Error(`proxy exited (${code}) before ${what}; output:\n${this.rawOutput.join("\n")}`)));
    });
  }

  /** Waits for the line after the ones seen so far. */
  waitForNext(test: (l: LogLine) => boolean, what = "log line"): Promise<LogLine> {
    const from = this.lines.length;
    return this.waitFor((l) => this.lines.indexOf(l) >= from && test(l), what);
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}

export async function startCli(args: string[], env: NodeJS.ProcessEnv = {}, options: { waitListening?: boolean; uid?: number; gid?: number } = {}): Promise<CliProxy> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
  });
  const cli = new CliProxy(child);
  if (options.waitListening !== false) {
    const line = await cli.waitFor((l) => l.msg === "listening", "listening");
    cli.url = String(line.listen);
    cli.adminUrl = String(line.admin);
  }
  return cli;
}

export async function waitExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, "exit")) as [number | null];
  return code;
}
