// The systems under test, each configured for the same job:
//   client POST /mistral (plain upstream) or /secure/mistral (TLS upstream)
//   -> upstream POST /v1/chat/completions, provider key injected,
//      `model` overridden, SSE unbuffered, upstream keep-alive.
// Each launcher writes its config into the run's temp dir, starts the process
// with a recorded pid and says how a client addresses it.
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { join, resolve } from "node:path";
import { homedir } from "node:os";
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { freePort, start, untilListening } from "./procs.mjs";
import { makeCerts } from "./certs.mjs";
import { deploymentMemoryLimit, imageNodeFlags, memoryCgroup } from "./as-deployed.mjs";

export const BENCH_DIR = resolve(import.meta.dirname, "..");
export const PROXY_DIR = resolve(BENCH_DIR, "..");
export const CACHE = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "ocp-bench");
export const PROVIDER_KEY = "sk-bench-provider-0123456789abcdef";
export const MODEL = "mistral-medium-2505";
export const CLIENT_MODEL = "client-chosen-model";
export const ROUTE = { plain: "/mistral", tls: "/secure/mistral" };

const which = (cmd) => {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin"])) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
};

/**
 * ctx: { dir, ports: {plain, tls}, certs, freePort(), upstreamPid }
 * Target: { name, note, unavailable(ctx) -> reason|null, start(ctx) -> {child, ready}, request(flavor) -> {url, headers, model} }
 */
export const targets = [
  {
    name: "direct",
    note: "the upstream itself: the physical limit",
    unavailable: () => null,
    async start(ctx) {
      return { pid: ctx.upstreamPid, child: null, ready: null };
    },
    request(ctx, flavor) {
      const port = ctx.ports[flavor];
      const scheme = flavor === "tls" ? "https" : "http";
      return {
        url: `${scheme}://127.0.0.1:${port}/v1/chat/completions`,
        headers: { authorization: `Bearer ${PROVIDER_KEY}` },
        model: MODEL,
      };
    },
  },
  {
    name: "ours",
    note: "openai-compatible-proxy, --manifests with the docs' four objects",
    unavailable: () => (existsSync(oursCli()) ? null : `${oursCli()} missing (npm run build --workspace proxy)`),
    async start(ctx) {
      const dir = join(ctx.dir, "ours");
      mkdirSync(dir, { recursive: true });
      const manifests = join(dir, "objects.yaml");
      writeFileSync(manifests, oursManifests(ctx));
      const port = await ctx.freePort();
      const admin = await ctx.freePort();
      // As the image runs it (the ENTRYPOINT's node flags), in the memory its default Deployment
      // gives it (lib/as-deployed.mjs); BENCH_OURS_NODE_ARGS adds flags, for profiling.
      const flags = imageNodeFlags();
      const nodeArgs = [...flags, ...envNodeArgs("BENCH_OURS_NODE_ARGS")];
      const limit = deploymentMemoryLimit();
      const cgroup = process.env.BENCH_OURS_CGROUP === "0" ? { reason: "BENCH_OURS_CGROUP=0" } : memoryCgroup(`ocp-bench-${process.pid}-${++oursStarts}`, limit);
      let command = [
        process.execPath,
        [...nodeArgs, oursCli(), "--manifests", manifests, "--listen", `127.0.0.1:${port}`, "--admin-listen", `127.0.0.1:${admin}`],
      ];
      if (cgroup.wrap) command = cgroup.wrap(...command);
      const child = start(
        "ours",
        ...command,
        // NODE_PATH lets a build copied elsewhere (BENCH_OURS_CLI, for before/after comparisons) find its dependencies.
        { logDir: ctx.dir, cwd: dir, env: { NODE_PATH: [join(PROXY_DIR, "node_modules"), join(PROXY_DIR, "..", "node_modules")].join(":") } },
      );
      if (cgroup.remove) void child.exited.then(cgroup.remove);
      const memory = cgroup.wrap ? `in a ${limit / 2 ** 20} MiB memory cgroup (its Deployment's default limit)` : `without a memory limit (${cgroup.reason}), so not as deployed`;
      const note = `openai-compatible-proxy, --manifests with the docs' four objects; node ${flags.join(" ")} as in its image, ${memory}`;
      return { child, port, note, ready: { url: `http://127.0.0.1:${admin}/readyz`, status: 200 } };
    },
    request: (ctx, flavor, started) => ({
      url: `http://127.0.0.1:${started.port}${ROUTE[flavor]}`,
      headers: {},
      model: CLIENT_MODEL,
    }),
  },
  {
    name: "undici",
    note: "bare undici forwarder (bench/undici-forwarder.mjs), same job, no features",
    unavailable: () => null,
    async start(ctx) {
      const port = await ctx.freePort();
      const child = start("undici", process.execPath, [join(BENCH_DIR, "undici-forwarder.mjs")], {
        logDir: ctx.dir,
        env: {
          BENCH_LISTEN_PORT: String(port),
          BENCH_PLAIN_ORIGIN: `http://127.0.0.1:${ctx.ports.plain}`,
          BENCH_TLS_ORIGIN: `https://127.0.0.1:${ctx.ports.tls}`,
          BENCH_CA: ctx.certs.ca,
          BENCH_PROVIDER_KEY: PROVIDER_KEY,
          BENCH_MODEL: MODEL,
        },
      });
      return { child, port, ready: { url: `http://127.0.0.1:${port}/`, status: 404 } };
    },
    request: (ctx, flavor, started) => ({
      url: `http://127.0.0.1:${started.port}${ROUTE[flavor]}`,
      headers: {},
      model: CLIENT_MODEL,
    }),
  },
  // The platform's floor (floor.mjs): pieces of a node:http + undici proxy, run with the image's node
  // flags like ours (without a memory limit), so ours can be read against what Node.js itself costs here.
  {
    name: "floor-pipe",
    label: "floor: Node.js TCP pipe",
    note: "floor.mjs pipe: a Node.js TCP pipe to the upstream, no HTTP parsing (the least a Node.js hop costs); the client sends the upstream's own request",
    floor: true,
    flavors: ["plain"],
    unavailable: () => null,
    start: (ctx) => startFloor(ctx, "pipe", [String(ctx.ports.plain)], {}, { path: "/__bench/stats", status: 200 }),
    request: (ctx, flavor, started) => ({
      url: `http://127.0.0.1:${started.port}/v1/chat/completions`,
      headers: { authorization: `Bearer ${PROVIDER_KEY}` },
      model: MODEL,
    }),
  },
  {
    name: "floor-proxy",
    label: "floor: least node:http + undici proxy",
    note: "floor.mjs proxy: the least node:http + undici proxy (route, key, Host, hop-by-hop headers, body as read, undici's raw handler callbacks); no model rewrite (the client sends the right model), validation, logs or metrics",
    floor: true,
    unavailable: () => null,
    start: (ctx) => startFloor(ctx, "proxy", [String(ctx.ports.plain)], { BENCH_PROVIDER_KEY: PROVIDER_KEY }, { path: "/", status: 400 }),
    flavors: ["plain"],
    request: (ctx, flavor, started) => ({
      url: `http://127.0.0.1:${started.port}${ROUTE[flavor]}`,
      headers: {},
      model: MODEL,
    }),
  },
  {
    name: "floor-http",
    label: "floor: node:http answering alone",
    note: "floor.mjs http: node:http reads each request and answers the upstream's completion from memory, never calling the upstream (a proxy's server half)",
    floor: true,
    noUpstream: true,
    flavors: ["plain"],
    kinds: ["json"],
    unavailable: () => null,
    start: (ctx) => startFloor(ctx, "http", [], { BENCH_MODEL: MODEL }, { path: "/", status: 404 }),
    request: (ctx, flavor, started) => ({
      url: `http://127.0.0.1:${started.port}${ROUTE[flavor]}`,
      headers: {},
      model: CLIENT_MODEL,
    }),
  },
  {
    name: "floor-client",
    label: "floor: undici client alone",
    note: "floor.mjs client: undici's Pool sending the upstream's own request with N in flight, closed loop, no server (a proxy's client half); its CPU and latency are its own",
    floor: true,
    flavors: ["plain"],
    kinds: ["json"],
    unavailable: () => null,
    /** Runs the load itself: CONNECTIONS requests in flight for the run's duration. */
    async load(ctx, { connections, seconds, warmupSeconds }) {
      const child = floorProcess(ctx, "client", [`http://127.0.0.1:${ctx.ports.plain}`, String(connections), String(seconds), String(warmupSeconds)], {
        BENCH_PROVIDER_KEY: PROVIDER_KEY,
        BENCH_MODEL: MODEL,
      });
      const exit = await child.exited;
      const line = readFileSync(child.logFile, "utf8").split("\n").filter((l) => l.startsWith("BENCH_FLOOR ")).pop();
      if (exit.code !== 0 || !line) throw new Error(`floor.mjs client exited ${exit.code ?? exit.signal} without a result`);
      return { ...JSON.parse(line.slice("BENCH_FLOOR ".length)), pid: child.pid };
    },
  },
  {
    name: "nginx",
    label: "nginx (no model rewrite)",
    note: "nginx, 1 worker; cannot rewrite the JSON `model`: the client sends the right one",
    unavailable: () => (which("nginx") ? null : "nginx not installed (bench/setup.sh)"),
    async start(ctx) {
      const dir = join(ctx.dir, "nginx");
      mkdirSync(dir, { recursive: true });
      chmodSync(ctx.dir, 0o755);
      const port = await ctx.freePort();
      writeFileSync(join(dir, "nginx.conf"), nginxConf(ctx, dir, port));
      const bin = which("nginx");
      const args = ["-p", dir, "-e", join(dir, "error.log"), "-c", join(dir, "nginx.conf")];
      execFileSync(bin, ["-t", "-q", ...args], { stdio: "inherit" });
      const child = start("nginx", bin, args, { logDir: ctx.dir });
      return { child, port, ready: { url: `http://127.0.0.1:${port}/`, status: 404 } };
    },
    request: (ctx, flavor, started) => ({
      url: `http://127.0.0.1:${started.port}${ROUTE[flavor]}`,
      headers: {},
      model: MODEL,
    }),
  },
  {
    name: "portkey",
    note: "@portkey-ai/gateway 1.15.2 (@hono/node-server 1.13.5), per-request x-portkey-config {provider openai, custom_host, api_key, override_params.model}; client path /v1/chat/completions",
    unavailable: () => (existsSync(portkeyMain()) ? null : "Portkey not installed (bench/setup.sh)"),
    async start(ctx) {
      const port = await ctx.freePort();
      const child = start(
        "portkey",
        process.execPath,
        ["--import", pathToFileURL(join(BENCH_DIR, "bind-loopback.mjs")).href, portkeyMain(), `--port=${port}`, "--headless"],
        { logDir: ctx.dir, env: { NODE_EXTRA_CA_CERTS: ctx.certs.ca } },
      );
      return { child, port, ready: { url: `http://127.0.0.1:${port}/`, status: 200 } };
    },
    request(ctx, flavor, started) {
      const scheme = flavor === "tls" ? "https" : "http";
      const config = {
        provider: "openai",
        api_key: PROVIDER_KEY,
        custom_host: `${scheme}://127.0.0.1:${ctx.ports[flavor]}/v1`,
        override_params: { model: MODEL },
      };
      return {
        url: `http://127.0.0.1:${started.port}/v1/chat/completions`,
        headers: { "x-portkey-config": JSON.stringify(config) },
        model: CLIENT_MODEL,
      };
    },
  },
  {
    name: "litellm",
    note: "LiteLLM proxy 1.108.7, 1 uvicorn worker, no master key; model alias -> openai/<model> at api_base; client path /v1/chat/completions",
    unavailable: () => (existsSync(litellmBin()) ? null : "LiteLLM not installed (bench/setup.sh)"),
    async start(ctx) {
      const dir = join(ctx.dir, "litellm");
      mkdirSync(dir, { recursive: true });
      const port = await ctx.freePort();
      const config = join(dir, "config.yaml");
      writeFileSync(config, litellmConfig(ctx));
      const child = start(
        "litellm",
        litellmBin(),
        ["--config", config, "--host", "127.0.0.1", "--port", String(port), "--num_workers", "1", "--telemetry", "False"],
        {
          logDir: ctx.dir,
          cwd: dir,
          env: {
            SSL_CERT_FILE: ctx.certs.ca,
            LITELLM_LOCAL_MODEL_COST_MAP: "True",
            LITELLM_LOG: "ERROR",
            DISABLE_ADMIN_UI: "True",
            NO_DOCS: "True",
            // Same job as the others: no client authentication (ours has none configured either).
            LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY: "true",
          },
        },
      );
      return {
        child,
        port,
        readyTimeoutMs: 180_000,
        ready: { url: `http://127.0.0.1:${port}/health/liveliness`, status: 200 },
      };
    },
    request: (ctx, flavor, started) => ({
      url: `http://127.0.0.1:${started.port}/v1/chat/completions`,
      headers: {},
      model: `bench-${flavor}`,
    }),
  },
];

/** Node.js flags added from the environment variable `name` (space-separated), for profiling. */
function envNodeArgs(name) {
  return (process.env[name] ?? "").split(" ").filter(Boolean);
}

/** `node <the image's flags> [BENCH_FLOOR_NODE_ARGS] floor.mjs MODE ARGS...`, logged as `floor-MODE`. */
function floorProcess(ctx, mode, args, env) {
  return start(`floor-${mode}`, process.execPath, [...imageNodeFlags(), ...envNodeArgs("BENCH_FLOOR_NODE_ARGS"), join(BENCH_DIR, "floor.mjs"), mode, ...args], { logDir: ctx.dir, env });
}

/** A floor server on a free port (its first argument), ready when `ready.path` answers `ready.status`. */
async function startFloor(ctx, mode, args, env, ready) {
  const port = await ctx.freePort();
  const child = floorProcess(ctx, mode, [String(port), ...args], env);
  return { child, port, ready: { url: `http://127.0.0.1:${port}${ready.path}`, status: ready.status } };
}

/**
 * The benchmark's certificates (a generated CA) in `dir` and its upstream (upstream.mjs) on two free
 * ports, plain and TLS, accepting connections, its log in `dir`; and the context targets start from.
 */
export async function startUpstream(dir) {
  const certs = await makeCerts(dir);
  const ports = { plain: await freePort(), tls: await freePort() };
  const upstream = start("upstream", process.execPath, [join(BENCH_DIR, "upstream.mjs")], {
    logDir: dir,
    env: {
      BENCH_UPSTREAM_PLAIN_PORT: String(ports.plain),
      BENCH_UPSTREAM_TLS_PORT: String(ports.tls),
      BENCH_UPSTREAM_CERT: certs.cert,
      BENCH_UPSTREAM_CERT_KEY: certs.key,
      BENCH_PROVIDER_KEY: PROVIDER_KEY,
      BENCH_MODEL: MODEL,
    },
  });
  await untilListening(ports.plain);
  return { upstream, ctx: { dir, ports, certs, freePort, upstreamPid: upstream.pid } };
}

let oursStarts = 0;
const oursCli = () => process.env.BENCH_OURS_CLI || join(PROXY_DIR, "dist", "cli.js");
const portkeyMain = () => join(CACHE, "portkey", "node_modules", "@portkey-ai", "gateway", "build", "start-server.js");
const litellmBin = () => join(CACHE, "litellm", "venv", "bin", "litellm");

function oursManifests(ctx) {
  const ns = "bench";
  const backend = (name, port) => `apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  type: AI
  ai:
    llm:
      openai:
        authToken:
          kind: SecretRef
          secretRef:
            name: bench-secret
        model: "${MODEL}"
      host: 127.0.0.1
      port: ${port}
      path:
        full: "/v1/chat/completions"
`;
  const route = (name, prefix) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  parentRefs:
    - name: bench
      namespace: ${ns}
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: ${prefix}
      filters:
        - type: URLRewrite
          urlRewrite:
            hostname: localhost
      backendRefs:
        - name: ${name}
          namespace: ${ns}
          group: gateway.kgateway.dev
          kind: Backend
`;
  const caIndented = ctx.certs.caPem.trim().split("\n").map((l) => `    ${l}`).join("\n");
  return [
    `apiVersion: v1
kind: Secret
metadata:
  name: bench-secret
  namespace: ${ns}
type: Opaque
stringData:
  Authorization: ${PROVIDER_KEY}
`,
    backend("bench-plain", ctx.ports.plain),
    route("bench-plain", ROUTE.plain),
    backend("bench-tls", ctx.ports.tls),
    route("bench-tls", ROUTE.tls),
    `apiVersion: v1
kind: ConfigMap
metadata:
  name: bench-ca
  namespace: ${ns}
data:
  ca.crt: |
${caIndented}
`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata:
  name: bench-tls
  namespace: ${ns}
spec:
  targetRefs:
    - name: bench-tls
      kind: Backend
      group: gateway.kgateway.dev
  validation:
    hostname: localhost
    caCertificateRefs:
      - name: bench-ca
        kind: ConfigMap
        group: ""
`,
  ].join("---\n");
}

function nginxConf(ctx, dir, port) {
  const asRoot = process.getuid?.() === 0;
  const location = (prefix, upstream, tls) => `
    location ${prefix} {
      proxy_pass ${tls ? "https" : "http"}://${upstream}/v1/chat/completions;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host localhost;
      proxy_set_header Authorization "Bearer ${PROVIDER_KEY}";
      proxy_buffering off;
      proxy_request_buffering off;
      ${
        tls
          ? `proxy_ssl_trusted_certificate ${ctx.certs.ca};
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;`
          : ""
      }
    }`;
  return `# generated by proxy/bench
${asRoot ? "user root root;" : ""}
worker_processes 1;
daemon off;
master_process on;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 8192; }
http {
  access_log ${join(dir, "access.log")} combined buffer=64k flush=1s;
  client_body_temp_path ${join(dir, "client_body")};
  proxy_temp_path ${join(dir, "proxy_temp")};
  fastcgi_temp_path ${join(dir, "fastcgi_temp")};
  uwsgi_temp_path ${join(dir, "uwsgi_temp")};
  scgi_temp_path ${join(dir, "scgi_temp")};
  client_max_body_size 16m;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  upstream plain { server 127.0.0.1:${ctx.ports.plain}; keepalive 128; keepalive_requests 1000000; }
  upstream secure { server 127.0.0.1:${ctx.ports.tls}; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port};
    ${location(ROUTE.tls, "secure", true)}
    ${location(ROUTE.plain, "plain", false)}
    location / { return 404; }
  }
}
`;
}

function litellmConfig(ctx) {
  const model = (flavor, scheme) => `  - model_name: bench-${flavor}
    litellm_params:
      model: openai/${MODEL}
      api_base: ${scheme}://127.0.0.1:${ctx.ports[flavor]}/v1
      api_key: ${PROVIDER_KEY}
`;
  return `model_list:
${model("plain", "http")}${model("tls", "https")}litellm_settings:
  telemetry: false
general_settings: {}
`;
}
