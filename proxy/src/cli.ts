#!/usr/bin/env node
/**
 * `openai-compatible-proxy`: serve a ProxyConfig file or Kubernetes manifests.
 *
 * Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when the config is invalid or the proxy
 * cannot start, or at once on a second signal (cutting what is in flight), 2 for a usage error.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ConfigLoadError } from "./config/config-load-error";
import { createLogger, flushLogger } from "./server/logger";
import { DEFAULT_ADMIN_LISTEN, DEFAULT_LISTEN, ProxyServer, type ListenAddress, type ProxySource } from "./server/proxy-server";

const ENV_PREFIX = "OPENAI_COMPATIBLE_PROXY_";

export const USAGE = `Usage: openai-compatible-proxy (--config FILE | --manifests PATH...) [options]

Serves OpenAI-compatible providers as kgateway Backends and HTTPRoutes describe them.

  --config FILE            A ProxyConfig (YAML or JSON; schema: schema/proxy-config.schema.json)
  --manifests PATH...      Kubernetes objects (YAML files or folders, multi-document): Secret,
                           ConfigMap, Backend, HTTPRoute, BackendTLSPolicy
  --listen HOST:PORT       Data-path address (default :${DEFAULT_LISTEN.port}); no HOST: every IPv6 and IPv4 address
  --admin-listen HOST:PORT /healthz, /readyz, /metrics (default :${DEFAULT_ADMIN_LISTEN.port})
  --log-level LEVEL        fatal, error, warn, info, debug, trace or silent (default info)
  --shutdown-grace-ms MS   How long SIGTERM waits for requests in flight (default 25000)
  --shutdown-delay-ms MS   How long SIGTERM keeps serving new requests, /readyz answering 503, before
                           it stops listening (default 0; SIGINT skips it)
  --secrets-dir DIR        With --manifests only: read Secret keys from DIR/<secret>/Authorization
                           instead of from the Secret objects
  --no-watch               Do not reload when the config or the files it points to change
  -h, --help               This help
  -v, --version            The version

Every option can also be set in the environment: ${ENV_PREFIX}CONFIG, ${ENV_PREFIX}MANIFESTS
(paths separated by commas), ${ENV_PREFIX}LISTEN, ${ENV_PREFIX}ADMIN_LISTEN, ${ENV_PREFIX}LOG_LEVEL,
${ENV_PREFIX}SHUTDOWN_GRACE_MS, ${ENV_PREFIX}SHUTDOWN_DELAY_MS, ${ENV_PREFIX}SECRETS_DIR,
${ENV_PREFIX}WATCH=false. Flags win.
`;

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface CliOptions {
  source: ProxySource;
  listen: ListenAddress;
  adminListen: ListenAddress;
  logLevel: string;
  shutdownGraceMs: number;
  shutdownDelayMs: number;
  watch: boolean;
}

/** A whole number of milliseconds, at most 2^31-1 (what a Node.js timer can wait). */
function millisOption(text: string, flag: string): number {
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms > 2 ** 31 - 1) throw new UsageError(`${flag}: \`${text}\` is not a number of milliseconds (0 to 2147483647)`);
  return ms;
}

/** Parses `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` and `PORT` (every address, IPv6 and IPv4). */
export function parseListen(text: string, what: string): ListenAddress {
  // The colon is required unless the text is a port alone, so that digits are never split between host and port.
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(text.trim()) ?? /^()()(\d+)$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`${what}: \`${text}\` is not HOST:PORT (for example 127.0.0.1:8080, or :8080 for every address)`);
  const host = m[1] || m[2];
  return host ? { host, port } : { port };
}

/** Reads flags, then the environment for anything not given as a flag. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliOptions | "help" | "version" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: "string" },
        manifests: { type: "string", multiple: true },
        listen: { type: "string" },
        "admin-listen": { type: "string" },
        "log-level": { type: "string" },
        "shutdown-grace-ms": { type: "string" },
        "shutdown-delay-ms": { type: "string" },
        "secrets-dir": { type: "string" },
        "no-watch": { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  if (values.version) return "version";

  const config = values.config ?? env[`${ENV_PREFIX}CONFIG`];
  // `--manifests a.yaml b/` : the paths after the flag are positionals.
  let manifests = values.manifests ? [...values.manifests, ...positionals] : undefined;
  if (!manifests && positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\`: paths go after --manifests`);
  if (!manifests && !values.config && env[`${ENV_PREFIX}CONFIG`] && env[`${ENV_PREFIX}MANIFESTS`]) {
    throw new UsageError(`${ENV_PREFIX}CONFIG and ${ENV_PREFIX}MANIFESTS are both set: unset one (or give --config or --manifests, which wins)`);
  }
  if (!manifests && !values.config && env[`${ENV_PREFIX}MANIFESTS`]) {
    manifests = env[`${ENV_PREFIX}MANIFESTS`]!.split(",").map((p) => p.trim()).filter(Boolean);
  }
  if (values.config && manifests) throw new UsageError("give either --config or --manifests, not both");
  if (!config && !manifests?.length) throw new UsageError("give --config FILE or --manifests PATH...");
  const secretsDir = values["secrets-dir"] ?? env[`${ENV_PREFIX}SECRETS_DIR`];
  // A ProxyConfig names each key's source itself; a directory given with it would be silently unused.
  if (secretsDir && !manifests?.length) {
    throw new UsageError(`${values["secrets-dir"] ? "--secrets-dir" : `${ENV_PREFIX}SECRETS_DIR`} only applies to --manifests; with --config, each backend's \`key\` names its file or variable`);
  }
  const source: ProxySource = manifests?.length
    ? { manifests, ...(secretsDir ? { translate: { secretsDir } } : {}) }
    : { configFile: config! };

  const shutdownGraceMs = millisOption(values["shutdown-grace-ms"] ?? env[`${ENV_PREFIX}SHUTDOWN_GRACE_MS`] ?? "25000", "--shutdown-grace-ms");
  const shutdownDelayMs = millisOption(values["shutdown-delay-ms"] ?? env[`${ENV_PREFIX}SHUTDOWN_DELAY_MS`] ?? "0", "--shutdown-delay-ms");
  const logLevel = values["log-level"] ?? env[`${ENV_PREFIX}LOG_LEVEL`] ?? "info";
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) throw new UsageError(`--log-level: \`${logLevel}\` is not a level`);
  const listenText = values.listen ?? env[`${ENV_PREFIX}LISTEN`];
  const adminText = values["admin-listen"] ?? env[`${ENV_PREFIX}ADMIN_LISTEN`];
  return {
    source,
    listen: listenText ? parseListen(listenText, "--listen") : DEFAULT_LISTEN,
    adminListen: adminText ? parseListen(adminText, "--admin-listen") : DEFAULT_ADMIN_LISTEN,
    logLevel,
    shutdownGraceMs,
    shutdownDelayMs,
    watch: !values["no-watch"] && env[`${ENV_PREFIX}WATCH`] !== "false",
  };
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** Runs the CLI with `process.argv`. */
export async function main(): Promise<void> {
  let options;
  try {
    options = parseCli(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`openai-compatible-proxy: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options === "help") return void process.stdout.write(USAGE);
  if (options === "version") return void process.stdout.write(`${version()}\n`);

  const logger = createLogger({ level: options.logLevel });
  let proxy: ProxyServer | undefined;
  let signals = 0;
  // Ctrl-C (SIGINT) skips the shutdown delay: it is for a pod's endpoints, not for a terminal.
  const shutdown = (p: ProxyServer, signal: NodeJS.Signals | undefined): void =>
    void p.shutdown(undefined, signal === "SIGINT" ? 0 : undefined).then(() => process.exit(0));
  let signalled: NodeJS.Signals | undefined;
  // Registered before starting, so a SIGTERM that arrives during start-up still ends in a clean exit.
  const stop = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, "second signal: exiting now");
      flushLogger(logger);
      process.exit(1);
    }
    logger.info({ signal }, "signal received");
    signalled = signal;
    if (proxy) shutdown(proxy, signal);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  try {
    proxy = await ProxyServer.start({
      source: options.source,
      listen: options.listen,
      adminListen: options.adminListen,
      logger,
      watch: options.watch,
      shutdownGraceMs: options.shutdownGraceMs,
      shutdownDelayMs: options.shutdownDelayMs,
    });
  } catch (err) {
    const invalid = err instanceof ConfigLoadError;
    const lines = invalid ? err.problems : [`${(err as NodeJS.ErrnoException).code ?? (err as Error).name}: ${(err as Error).message}`];
    logger.fatal({ problems: lines }, "cannot start");
    flushLogger(logger);
    process.stderr.write(`openai-compatible-proxy: ${invalid ? "invalid configuration, not started" : "cannot start"}:\n${lines.map((l) => `  ${l}`).join("\n")}\n`);
    process.exit(1);
  }
  if (signals > 0) shutdown(proxy, signalled);
}

if (require.main === module) void main();
