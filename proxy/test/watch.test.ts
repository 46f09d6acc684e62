/**
 * Hot reload of a watched config (in-process, from real files): a change is applied only once its
 * files have stopped being written; after a rejected change, what it tried to read is watched, and
 * folders deleted, replaced or made unreadable are watched again once they are back; and the config
 * is read again periodically, for a change no event told of.
 */
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import * as chokidar from "chokidar";
import { postJson, send } from "./helpers/http";
import { API_VERSION, startCli, startProxyFrom, type CliProxy, type LogLine, type TestProxy } from "./helpers/proxy";
import { createTestCa } from "./helpers/certs";
import { startUpstream, type Upstream } from "./helpers/upstream";

let upstream: Upstream;
let dir: string;
const proxies: TestProxy[] = [];
const clis: CliProxy[] = [];

beforeAll(async () => {
  upstream = await startUpstream();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "proxy-watch-"));
});

afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
  for (const c of clis.splice(0)) await c.stop("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

afterAll(async () => {
  await upstream.close();
});

/** A ProxyConfig file whose one backend reads its key from `keyFile`. */
function configFile(file: string, keyFile: string): string {
  writeFileSync(
    file,
    `apiVersion: ${API_VERSION}
kind: ProxyConfig
backends:
  - name: ns/up
    host: 127.0.0.1
    port: ${upstream.port}
    path: /v1/chat/completions
    auth: { type: Key, key: { file: ${JSON.stringify(keyFile)} } }
routes:
  - name: ns/route/0
    matches: [{ path: { type: PathPrefix, value: /mistral } }]
    backendRefs: [{ name: ns/up }]
`,
  );
  return file;
}

/** A Backend `name` (plain HTTP to the upstream) keyed by Secret `secret`, and its HTTPRoute on `/<name>`. */
function backendObjects(name: string, secret: string): string {
  return `apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: ${name}, namespace: ns }
spec:
  type: AI
  ai:
    llm:
      openai:
        authToken: { kind: SecretRef, secretRef: { name: ${secret} } }
      host: 127.0.0.1
      port: ${upstream.port}
      path: { full: /v1/chat/completions }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ns }
spec:
  rules:
    - matches: [{ path: { type: PathPrefix, value: /${name} } }]
      backendRefs: [{ name: ${name}, group: gateway.kgateway.dev, kind: Backend }]
`;
}

/** Resolves with `promise`, or fails the test naming `what` after `ms` (generous: this is no timing check). */
async function within<T>(promise: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const isApplied = (l: LogLine): boolean => l.msg === "config applied";
const isRejected = (l: LogLine): boolean => l.msg === "config rejected; still serving the last good config";

let probes = 0;
/** The Authorization header the upstream receives for a request sent now. */
async function keyOf(proxy: { url: string }, path = "/mistral"): Promise<string | undefined> {
  const probe = String(++probes);
  const reply = await postJson(proxy.url, path, { messages: [] }, { "x-probe": probe });
  expect(reply.status).toBe(200);
  return upstream.requests.find((r) => r.headers["x-probe"] === probe)?.headers.authorization;
}

async function start(source: Parameters<typeof startProxyFrom>[0], options: Parameters<typeof startProxyFrom>[1] = {}): Promise<TestProxy> {
  const proxy = await startProxyFrom(source, options);
  proxies.push(proxy);
  return proxy;
}

let stamps = 0;
/**
 * What kubelet does to a mounted ConfigMap or Secret volume: the files in a new timestamped folder, a
 * `..data_tmp` symlink to it renamed over `..data`, the old folder removed; each key is a symlink
 * `<key> -> ..data/<key>`.
 */
function mountVolume(volume: string, files: Record<string, string>): void {
  const stamp = `..2026_01_01_00_00_00.${String(++stamps).padStart(9, "0")}`;
  mkdirSync(join(volume, stamp), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(volume, stamp, name), text);
  const old = readdirSync(volume).filter((e) => e.startsWith("..2") && e !== stamp);
  symlinkSync(stamp, join(volume, "..data_tmp"));
  renameSync(join(volume, "..data_tmp"), join(volume, "..data"));
  for (const name of Object.keys(files)) if (old.length === 0) symlinkSync(`..data/${name}`, join(volume, name));
  for (const o of old) rmSync(join(volume, o), { recursive: true });
}

describe("Kubernetes' `..data` swap of mounted volumes (the component's layout: --config, CA bundle)", () => {
  it("applies swaps in quick succession, keeps the last good config past a bad one and takes a good one after it; a new CA never reuses the old one's connections", async () => {
    const ca = await createTestCa();
    const other = await createTestCa("another CA");
    const tlsUpstream = await startUpstream({ tls: await ca.server(["api.mistral.ai"]) });
    // Idle upstream connections stay: only a new pool makes a new handshake.
    tlsUpstream.server.keepAliveTimeout = 60_000;
    try {
      const configVolume = join(dir, "config");
      const caVolume = join(dir, "ca");
      const config = (model: string, port = tlsUpstream.port): string =>
        JSON.stringify({
          apiVersion: API_VERSION,
          kind: "ProxyConfig",
          backends: [
            { name: "ns/up", host: "127.0.0.1", port, path: "/v1/chat/completions", model, auth: { type: "None" }, tls: { serverName: "api.mistral.ai", caCertificates: [{ file: join(caVolume, "ca.crt") }] } },
          ],
          routes: [{ name: "ns/route/0", matches: [{ path: { type: "PathPrefix", value: "/mistral" } }], backendRefs: [{ name: "ns/up" }] }],
        });
      mountVolume(caVolume, { "ca.crt": ca.caCert });
      mountVolume(configVolume, { "config.json": config("m1") });
      const proxy = await start({ configFile: join(configVolume, "config.json") }, { watchSettleMs: 100 });
      const modelSent = async (): Promise<unknown> => {
        const reply = await postJson(proxy.url, "/mistral", { model: "client", messages: [] });
        expect(reply.status).toBe(200);
        return JSON.parse(tlsUpstream.requests.at(-1)!.body.toString()).model;
      };
      expect(await modelSent()).toBe("m1");

      // Three swaps in a row: the last one is served.
      const applied = proxy.waitForNext(isApplied);
      for (const model of ["m2", "m3", "m4"]) mountVolume(configVolume, { "config.json": config(model) });
      await within(applied, "config applied");
      await within(
        (async () => {
          while (proxy.proxy.generation < 2 || (await modelSent()) !== "m4") await delay(50);
        })(),
        "the last of three swaps served",
      );

      // A bad one: said why, the last good config serves; a good one after it takes.
      const rejected = proxy.waitForNext(isRejected);
      mountVolume(configVolume, { "config.json": config("m5", 0) });
      expect((await within(rejected, "rejection")).problems).toEqual([`${join(configVolume, "config.json")}: ProxyConfig: \`backends[0].port\` Too small: expected number to be >=1`]);
      expect(await modelSent()).toBe("m4");
      const fixed = proxy.waitForNext(isApplied);
      mountVolume(configVolume, { "config.json": config("m6") });
      await within(fixed, "config applied after the rejected one");
      expect(await modelSent()).toBe("m6");

      // The CA bundle swapped to a CA that did not sign the upstream's certificate: no request goes
      // over the connection the old CA verified.
      const served = tlsUpstream.requests.length;
      const untrusted = proxy.waitForNext(isApplied);
      mountVolume(caVolume, { "ca.crt": other.caCert });
      await within(untrusted, "config applied with the other CA");
      const refused = await postJson(proxy.url, "/mistral", { messages: [] });
      expect({ status: refused.status, code: refused.json<{ error: { code: string } }>().error.code }).toEqual({ status: 502, code: "upstream_tls_failed" });
      expect(tlsUpstream.requests).toHaveLength(served);
      const trusted = proxy.waitForNext(isApplied);
      mountVolume(caVolume, { "ca.crt": ca.caCert });
      await within(trusted, "config applied with the CA back");
      expect(await modelSent()).toBe("m6");
    } finally {
      await tlsUpstream.close();
    }
  });
});

describe("a change being written", () => {
  it("is applied once the file has stopped changing, not after its first part (a key split in two writes)", async () => {
    const keyFile = join(dir, "Authorization");
    writeFileSync(keyFile, "sk-h1-0000000001");
    // A long settle period against a short pause between the two writes: the margin is wide on a busy machine.
    const proxy = await start({ configFile: configFile(join(dir, "config.yaml"), keyFile) }, { watchSettleMs: 2000 });
    expect(await keyOf(proxy)).toBe("Bearer sk-h1-0000000001");

    // What each applied config sends, probed as soon as it is applied.
    const seen: Promise<string | undefined>[] = [];
    proxy.proxy.on("reload", () => seen.push(keyOf(proxy)));
    const applied = proxy.waitForLog((l) => l.msg === "config applied");
    writeFileSync(keyFile, "sk-h1-");
    await delay(200);
    appendFileSync(keyFile, "0000000002");
    expect(await applied).toMatchObject({ generation: 2 });
    expect(await Promise.all(seen)).toEqual(["Bearer sk-h1-0000000002"]);
    expect(proxy.logs().filter((l) => l.msg === "config rejected; still serving the last good config")).toEqual([]);
  });
});

describe("after a rejected change", () => {
  it("watches the key file it could not read: creating it later applies the change (--secrets-dir)", async () => {
    const secrets = join(dir, "secrets");
    mkdirSync(join(secrets, "s1"), { recursive: true });
    writeFileSync(join(secrets, "s1", "Authorization"), "sk-s1");
    const manifests = join(dir, "m3.yaml");
    writeFileSync(manifests, backendObjects("one", "s1"));
    const proxy = await start({ manifests: [manifests], translate: { secretsDir: secrets } });
    expect(await keyOf(proxy, "/one")).toBe("Bearer sk-s1");

    // A new Backend whose Secret is not mounted yet: rejected.
    const rejected = proxy.waitForNext(isRejected);
    writeFileSync(manifests, `${backendObjects("one", "s1")}---\n${backendObjects("three", "s3")}`);
    expect((await within(rejected, "rejection")).problems).toEqual([expect.stringContaining(`${join(secrets, "s3", "Authorization")}\` (ENOENT)`)]);

    // The Secret arrives, its folder first: nothing else is touched.
    const applied = proxy.waitForNext(isApplied);
    mkdirSync(join(secrets, "s3"));
    writeFileSync(join(secrets, "s3", "Authorization"), "sk-s3");
    expect(await within(applied, "config applied once the key file exists")).toMatchObject({ generation: 2, backends: 2 });
    expect(await keyOf(proxy, "/three")).toBe("Bearer sk-s3");
    expect(await keyOf(proxy, "/one")).toBe("Bearer sk-s1");
    // Re-reading after the watch was rebuilt does not log the same rejection again.
    expect(proxy.logs().filter(isRejected)).toHaveLength(1);
  });

  it("watches a key's folder again after it is deleted and recreated, at once or later", async () => {
    const secrets = join(dir, "secrets");
    const folder = join(secrets, "s1");
    const keyFile = join(folder, "Authorization");
    mkdirSync(folder, { recursive: true });
    writeFileSync(keyFile, "sk-old");
    const manifests = join(dir, "m.yaml");
    writeFileSync(manifests, backendObjects("one", "s1"));
    const proxy = await start({ manifests: [manifests], translate: { secretsDir: secrets } });
    expect(await keyOf(proxy, "/one")).toBe("Bearer sk-old");

    // Replaced at once (rm -rf; mkdir; printf): the new folder is watched.
    let applied = proxy.waitForNext(isApplied);
    rmSync(folder, { recursive: true });
    mkdirSync(folder);
    writeFileSync(keyFile, "sk-new");
    expect(await within(applied, "config applied after the folder was replaced")).toMatchObject({ generation: 2 });
    expect(await keyOf(proxy, "/one")).toBe("Bearer sk-new");
    applied = proxy.waitForNext(isApplied);
    writeFileSync(keyFile, "sk-newer");
    expect(await within(applied, "config applied after a write in the replaced folder")).toMatchObject({ generation: 3 });
    expect(await keyOf(proxy, "/one")).toBe("Bearer sk-newer");

    // Deleted, rejected, then recreated: its parent is watched meanwhile.
    const rejected = proxy.waitForNext(isRejected);
    rmSync(folder, { recursive: true });
    expect((await within(rejected, "rejection of the missing key")).problems).toEqual([expect.stringContaining("(ENOENT)")]);
    applied = proxy.waitForNext(isApplied);
    mkdirSync(folder);
    writeFileSync(keyFile, "sk-back");
    expect(await within(applied, "config applied after the folder came back")).toMatchObject({ generation: 4 });
    expect(await keyOf(proxy, "/one")).toBe("Bearer sk-back");
    applied = proxy.waitForNext(isApplied);
    writeFileSync(keyFile, "sk-last");
    expect(await within(applied, "config applied after a write in the recreated folder")).toMatchObject({ generation: 5 });
    expect(await keyOf(proxy, "/one")).toBe("Bearer sk-last");
  });

  // Permissions only bind a process that is not root: as root, the CLI runs as nobody.
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  it("watches the config's folder again once it is readable again (chmod 000, then 755; the CLI, not as root)", async () => {
    chmodSync(dir, 0o755);
    const folder = join(dir, "nb");
    mkdirSync(folder, { mode: 0o755 });
    const keyFile = join(folder, "key");
    writeFileSync(keyFile, "sk-before", { mode: 0o644 });
    const config = configFile(join(folder, "cfg.yaml"), keyFile);
    chmodSync(config, 0o644);
    const cli = await startCli(["--config", config, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"], {}, asUser);
    clis.push(cli);
    expect(await keyOf(cli)).toBe("Bearer sk-before");

    const rejected = cli.waitForNext(isRejected, "rejection of the unreadable folder");
    chmodSync(folder, 0o000);
    try {
      expect((await within(rejected, "rejection")).problems).toEqual([expect.stringContaining("(EACCES)")]);
    } finally {
      chmodSync(folder, 0o755);
    }
    await within(cli.waitForNext((l) => l.msg === "config valid again, unchanged", "config valid again"), "config valid again");
    const applied = cli.waitForNext(isApplied, "config applied");
    writeFileSync(keyFile, "sk-after");
    expect(await within(applied, "config applied after a write in the folder made readable again")).toMatchObject({ generation: 2 });
    expect(await keyOf(cli)).toBe("Bearer sk-after");
  });

  it("says which manifests folder it cannot list, and why, and takes it again once it can (chmod 000, then 755; the CLI, not as root)", async () => {
    chmodSync(dir, 0o755);
    const folder = join(dir, "objects");
    mkdirSync(folder, { mode: 0o755 });
    mkdirSync(join(dir, "secrets", "s1"), { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, "secrets", "s1", "Authorization"), "sk-listed", { mode: 0o644 });
    writeFileSync(join(folder, "one.yaml"), backendObjects("one", "s1"), { mode: 0o644 });
    const cli = await startCli(["--manifests", folder, "--secrets-dir", join(dir, "secrets"), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"], {}, asUser);
    clis.push(cli);
    expect(await keyOf(cli, "/one")).toBe("Bearer sk-listed");

    const rejected = cli.waitForNext(isRejected, "rejection of the folder that cannot be listed");
    chmodSync(folder, 0o000);
    try {
      expect((await within(rejected, "rejection")).problems).toEqual([`${folder}: cannot list (EACCES)`]);
    } finally {
      chmodSync(folder, 0o755);
    }
    await within(cli.waitForNext((l) => l.msg === "config valid again, unchanged", "config valid again"), "config valid again");
    expect(await keyOf(cli, "/one")).toBe("Bearer sk-listed");
  });
});

describe("the periodic re-read", () => {
  it("applies a change no watched folder sees (a key file symlinked to one edited in place), and leaves an unchanged config alone", async () => {
    mkdirSync(join(dir, "elsewhere"));
    mkdirSync(join(dir, "config"));
    const target = join(dir, "elsewhere", "key");
    writeFileSync(target, "sk-target-1");
    const link = join(dir, "config", "key");
    symlinkSync(target, link);
    const proxy = await start({ configFile: configFile(join(dir, "config", "config.yaml"), link) }, { watchFallbackMs: 300 });
    expect(await keyOf(proxy)).toBe("Bearer sk-target-1");

    // Read again and again, unchanged: nothing is applied, logged above debug or counted.
    const reread = (): Promise<LogLine> => within(proxy.waitForNext((l) => l.msg === "config read again, unchanged"), "periodic re-read");
    await reread();
    await reread();
    expect(proxy.proxy.generation).toBe(1);
    expect(proxy.logs().filter((l) => l.level !== "debug" && l.msg !== "listening" && l.msg !== "request")).toEqual([]);
    expect((await send(proxy.adminUrl, "/metrics")).body).not.toMatch(/openai_proxy_config_reloads_total\{/);

    const applied = proxy.waitForNext(isApplied);
    writeFileSync(target, "sk-target-2");
    expect(await within(applied, "config applied by the periodic re-read")).toMatchObject({ generation: 2 });
    expect(await keyOf(proxy)).toBe("Bearer sk-target-2");
  });
});

describe("a watch that fails", () => {
  it("is logged once per error code, with the node's inotify limit named, and changes still apply", async () => {
    // The proxy's watchers, real ones, kept so the test can make one report an error.
    const watchers: chokidar.FSWatcher[] = [];
    const realWatch = chokidar.watch;
    jest.spyOn(chokidar, "watch").mockImplementation((paths, options) => {
      const watcher = realWatch(paths, options);
      watchers.push(watcher);
      return watcher;
    });
    try {
      mkdirSync(join(dir, "config"));
      const keyFile = join(dir, "config", "key");
      writeFileSync(keyFile, "sk-watch-1");
      const proxy = await start({ configFile: configFile(join(dir, "config", "config.yaml"), keyFile) }, { watchFallbackMs: 60_000 });
      expect(await keyOf(proxy)).toBe("Bearer sk-watch-1");
      expect(watchers).toHaveLength(1);

      // What chokidar emits when the kernel refuses a watch (fs.inotify.max_user_watches reached).
      const enospc = (): NodeJS.ErrnoException => Object.assign(new Error("ENOSPC: System limit for number of file watchers reached, watch"), { code: "ENOSPC", path: join(dir, "config") });
      const warned = proxy.waitForNext((l) => l.msg.startsWith("config watch failed"));
      watchers[0]!.emit("error", enospc());
      expect(await within(warned, "a warning")).toMatchObject({
        level: "warn",
        code: "ENOSPC",
        msg: "config watch failed: the node's inotify watch limit is reached (fs.inotify.max_user_watches); changes now apply when the config is read again (every 60 s); watching again every 5 s",
      });
      // Rebuilt (at most 5 s after the last build), and a change applies.
      for (let waited = 0; watchers.length < 2; waited += 50) {
        if (waited > 10_000) throw new Error("no rebuilt watch within 10 s");
        await delay(50);
      }
      const applied = proxy.waitForNext(isApplied);
      writeFileSync(keyFile, "sk-watch-2");
      await within(applied, "the change applied after the rebuild");
      expect(await keyOf(proxy)).toBe("Bearer sk-watch-2");

      // The same failure again is not logged again.
      watchers[watchers.length - 1]!.emit("error", enospc());
      await delay(200);
      expect(proxy.logs().filter((l) => l.msg.startsWith("config watch failed"))).toHaveLength(1);
      expect(proxy.rawLogs.join("\n")).not.toContain(dir);
    } finally {
      jest.restoreAllMocks();
    }
  });
});

