/*
 * End to end, without a cluster: a platform stack (one shared proxy, two providers, two client
 * keys) rendered under Pulumi mocks; its ConfigMap and Secrets written into a folder exactly as the
 * proxy's pod would see them mounted (kubelet's `..data` layout, from the Deployment's own volumes);
 * the real proxy (the built CLI, `proxy/dist/cli.js`, with the Deployment's own arguments) started
 * on them; JSON and streaming requests through it to a local upstream that checks the key and the
 * model. Then the model changes and a client key rotates the way `pulumi up` applies them (render
 * again, kubelet's atomic `..data` swap of the volumes that changed), and the running proxy picks
 * both up without a restart and without dropping a stream in flight. Everything listens on 127.0.0.1.
 *
 * The one liberty taken: the pod's absolute mount paths (`/etc/openai-compatible-proxy/...`,
 * `/var/run/secrets/...`) live under a temporary folder, so the config file's paths and the
 * `--config` argument get that folder as a prefix; the test checks that this is the only difference
 * from the ConfigMap's text.
 */
import { once } from "node:events";
import * as fs from "node:fs";
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { OpenAICompatibleGateway, RouteArgs } from "../src";
import { send } from "../proxy/test/helpers/http";
import { startCli, type CliProxy } from "../proxy/test/helpers/proxy";
import { openAiHandler, startUpstream, type Upstream } from "../proxy/test/helpers/upstream";
import { settled, withRecordingMocks } from "./support/pulumi-mocks";
import { AtomicVolume, mountedFiles, podSpec, VolumeFiles } from "./support/pod-volumes";
import { APPLY_ORDER, PlainObject } from "./support/scenarios";

const MISTRAL_KEY = "sk-e2e-mistral-0001";
const DEEPSEEK_KEY = "sk-e2e-deepseek-0001";

/** What `pulumi up` is given: the stack's inputs that change between the two runs. */
interface StackInputs {
    mistralModel: string;
    teamARotation: number;
}

interface RenderedStack {
    objects: PlainObject[];
    clientKeys: Record<string, string>;
}

/** The platform stack, as `pulumi up` would run it, under mocks: its Kubernetes objects and client keys. */
async function renderStack(inputs: StackInputs, upstreamPort: number): Promise<RenderedStack> {
    const { result, resources } = await withRecordingMocks({ project: "e2e", stack: "dev" }, async () => {
        const route: RouteArgs = { gateway: { name: "agentgateway", namespace: "kgateway-system" } };
        // Both providers are the local upstream, in plaintext by explicit choice; it tells them apart by key.
        const upstream = { host: "127.0.0.1", port: upstreamPort, path: "/v1/chat/completions", tls: { insecurePlaintext: true }, route };
        const g = new OpenAICompatibleGateway("llm", {
            namespace: "llm",
            proxy: { clientKeys: [{ name: "team-a", rotation: inputs.teamARotation }, { name: "team-b" }] },
            providers: {
                mistral: { ...upstream, apiKey: pulumi.secret(MISTRAL_KEY), model: inputs.mistralModel },
                deepseek: { ...upstream, apiKey: pulumi.secret(DEEPSEEK_KEY), model: "deepseek-chat" },
            },
        });
        await Promise.all([settled(g.urls), settled(g.deployment.urn), settled(g.clientKeysSecret!.urn), settled(g.proxyConfigMap.urn)]);
        return settled(g.clientKeys);
    });
    const objects = resources
        .filter((r) => r.custom && r.type.startsWith("kubernetes:"))
        .map((r) => r.inputs as unknown as PlainObject)
        .sort((a, b) => APPLY_ORDER.indexOf(a.kind) - APPLY_ORDER.indexOf(b.kind));
    return { objects, clientKeys: result };
}

function deploymentOf(stack: RenderedStack): PlainObject {
    const found = stack.objects.filter((o) => o.kind === "Deployment");
    expect(found).toHaveLength(1);
    return found[0]!;
}

const CONFIG_MOUNT = "/etc/openai-compatible-proxy/config";

/** The ProxyConfig with every `file` under `root`, as the pod's paths are here. */
function reroot(configText: string, root: string): string {
    return JSON.stringify(
        JSON.parse(configText, (key, value: unknown) => (key === "file" && typeof value === "string" ? path.join(root, value) : value)),
        null,
        2,
    );
}

/** The pod's volumes under `root`, kept up to date as kubelet does. */
class PodFilesystem {
    readonly volumes = new Map<string, AtomicVolume>();

    constructor(readonly root: string) {}

    /** Writes every volume of the rendered Deployment; returns the mount paths whose files changed. */
    sync(stack: RenderedStack): string[] {
        const changed: string[] = [];
        for (const [mountPath, { files, mode }] of mountedFiles(deploymentOf(stack), stack.objects)) {
            let volume = this.volumes.get(mountPath);
            if (!volume) {
                volume = new AtomicVolume(path.join(this.root, mountPath), mode);
                this.volumes.set(mountPath, volume);
            }
            const shown: VolumeFiles = mountPath === CONFIG_MOUNT ? { "config.json": reroot(files["config.json"]!, this.root) } : files;
            if (volume.write(shown)) changed.push(mountPath);
        }
        return changed.sort();
    }

    /** Writes only the volume at `mountPath` (kubelet updates each volume on its own). */
    syncOne(stack: RenderedStack, mountPath: string): boolean {
        const entry = mountedFiles(deploymentOf(stack), stack.objects).get(mountPath)!;
        const shown: VolumeFiles = mountPath === CONFIG_MOUNT ? { "config.json": reroot(entry.files["config.json"]!, this.root) } : entry.files;
        return this.volumes.get(mountPath)!.write(shown);
    }
}

/** A streaming completion in flight: its SSE text so far, and when it ends. */
interface LiveStream {
    res: IncomingMessage;
    text(): string;
    /** Resolves once the text so far contains `marker`. */
    waitFor(marker: string): Promise<void>;
    ended: Promise<string>;
}

async function openStream(base: string, urlPath: string, body: unknown, key: string): Promise<LiveStream> {
    const u = new URL(base);
    const req = httpRequest({ host: u.hostname, port: u.port, method: "POST", path: urlPath, headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, agent: false });
    req.end(JSON.stringify(body));
    const [res] = (await once(req, "response")) as [IncomingMessage];
    let text = "";
    const waiters: { marker: string; resolve: () => void }[] = [];
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
        text += chunk;
        for (const w of [...waiters]) {
            if (!text.includes(w.marker)) continue;
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
        }
    });
    const ended = new Promise<string>((resolve, reject) => {
        res.on("end", () => resolve(text));
        res.on("error", reject);
        res.on("aborted", () => reject(new Error(`stream aborted after: ${text}`)));
    });
    return {
        res,
        text: () => text,
        waitFor: (marker) => (text.includes(marker) ? Promise.resolve() : new Promise((resolve) => waiters.push({ marker, resolve }))),
        ended,
    };
}

function sseData(text: string): unknown[] {
    return text
        .split("\n\n")
        .filter((e) => e.startsWith("data: "))
        .map((e) => e.slice("data: ".length))
        .map((d) => (d === "[DONE]" ? d : (JSON.parse(d) as unknown)));
}

let upstream: Upstream;
let work: string;
let proxy: CliProxy | undefined;
/** The model the upstream expects with each provider key; what the stack says the proxy must send. */
const expectedModel = new Map<string, string>();

beforeAll(async () => {
    upstream = await startUpstream();
    // The upstream refuses a request whose provider key or model is not the one the stack says.
    upstream.handler = (req: IncomingMessage, res: ServerResponse, body: Buffer, up: Upstream) => {
        const model = expectedModel.get(req.headers.authorization ?? "");
        const sent = (JSON.parse(body.toString("utf8") || "{}") as { model?: unknown }).model;
        if (model === undefined || sent !== model) {
            res.writeHead(model === undefined ? 401 : 400, { "content-type": "application/json" });
            res.end(JSON.stringify({ error: { message: model === undefined ? "upstream: unknown key" : `upstream: expected model ${model}, got ${String(sent)}`, type: "test", code: null } }));
            return;
        }
        openAiHandler(req, res, body, up);
    };
    work = fs.mkdtempSync(path.join(os.tmpdir(), "data-plane-e2e-"));
});

afterAll(async () => {
    if (proxy) await proxy.stop();
    await upstream.close();
    fs.rmSync(work, { recursive: true, force: true });
});

it("serves the rendered stack from its mounted files, and picks up a new model and a rotated key without a restart or a dropped stream", async () => {
    expectedModel.set(`Bearer ${MISTRAL_KEY}`, "mistral-medium-2505");
    expectedModel.set(`Bearer ${DEEPSEEK_KEY}`, "deepseek-chat");

    // `pulumi up`, first run.
    const first = await renderStack({ mistralModel: "mistral-medium-2505", teamARotation: 0 }, upstream.port);
    const pod = new PodFilesystem(path.join(work, "pod"));
    expect(pod.sync(first)).toEqual([
        "/etc/openai-compatible-proxy/config",
        "/var/run/secrets/openai-compatible-proxy/client-keys",
        "/var/run/secrets/openai-compatible-proxy/providers/deepseek-secret",
        "/var/run/secrets/openai-compatible-proxy/providers/mistral-secret",
    ]);
    // kubelet's layout: `<key> -> ..data/<key>`, `..data -> ..<timestamp>`.
    const keysDir = path.join(pod.root, "/var/run/secrets/openai-compatible-proxy/providers/mistral-secret");
    expect(fs.readlinkSync(path.join(keysDir, "Authorization"))).toBe("..data/Authorization");
    expect(fs.readlinkSync(path.join(keysDir, "..data"))).toMatch(/^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\w+$/);
    expect(fs.readFileSync(path.join(keysDir, "Authorization"), "utf8")).toBe(MISTRAL_KEY);
    // The config file is the ConfigMap's text, its paths under the pod's root.
    const configMapText = (first.objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === "llm-config")!.data as Record<string, string>)["config.json"]!;
    const mountedConfig = fs.readFileSync(path.join(pod.root, CONFIG_MOUNT, "config.json"), "utf8");
    expect(JSON.parse(mountedConfig.split(pod.root).join(""))).toEqual(JSON.parse(configMapText));

    // The proxy, started as the Deployment starts it, listening on loopback.
    const container = podSpec(deploymentOf(first)).containers[0]!;
    const args = container.args.map((a) => (a.startsWith("/") ? path.join(pod.root, a) : /^:\d+$/.test(a) ? "127.0.0.1:0" : a));
    expect(args).toEqual([
        "--config",
        path.join(pod.root, CONFIG_MOUNT, "config.json"),
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--log-level",
        "info",
        "--shutdown-delay-ms",
        "5000",
        "--shutdown-grace-ms",
        "300000",
    ]);
    expect(podSpec(deploymentOf(first)).terminationGracePeriodSeconds).toBe(310);
    proxy = await startCli(args);
    const pid = proxy.child.pid;
    const teamA = first.clientKeys["team-a"]!;
    const teamB = first.clientKeys["team-b"]!;

    // JSON, through the shared proxy to each provider, with a client key.
    const json = await send(proxy.url, "/mistral/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${teamA}` }, body: JSON.stringify({ model: "whatever", messages: [{ role: "user", content: "hi" }] }) });
    expect(json.status).toBe(200);
    expect(json.json<{ model: string }>().model).toBe("mistral-medium-2505");
    const seen = upstream.requests.at(-1)!;
    expect({ url: seen.url, authorization: seen.headers.authorization, host: seen.headers.host }).toEqual({ url: "/v1/chat/completions", authorization: `Bearer ${MISTRAL_KEY}`, host: "127.0.0.1" });
    // Without a client key, or with a wrong one: 401, and nothing reaches the upstream.
    const before = upstream.requests.length;
    expect((await send(proxy.url, "/mistral/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(401);
    expect((await send(proxy.url, "/mistral/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer nope" }, body: "{}" })).status).toBe(401);
    expect(upstream.requests.length).toBe(before);

    // Streaming, to the other provider, with the other client key.
    const stream = await openStream(proxy.url, "/deepseek/v1/chat/completions", { messages: [], stream: true }, teamB);
    expect(stream.res.statusCode).toBe(200);
    expect(stream.res.headers["content-type"]).toBe("text/event-stream");
    const events = sseData(await stream.ended);
    expect(events.at(-1)).toBe("[DONE]");
    expect((events[0] as { model: string }).model).toBe("deepseek-chat");
    expect(upstream.requests.at(-1)!.headers.authorization).toBe(`Bearer ${DEEPSEEK_KEY}`);

    // A stream held open by the upstream after its first event, across the whole update.
    const live = await openStream(proxy.url, "/mistral/v1/chat/completions", { messages: [], stream: true, x_gate: true, x_chunks: 4 }, teamA);
    await live.waitFor("tok0");

    // `pulumi up`, second run: a new model, team-a's key rotated. Only two volumes change, and the
    // Deployment does not, so Kubernetes would not restart the pod either.
    const second = await renderStack({ mistralModel: "mistral-large-2411", teamARotation: 1 }, upstream.port);
    expect(deploymentOf(second)).toEqual(deploymentOf(first));
    expect(second.clientKeys["team-a"]).not.toBe(teamA);
    expect(second.clientKeys["team-b"]).toBe(teamB);
    expectedModel.set(`Bearer ${MISTRAL_KEY}`, "mistral-large-2411");

    // kubelet swaps each volume on its own: the config first, then the client keys.
    let applied = proxy.waitForNext((l) => l.msg === "config applied", "config applied after the ConfigMap swap");
    expect(pod.syncOne(second, CONFIG_MOUNT)).toBe(true);
    expect((await applied).generation).toBe(2);
    const afterModel = await send(proxy.url, "/mistral/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${teamA}` }, body: JSON.stringify({ messages: [] }) });
    expect(afterModel.status).toBe(200);
    expect(afterModel.json<{ model: string }>().model).toBe("mistral-large-2411");

    applied = proxy.waitForNext((l) => l.msg === "config applied", "config applied after the client-keys swap");
    expect(pod.syncOne(second, "/var/run/secrets/openai-compatible-proxy/client-keys")).toBe(true);
    expect((await applied).generation).toBe(3);
    // Nothing else differs between the two runs' volumes.
    expect(pod.sync(second)).toEqual([]);

    const rotated = await send(proxy.url, "/mistral/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${second.clientKeys["team-a"]!}` }, body: JSON.stringify({ messages: [] }) });
    expect(rotated.status).toBe(200);
    expect(rotated.json<{ model: string }>().model).toBe("mistral-large-2411");
    expect((await send(proxy.url, "/mistral/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${teamA}` }, body: "{}" })).status).toBe(401);
    expect((await send(proxy.url, "/deepseek/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${teamB}` }, body: JSON.stringify({ messages: [] }) })).status).toBe(200);

    // The stream that started before the update finishes whole, with the model it started with.
    expect(live.text()).not.toContain("[DONE]");
    upstream.release();
    const liveEvents = sseData(await live.ended);
    expect(liveEvents.at(-1)).toBe("[DONE]");
    const contents = liveEvents.flatMap((e) => (typeof e === "object" && e !== null ? ((e as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? []) : []));
    expect(contents).toEqual(["tok0 ", "tok1 ", "tok2 ", "tok3 "]);
    expect((liveEvents[0] as { model: string }).model).toBe("mistral-medium-2505");

    // The same process throughout, still ready; its metrics count three configs applied.
    expect(proxy.child.pid).toBe(pid);
    expect(proxy.child.exitCode).toBeNull();
    expect((await send(proxy.adminUrl, "/readyz")).status).toBe(200);
    expect((await send(proxy.adminUrl, "/metrics")).body).toMatch(/\n[a-z_]*config_generation(\{[^}]*\})? 3\n/);
    // No key in any log line.
    const logs = proxy.rawOutput.join("\n");
    for (const key of [MISTRAL_KEY, DEEPSEEK_KEY, teamA, teamB, second.clientKeys["team-a"]!]) expect(logs).not.toContain(key);

    // Terminated as kubelet terminates the pod: it stops being ready at once, but keeps serving new
    // requests (each closing its connection) while the endpoints catch up, then exits 0.
    const terminating = proxy.waitFor((l) => l.msg === "not ready; still serving until the delay ends", "the shutdown delay");
    proxy.child.kill("SIGTERM");
    expect(await terminating).toMatchObject({ delayMs: 5000 });
    expect((await send(proxy.adminUrl, "/readyz")).status).toBe(503);
    const late = await send(proxy.url, "/mistral/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${second.clientKeys["team-a"]!}` }, body: JSON.stringify({ model: "m", messages: [] }) });
    expect([late.status, late.headers.connection]).toEqual([200, "close"]);
    expect(proxy.lines.some((l) => l.msg === "shutting down")).toBe(false);
    expect(await proxy.exited).toBe(0);
    proxy = undefined;
});
