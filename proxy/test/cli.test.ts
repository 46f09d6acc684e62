/**
 * The CLI as a child process (`node dist/cli.js`): the docs' Mistral and DeepSeek objects served
 * through `--manifests` over TLS to a local upstream (the test CA trusted through NODE_EXTRA_CA_CERTS,
 * SNI and hostname checked as the BackendTLSPolicy says), the official openai client, environment
 * variables, clear errors for invalid configs, hot reload (good and bad changes, Kubernetes' `..data`
 * swap), SIGTERM draining a live stream, and no key in any log line.
 */
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { createTestCa } from "./helpers/certs";
import { postJson, send } from "./helpers/http";
import { startCli, type CliProxy } from "./helpers/proxy";
import { parseCli, parseListen } from "../src/cli";
import { startUpstream, type Upstream } from "./helpers/upstream";

const EXAMPLES = join(__dirname, "..", "examples", "kgateway-docs");
const MISTRAL_KEY = "sk-mistral-TEST-0001";
const MISTRAL_KEY_2 = "sk-mistral-TEST-0002";
const DEEPSEEK_KEY = "sk-deepseek-TEST-0001";
const TYPO_KEY = "sk-yaml-TYPO-0001";
const ALL_KEYS = [MISTRAL_KEY, MISTRAL_KEY_2, DEEPSEEK_KEY, "sk-mounted-A", "sk-mounted-B", TYPO_KEY];

let upstream: Upstream;
let work: string;
let caFile: string;
const clis: CliProxy[] = [];

beforeAll(async () => {
  const ca = await createTestCa();
  upstream = await startUpstream({ tls: await ca.server(["api.mistral.ai", "api.deepseek.com"]) });
  work = mkdtempSync(join(tmpdir(), "proxy-cli-"));
  caFile = join(work, "test-ca.pem");
  writeFileSync(caFile, ca.caCert);
});

afterEach(async () => {
  for (const cli of clis) if (cli.child.exitCode === null) await cli.stop("SIGKILL");
});

afterAll(async () => {
  await upstream.close();
  rmSync(work, { recursive: true, force: true });
});

/** The docs' objects, with the provider hosts pointed at the local upstream and test keys. */
function docsManifests(dir: string, edit: (text: string, file: string) => string = (t) => t): string {
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(EXAMPLES)) {
    let text = readFileSync(join(EXAMPLES, file), "utf8")
      .replace(/^(\s+)host: "?api\.(mistral\.ai|deepseek\.com)"?$/m, "$1host: 127.0.0.1")
      .replace(/^(\s+)port: 443$/m, `$1port: ${upstream.port}`)
      .replace("replace-with-your-mistral-api-key", MISTRAL_KEY)
      .replace("replace-with-your-deepseek-api-key", DEEPSEEK_KEY);
    text = edit(text, file);
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}, options: { waitListening?: boolean } = {}): Promise<CliProxy> {
  const started = await startCli(args, { NODE_EXTRA_CA_CERTS: caFile, ...env }, options);
  clis.push(started);
  return started;
}

const listenArgs = ["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"];

describe("the docs' objects through --manifests", () => {
  it("serve Mistral and DeepSeek over TLS, streaming and not, with the official openai client", async () => {
    const dir = docsManifests(join(work, "docs"));
    const proxy = await cli(["--manifests", dir, ...listenArgs]);
    const before = upstream.requests.length;

    const mistral = new OpenAI({ apiKey: "unused-by-the-proxy", baseURL: `${proxy.url}/mistral`, maxRetries: 0 });
    const completion = await mistral.chat.completions.create({ model: "", messages: [{ role: "user", content: "Write a short haiku about artificial intelligence." }] });
    expect(completion.model).toBe("mistral-medium-2505");
    expect(completion.usage?.total_tokens).toBe(37);

    const deepseek = new OpenAI({ apiKey: "unused-by-the-proxy", baseURL: `${proxy.url}/deepseek`, maxRetries: 0 });
    const stream = await deepseek.chat.completions.create({ model: "", messages: [{ role: "user", content: "Hi" }], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("tok0 tok1 tok2 ");

    const [toMistral, toDeepseek] = [upstream.requests[before]!, upstream.requests[before + 1]!];
    expect(toMistral).toMatchObject({ method: "POST", url: "/v1/chat/completions", servername: "api.mistral.ai" });
    expect(toMistral.headers.host).toBe("api.mistral.ai");
    expect(toMistral.headers.authorization).toBe(`Bearer ${MISTRAL_KEY}`);
    expect(JSON.parse(toMistral.body.toString())).toMatchObject({ model: "mistral-medium-2505" });
    expect(toDeepseek).toMatchObject({ url: "/v1/chat/completions", servername: "api.deepseek.com" });
    // No URLRewrite hostname in the docs' DeepSeek route: the Host is the Backend's host and port.
    expect(toDeepseek.headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(toDeepseek.headers.authorization).toBe(`Bearer ${DEEPSEEK_KEY}`);
    expect(JSON.parse(toDeepseek.body.toString())).toMatchObject({ model: "deepseek-chat", stream: true });

    const metrics = await send(proxy.adminUrl, "/metrics");
    expect(metrics.body).toMatch(/gen_ai_client_token_usage_sum\{[^}]*gen_ai_provider_name="mistral_ai"[^}]*gen_ai_token_type="input"[^}]*\} 20/);
    expect(metrics.body).toMatch(/process_resident_memory_bytes \d+/);
    expect(await proxy.stop()).toBe(0);
  });

  it("refuse the upstream when the test CA is not trusted (no NODE_EXTRA_CA_CERTS): 502 upstream_tls_failed", async () => {
    const dir = docsManifests(join(work, "untrusted"));
    const proxy = await cli(["--manifests", dir, ...listenArgs], { NODE_EXTRA_CA_CERTS: "" });
    const reply = await postJson(proxy.url, "/mistral", { model: "", messages: [] });
    expect(reply.status).toBe(502);
    expect(reply.json()).toMatchObject({ error: { code: "upstream_tls_failed" } });
  });

  it("read everything from environment variables", async () => {
    const dir = docsManifests(join(work, "env"));
    const proxy = await cli([], {
      OPENAI_COMPATIBLE_PROXY_MANIFESTS: `${join(dir, "mistral.yaml")},${join(dir, "deepseek.yaml")}`,
      OPENAI_COMPATIBLE_PROXY_LISTEN: "127.0.0.1:0",
      OPENAI_COMPATIBLE_PROXY_ADMIN_LISTEN: "127.0.0.1:0",
      OPENAI_COMPATIBLE_PROXY_LOG_LEVEL: "debug",
    });
    expect(proxy.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await postJson(proxy.url, "/deepseek", { messages: [] })).status).toBe(200);
    expect((await send(proxy.adminUrl, "/readyz")).status).toBe(200);
    const badLevel = await cli([], { OPENAI_COMPATIBLE_PROXY_MANIFESTS: dir, OPENAI_COMPATIBLE_PROXY_LOG_LEVEL: "loud" }, { waitListening: false });
    expect(await badLevel.exited).toBe(2);
    expect(badLevel.stderr).toContain("--log-level: `loud` is not a level");
  });
});

describe("invalid configuration", () => {
  it("exits 1 with one clear message naming the file, the object and the field", async () => {
    const dir = docsManifests(join(work, "invalid"), (text, file) => (file === "deepseek.yaml" ? text.replace(`port: ${upstream.port}`, "port: 70000") : text));
    const proxy = await cli(["--manifests", dir, ...listenArgs], {}, { waitListening: false });
    expect(await proxy.exited).toBe(1);
    expect(proxy.stderr).toBe(
      "openai-compatible-proxy: invalid configuration, not started:\n" +
        `  ${join(dir, "deepseek.yaml")}: error: Backend kgateway-system/deepseek: \`spec.ai.llm.port\` must be an integer from 1 to 65535\n` +
        `  ${join(dir, "deepseek.yaml")}: error: HTTPRoute kgateway-system/deepseek: \`spec.rules[0].backendRefs[0]\` Backend kgateway-system/deepseek cannot be served (see its own problems)\n`,
    );
  });

  it("names the file, line and column of a YAML error, never its text, at start (stderr and log) and on reload; an emptied file is refused", async () => {
    // `|` with text after it on the line: the `yaml` library's message quotes that text, here the key.
    const typo = (text: string): string => text.replace(`Authorization: ${MISTRAL_KEY}`, `Authorization: | ${TYPO_KEY}`);
    const expected = (file: string): string =>
      `${file}: not valid YAML at line 11, column 20: unexpected text (for example text after a block scalar indicator \`|\` or \`>\` on its line, or an unclosed bracket): quote the value, or put it on the next line, indented (UNEXPECTED_TOKEN)`;
    const dir = docsManifests(join(work, "yaml-typo"), (text, file) => (file === "mistral.yaml" ? typo(text) : text));
    const bad = await cli(["--manifests", dir, ...listenArgs], {}, { waitListening: false });
    expect(await bad.exited).toBe(1);
    expect(bad.stderr).toBe(`openai-compatible-proxy: invalid configuration, not started:\n  ${expected(join(dir, "mistral.yaml"))}\n`);
    expect(bad.lines.find((l) => l.msg === "cannot start")?.problems).toEqual([expected(join(dir, "mistral.yaml"))]);

    const good = await cli(["--manifests", docsManifests(join(work, "yaml-typo-reload")), ...listenArgs]);
    const file = join(work, "yaml-typo-reload", "mistral.yaml");
    const rejected = good.waitForNext((l) => l.msg === "config rejected; still serving the last good config", "config rejected");
    writeFileSync(file, typo(readFileSync(file, "utf8")));
    expect((await rejected).problems).toEqual([expected(file)]);
    // The file caught empty, while being written: refused too, and the last good config keeps serving.
    const emptied = good.waitForNext((l) => l.msg === "config rejected; still serving the last good config", "config rejected");
    writeFileSync(file, "");
    expect((await emptied).problems).toEqual([`${file}: contains no Kubernetes objects (it is empty, or holds only comments): add the objects, or remove the file`]);
    expect((await postJson(good.url, "/mistral", { messages: [] })).status).toBe(200);
    expect(good.rawOutput.join("\n")).not.toContain(TYPO_KEY);
    expect(bad.rawOutput.join("\n")).not.toContain(TYPO_KEY);
  });

  it("names the manifest file, Backend and field of a mounted Secret it cannot read (--secrets-dir)", async () => {
    const dir = docsManifests(join(work, "unmounted"));
    const keys = join(work, "unmounted-keys");
    mkdirSync(join(keys, "mistral-secret"), { recursive: true });
    writeFileSync(join(keys, "mistral-secret", "Authorization"), "sk-mounted-A");
    const proxy = await cli(["--manifests", dir, "--secrets-dir", keys, ...listenArgs], {}, { waitListening: false });
    expect(await proxy.exited).toBe(1);
    expect(proxy.stderr).toBe(
      "openai-compatible-proxy: invalid configuration, not started:\n" +
        `  ${join(dir, "deepseek.yaml")}: error: Backend kgateway-system/deepseek: \`spec.ai.llm.openai.authToken.secretRef.name\` cannot read \`${join(keys, "deepseek-secret", "Authorization")}\` (ENOENT)\n`,
    );
  });

  it("exits 1 naming the file and field of an invalid --config, and 2 for usage errors", async () => {
    const file = join(work, "bad-config.yaml");
    writeFileSync(file, "apiVersion: openai-compatible-proxy/v1\nkind: ProxyConfig\nbackends: []\nroutes:\n  - name: r\n    backendRefs: [{ name: missing }]\n");
    const bad = await cli(["--config", file, ...listenArgs], {}, { waitListening: false });
    expect(await bad.exited).toBe(1);
    expect(bad.stderr).toContain(`${file}: ProxyConfig: \`routes[0].backendRefs[0].name\` no backend named \`missing\` in \`backends\``);
    const example = join(__dirname, "..", "examples", "proxy-config.yaml");
    const noKey = await cli(["--config", example, ...listenArgs], { MISTRAL_API_KEY: "sk-set" }, { waitListening: false });
    expect(await noKey.exited).toBe(1);
    expect(noKey.stderr).toContain(`${example}: ProxyConfig: \`backends[1].auth.key.env\`: environment variable \`DEEPSEEK_API_KEY\` is not set`);
    expect(noKey.stderr).not.toContain("sk-set");
    const usage = await cli(["--listen", "nonsense"], {}, { waitListening: false });
    expect(await usage.exited).toBe(2);
    expect(usage.stderr).toMatch(/give --config FILE or --manifests PATH/);
    const both = await cli(["--config", file, "--manifests", work], {}, { waitListening: false });
    expect(await both.exited).toBe(2);
    const bothInEnv = await cli(listenArgs, { OPENAI_COMPATIBLE_PROXY_CONFIG: file, OPENAI_COMPATIBLE_PROXY_MANIFESTS: work }, { waitListening: false });
    expect(await bothInEnv.exited).toBe(2);
    expect(bothInEnv.stderr).toContain("OPENAI_COMPATIBLE_PROXY_CONFIG and OPENAI_COMPATIBLE_PROXY_MANIFESTS are both set");
    const barePortTypo = await cli(["--manifests", work, "--listen", "127.0.0.1", "--admin-listen", "127.0.0.1:0"], {}, { waitListening: false });
    expect(await barePortTypo.exited).toBe(2);
    expect(barePortTypo.stderr).toContain("--listen: `127.0.0.1` is not HOST:PORT");
  });

  it("reads listen addresses without splitting a port's digits, and lets a flag win over the other source's variable", () => {
    // No host: every address, IPv6 and IPv4 (`server.listen({ port })`).
    expect(parseListen("8080", "--listen")).toEqual({ port: 8080 });
    expect(parseListen(":8080", "--listen")).toEqual({ port: 8080 });
    expect(parseListen("0.0.0.0:8080", "--listen")).toEqual({ host: "0.0.0.0", port: 8080 });
    expect(parseListen("[::]:8080", "--listen")).toEqual({ host: "::", port: 8080 });
    expect(parseListen("127.0.0.1:8080", "--listen")).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(parseListen("[::1]:9901", "--admin-listen")).toEqual({ host: "::1", port: 9901 });
    for (const text of ["127.0.0.1", "localhost8080", "host:", "1.2.3.4:70000", "[::1]"]) {
      expect(() => parseListen(text, "--listen")).toThrow(`--listen: \`${text}\` is not HOST:PORT`);
    }
    const env = { OPENAI_COMPATIBLE_PROXY_CONFIG: "/c.yaml", OPENAI_COMPATIBLE_PROXY_MANIFESTS: "/m" };
    expect(parseCli(["--config", "/flag.yaml"], env)).toMatchObject({ source: { configFile: "/flag.yaml" } });
    expect(parseCli(["--manifests", "/flag"], env)).toMatchObject({ source: { manifests: ["/flag"] } });
    expect(() => parseCli([], env)).toThrow("are both set");
  });

  it("refuses a secrets directory without --manifests, where it would be silently unused", () => {
    expect(() => parseCli(["--config", "/c.yaml", "--secrets-dir", "/keys"], {})).toThrow(
      "--secrets-dir only applies to --manifests; with --config, each backend's `key` names its file or variable",
    );
    expect(() => parseCli(["--config", "/c.yaml"], { OPENAI_COMPATIBLE_PROXY_SECRETS_DIR: "/keys" })).toThrow("OPENAI_COMPATIBLE_PROXY_SECRETS_DIR only applies to --manifests");
    expect(parseCli(["--manifests", "/m", "--secrets-dir", "/keys"], {})).toMatchObject({ source: { manifests: ["/m"], translate: { secretsDir: "/keys" } } });
  });

  it("reads the shutdown delay and grace from flags or the environment, refusing what is not whole milliseconds", () => {
    const base = ["--config", "/c.yaml"];
    expect(parseCli(base, {})).toMatchObject({ shutdownDelayMs: 0, shutdownGraceMs: 25_000 });
    expect(parseCli([...base, "--shutdown-delay-ms", "5000"], { OPENAI_COMPATIBLE_PROXY_SHUTDOWN_DELAY_MS: "1" })).toMatchObject({ shutdownDelayMs: 5000 });
    expect(parseCli(base, { OPENAI_COMPATIBLE_PROXY_SHUTDOWN_DELAY_MS: "750" })).toMatchObject({ shutdownDelayMs: 750 });
    for (const text of ["-1", "1.5", "5s", "", " 5", "1e3", "2147483648"]) {
      expect(() => parseCli([...base, `--shutdown-delay-ms=${text}`], {})).toThrow(`--shutdown-delay-ms: \`${text}\` is not a number of milliseconds (0 to 2147483647)`);
      expect(() => parseCli(base, { OPENAI_COMPATIBLE_PROXY_SHUTDOWN_GRACE_MS: text })).toThrow(`--shutdown-grace-ms: \`${text}\` is not a number of milliseconds (0 to 2147483647)`);
    }
  });

  it("prints help and version", async () => {
    const help = await cli(["--help"], {}, { waitListening: false });
    expect(await help.exited).toBe(0);
    expect(help.rawOutput.join("\n")).toContain("Usage: openai-compatible-proxy");
    const version = await cli(["--version"], {}, { waitListening: false });
    expect(await version.exited).toBe(0);
    expect(version.rawOutput.join("\n")).toMatch(/^\d+\.\d+\.\d+$/m);
  });
});

describe("hot reload", () => {
  it("applies a good change to new requests and keeps serving the last good config after a bad one", async () => {
    const dir = docsManifests(join(work, "reload"));
    const proxy = await cli(["--manifests", dir, ...listenArgs]);
    const keyOf = async (): Promise<string | undefined> => {
      const n = upstream.requests.length;
      expect((await postJson(proxy.url, "/mistral", { messages: [] })).status).toBe(200);
      return (await upstream.request(n)).headers.authorization;
    };
    expect(await keyOf()).toBe(`Bearer ${MISTRAL_KEY}`);

    // A good change: a new key and a new model.
    const file = join(dir, "mistral.yaml");
    const applied = proxy.waitForNext((l) => l.msg === "config applied", "config applied");
    writeFileSync(file, readFileSync(file, "utf8").replace(MISTRAL_KEY, MISTRAL_KEY_2).replace("mistral-medium-2505", "mistral-large-latest"));
    expect(await applied).toMatchObject({ generation: 2 });
    expect(await keyOf()).toBe(`Bearer ${MISTRAL_KEY_2}`);
    expect(JSON.parse(upstream.requests.at(-1)!.body.toString())).toMatchObject({ model: "mistral-large-latest" });

    // A bad change: logged with file, object and field; the last good config keeps serving.
    const rejected = proxy.waitForNext((l) => l.msg === "config rejected; still serving the last good config", "config rejected");
    writeFileSync(file, readFileSync(file, "utf8").replace(`port: ${upstream.port}`, "port: 0"));
    const line = await rejected;
    expect(line.problems).toEqual([
      `${file}: error: Backend kgateway-system/mistral: \`spec.ai.llm.port\` must be an integer from 1 to 65535`,
      `${file}: error: HTTPRoute kgateway-system/mistral: \`spec.rules[0].backendRefs[0]\` Backend kgateway-system/mistral cannot be served (see its own problems)`,
    ]);
    expect(await keyOf()).toBe(`Bearer ${MISTRAL_KEY_2}`);
    // While rejected, the gauge an alert can hold on says so (the failure counter rises only once).
    expect((await send(proxy.adminUrl, "/metrics")).body).toMatch(/^openai_proxy_config_last_reload_successful 0$/m);

    // Fixing it back to the config being served is noticed, without a new generation.
    const valid = proxy.waitForNext((l) => l.msg === "config valid again, unchanged", "config valid again");
    writeFileSync(file, readFileSync(file, "utf8").replace("port: 0", `port: ${upstream.port}`));
    expect(await valid).toMatchObject({ generation: 2 });
    expect((await send(proxy.adminUrl, "/metrics")).body).toMatch(/^openai_proxy_config_last_reload_successful 1$/m);
    const reapplied = proxy.waitForNext((l) => l.msg === "config applied", "config applied again");
    writeFileSync(file, readFileSync(file, "utf8").replace("mistral-large-latest", "mistral-small-latest"));
    expect(await reapplied).toMatchObject({ generation: 3 });
    const metrics = (await send(proxy.adminUrl, "/metrics")).body;
    expect(metrics).toMatch(/openai_proxy_config_reloads_total\{result="failure"\} 1/);
    expect(metrics).toMatch(/openai_proxy_config_generation 3/);
    expect(metrics).toMatch(/^openai_proxy_config_last_reload_successful 1$/m);
  });

  it("follows Kubernetes' atomic `..data` symlink swap of a mounted Secret (--secrets-dir)", async () => {
    const dir = docsManifests(join(work, "mounted-objects"), (text) => text.replace(/^apiVersion: v1\nkind: Secret[\s\S]*?---\n/m, ""));
    const secrets = join(work, "secrets");
    // The layout kubelet writes for a Secret volume.
    const mount = (name: string, key: string, stamp: string): void => {
      const volume = join(secrets, name);
      mkdirSync(join(volume, stamp), { recursive: true });
      writeFileSync(join(volume, stamp, "Authorization"), key);
      symlinkSync(stamp, join(volume, "..data_tmp"));
      renameSync(join(volume, "..data_tmp"), join(volume, "..data"));
    };
    mount("mistral-secret", "sk-mounted-A", "..2026_01_01_00_00_00.000000001");
    symlinkSync("..data/Authorization", join(secrets, "mistral-secret", "Authorization"));
    mount("deepseek-secret", DEEPSEEK_KEY, "..2026_01_01_00_00_00.000000001");
    symlinkSync("..data/Authorization", join(secrets, "deepseek-secret", "Authorization"));

    const proxy = await cli(["--manifests", dir, "--secrets-dir", secrets, ...listenArgs]);
    const n = upstream.requests.length;
    await postJson(proxy.url, "/mistral", { messages: [] });
    expect((await upstream.request(n)).headers.authorization).toBe("Bearer sk-mounted-A");

    const applied = proxy.waitForNext((l) => l.msg === "config applied", "config applied after the swap");
    mount("mistral-secret", "sk-mounted-B", "..2026_01_01_00_05_00.000000002");
    rmSync(join(secrets, "mistral-secret", "..2026_01_01_00_00_00.000000001"), { recursive: true });
    await applied;
    await postJson(proxy.url, "/mistral", { messages: [] });
    expect(upstream.requests.at(-1)!.headers.authorization).toBe("Bearer sk-mounted-B");
  });
});

describe("SIGTERM", () => {
  function openStream(url: string): Promise<{ res: IncomingMessage; text: () => string }> {
    const u = new URL(url);
    const req = httpRequest({ host: u.hostname, port: u.port, method: "POST", path: "/mistral", headers: { "content-type": "application/json" } });
    req.end(JSON.stringify({ messages: [], stream: true, x_gate: true }));
    return once(req, "response").then(([res]) => {
      let text = "";
      (res as IncomingMessage).on("data", (c: Buffer) => (text += c.toString()));
      (res as IncomingMessage).on("error", () => undefined); // the grace-period test cuts it on purpose
      return { res: res as IncomingMessage, text: () => text };
    });
  }

  it("stops accepting, lets a live stream finish, then exits 0", async () => {
    const dir = docsManifests(join(work, "drain"));
    const proxy = await cli(["--manifests", dir, ...listenArgs]);
    const gated = upstream.gate();
    const { res, text } = await openStream(proxy.url);
    await gated;

    const draining = proxy.waitFor((l) => l.msg === "shutting down", "shutting down");
    proxy.child.kill("SIGTERM");
    expect(await draining).toMatchObject({ inflight: 1 });
    expect((await send(proxy.adminUrl, "/readyz")).status).toBe(503);
    // New connections are refused while the stream drains.
    const port = Number(new URL(proxy.url).port);
    await expect(
      new Promise((resolve, reject) => {
        const s = connect(port, "127.0.0.1", () => resolve(s.destroy()));
        s.on("error", reject);
      }),
    ).rejects.toMatchObject({ code: "ECONNREFUSED" });

    upstream.release();
    await once(res, "end");
    expect(text()).toMatch(/tok0[\s\S]*"usage":\{"prompt_tokens":11[\s\S]*data: \[DONE\]\n\n$/);
    expect(await proxy.exited).toBe(0);
    expect(proxy.lines.find((l) => l.msg === "stopped")).toMatchObject({ drained: true });
  });

  it("closes idle keep-alive connections at once, and answers a request still uploading, with Connection: close, before it exits 0", async () => {
    const dir = docsManifests(join(work, "drain-idle-upload"));
    const proxy = await cli(["--manifests", dir, ...listenArgs]);
    const port = Number(new URL(proxy.url).port);
    const rawClient = async (): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> => {
      const socket = connect(port, "127.0.0.1");
      await once(socket, "connect");
      let received = "";
      socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
      return { socket, received: () => received, closed: once(socket, "close").then(() => undefined) };
    };
    const answered = async (client: { received: () => string }): Promise<string> => {
      while (!/\r\n\r\n[^]*\}$/.test(client.received())) await new Promise((resolve) => setTimeout(resolve, 10));
      return client.received();
    };
    // A keep-alive connection, idle after its answer.
    const idle = await rawClient();
    idle.socket.write('POST /mistral HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{"messages":[]}');
    expect(await answered(idle)).toMatch(/^HTTP\/1\.1 200 [^]*\r\nConnection: keep-alive\r\n/);
    // A stream in flight, which keeps the proxy draining, and a request whose body is half sent.
    const gated = upstream.gate();
    const { res } = await openStream(proxy.url);
    await gated;
    const body = `{"messages":[],"pad":"${"x".repeat(64)}"}`;
    const upload = await rawClient();
    upload.socket.write(`POST /mistral HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 20)}`);
    const inflight = async (): Promise<string | undefined> => /^openai_proxy_inflight_requests (\d+)$/m.exec((await send(proxy.adminUrl, "/metrics")).body)?.[1];
    while ((await inflight()) !== "2") await new Promise((resolve) => setTimeout(resolve, 10));

    const draining = proxy.waitFor((l) => l.msg === "shutting down", "shutting down");
    proxy.child.kill("SIGTERM");
    expect(await draining).toMatchObject({ inflight: 2 });
    // The idle connection is closed while the stream still drains; the upload, once whole, is answered
    // and its connection closed.
    await idle.closed;
    upload.socket.write(body.slice(20));
    expect(await answered(upload)).toMatch(/^HTTP\/1\.1 200 [^]*\r\nConnection: close\r\n/);
    await upload.closed;
    upstream.release();
    await once(res.resume(), "end");
    expect(await proxy.exited).toBe(0);
    // Every request's line was written before the exit.
    expect(proxy.lines.filter((l) => l.msg === "request").map((l) => [l.status, l.stream ?? false])).toEqual([
      [200, false],
      [200, false],
      [200, true],
    ]);
    expect(proxy.lines.find((l) => l.msg === "stopped")).toMatchObject({ drained: true });
  });

  it("with --shutdown-delay-ms, stops being ready at once but serves new requests until the delay ends, then stops listening and exits 0", async () => {
    const dir = docsManifests(join(work, "delay"));
    const proxy = await cli(["--manifests", dir, ...listenArgs, "--shutdown-delay-ms", "1500"]);
    const delaying = proxy.waitFor((l) => l.msg === "not ready; still serving until the delay ends", "the shutdown delay");
    const signalled = performance.now();
    proxy.child.kill("SIGTERM");
    expect(await delaying).toMatchObject({ delayMs: 1500, inflight: 0 });
    expect((await send(proxy.adminUrl, "/readyz")).status).toBe(503);
    // A new connection is still accepted and served, and closed after its answer.
    const late = await postJson(proxy.url, "/mistral", { messages: [] });
    expect([late.status, late.headers.connection]).toEqual([200, "close"]);
    expect(proxy.lines.some((l) => l.msg === "shutting down")).toBe(false);
    // Then it stops listening, and exits 0 (no request is left in flight).
    await proxy.waitFor((l) => l.msg === "shutting down", "shutting down");
    expect(performance.now() - signalled).toBeGreaterThanOrEqual(1400);
    expect(await proxy.exited).toBe(0);
    expect(proxy.lines.find((l) => l.msg === "stopped")).toMatchObject({ drained: true });
  });

  it("skips the shutdown delay on SIGINT (Ctrl-C)", async () => {
    const dir = docsManifests(join(work, "delay-int"));
    const proxy = await cli(["--manifests", dir, ...listenArgs, "--shutdown-delay-ms", "60000"]);
    proxy.child.kill("SIGINT");
    expect(await proxy.exited).toBe(0);
    expect(proxy.lines.some((l) => l.msg === "not ready; still serving until the delay ends")).toBe(false);
    expect(proxy.lines.find((l) => l.msg === "stopped")).toMatchObject({ drained: true });
  });

  it("gives up on streams still open after the grace period, and still exits 0", async () => {
    const dir = docsManifests(join(work, "grace"));
    const proxy = await cli(["--manifests", dir, ...listenArgs, "--shutdown-grace-ms", "300"]);
    const gated = upstream.gate();
    const { res } = await openStream(proxy.url);
    await gated;
    proxy.child.kill("SIGTERM");
    const closed = new Promise((resolve) => res.once("close", resolve));
    expect(await proxy.exited).toBe(0);
    await closed;
    expect(proxy.lines.find((l) => l.msg === "stopped")).toMatchObject({ drained: false, abandoned: 1 });
    upstream.release();
  });
});

describe("logs", () => {
  it("never contain a key, in any line of any run above", () => {
    const output = clis.flatMap((c) => c.rawOutput).join("\n");
    expect(output.length).toBeGreaterThan(0);
    for (const key of ALL_KEYS) expect(output).not.toContain(key);
    // Every stdout line is JSON with a level and a message.
    for (const cli of clis) for (const line of cli.lines) expect(line).toEqual(expect.objectContaining({ level: expect.any(String) as string, msg: expect.any(String) as string }));
  });
});
