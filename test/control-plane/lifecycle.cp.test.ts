/**
 * Second `pulumi up`s: a stack is brought up, its program edited (new arguments), brought up again,
 * and the API server's objects checked after each step, then destroyed. What `pulumi.cp.test.ts`
 * does for one `up` of the examples, done here for the updates a user makes to a deployed stack:
 * a new key, model, host, path prefix, namespace or name, another data plane, providers added,
 * removed, renamed and reordered behind one shared proxy.
 *
 * Same engine and plugins as `pulumi.cp.test.ts` (inline programs, local file backend, the
 * kubernetes plugin as an ambient one); no `@pulumi/random` plugin is available here, so no client
 * keys.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { OutputMap, Stack } from "@pulumi/pulumi/automation";
import { OpenAICompatibleGateway, OpenAICompatibleProvider } from "../../src";
import type { OpenAICompatibleProviderArgs } from "../../src/args";
import type { OpenAICompatibleGatewayArgs } from "../../src/gateway-args";
import { inlineStack } from "./bare-api-server";
import type { ControlPlaneInfo } from "./control-plane";
import { controlPlaneInfo, ensureNamespace, kubectlOk, type KubeObject } from "./kubectl";
import { describeControlPlane } from "./skip";

const KINDS = "secrets,configmaps,deployments.apps,services,poddisruptionbudgets.policy,backends.gateway.kgateway.dev,httproutes.gateway.networking.k8s.io,backendtlspolicies.gateway.networking.k8s.io";

/** Every object a stack of this file made (they alone carry `pulumi.com/skipAwait`), by namespace. */
async function liveObjects(info: ControlPlaneInfo, namespaces: string[]): Promise<Map<string, KubeObject>> {
  const found = new Map<string, KubeObject>();
  for (const ns of namespaces) {
    const list = JSON.parse(await kubectlOk(info, ["get", KINDS, "-n", ns, "-o", "json"])) as { items: KubeObject[] };
    for (const item of list.items) {
      const annotations = item.metadata.annotations as Record<string, string> | undefined;
      if (annotations?.["pulumi.com/skipAwait"] !== "true") continue;
      found.set(`${ns}/${item.kind}/${item.metadata.name}`, item);
    }
  }
  return found;
}

function sortedKeys(map: Map<string, unknown>): string[] {
  return [...map.keys()].sort();
}

interface TestStack {
  stack: Stack;
  output: string[];
  up(): Promise<OutputMap>;
  /** The kinds of change the engine would make now, e.g. `{ same: 7 }`. */
  preview(): Promise<Record<string, number>>;
  /** The stack's state file as the backend stores it (`stack export` would decrypt the secrets). */
  storedState(): string;
}

async function makeStack(info: ControlPlaneInfo, home: string, project: string, program: () => Record<string, unknown>): Promise<TestStack> {
  const { stack, dir } = await inlineStack(info, home, project, program);
  const output: string[] = [];
  const onOutput = (line: string): void => void output.push(line);
  return {
    stack,
    output,
    up: async () => {
      const result = await stack.up({ onOutput });
      expect(result.summary.result).toBe("succeeded");
      return result.outputs;
    },
    preview: async () => {
      const result = await stack.preview({ onOutput });
      return result.changeSummary;
    },
    storedState: () => {
      const stacks = path.join(dir, "state", ".pulumi", "stacks", project);
      return fs.readFileSync(path.join(stacks, fs.readdirSync(stacks).find((f) => /^control-plane\.json(\.gz)?$/.test(f) && !f.endsWith(".gz"))!), "utf8");
    },
  };
}

/** Runs `body`, adding the engine's output to a failure, and always removes the stack. */
async function withEngineOutput(s: TestStack, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    throw new Error(`${String(err)}\n--- pulumi output:\n${s.output.join("")}`, { cause: err });
  } finally {
    await s.stack.workspace.removeStack("control-plane", { force: true }).catch(() => undefined);
  }
}

const GATEWAY = { name: "agentgateway", namespace: "kgateway-system" };

describeControlPlane("second pulumi up: updates to a deployed stack, against the real kube-apiserver", () => {
  let info: ControlPlaneInfo;
  let home: string;

  beforeAll(async () => {
    info = controlPlaneInfo();
    home = fs.mkdtempSync(path.join(os.tmpdir(), "ocp-lifecycle-"));
    for (const ns of ["kgateway-system", "lc-a", "lc-b"]) await ensureNamespace(info, ns);
  });

  afterAll(() => {
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  test("OpenAICompatibleProvider with its own proxy: key, model, host, prefix, namespace, name, replicas, selector, data plane", async () => {
    let current: OpenAICompatibleProviderArgs = {
      preset: "mistral",
      apiKey: pulumi.secret("key-one-not-real"),
      model: "mistral-medium-2505",
      namespace: "lc-a",
      route: { gateway: GATEWAY, pathPrefix: "/mistral" },
    };
    const s = await makeStack(info, home, "lifecycle-provider", () => {
      const p = new OpenAICompatibleProvider("llm", current);
      return { url: p.url, secretName: p.secretName };
    });
    const objectsOf = (ns: string, base: string, extra: string[] = []): string[] =>
      [`Backend/${base}`, `BackendTLSPolicy/${base}-tls`, `ConfigMap/${base}-proxy-config`, `Deployment/${base}-proxy`, `HTTPRoute/${base}`,
        `Secret/${base}-secret`, `Service/${base}-proxy`, ...extra].map((o) => `${ns}/${o}`).sort();
    await withEngineOutput(s, async () => {
      /** `up` with the program as it now is; then the objects are exactly `expected` and a preview finds nothing to do. */
      const step = async (label: string, expected: string[]): Promise<Map<string, KubeObject>> => {
        s.output.push(`\n===== ${label}\n`);
        await s.up();
        const live = await liveObjects(info, ["lc-a", "lc-b"]);
        expect({ label, live: sortedKeys(live) }).toEqual({ label, live: expected });
        expect({ label, preview: await s.preview() }).toEqual({ label, preview: { same: expected.length + 2 } });
        return live;
      };
      const config = (live: Map<string, KubeObject>, key: string): Record<string, unknown> =>
        JSON.parse((live.get(key)?.data as Record<string, string>)["config.json"]!) as Record<string, unknown>;
      const authorization = (live: Map<string, KubeObject>, key: string): string =>
        Buffer.from((live.get(key)?.data as Record<string, string>).Authorization!, "base64").toString("utf8");

      let live = await step("v1", objectsOf("lc-a", "llm"));
      const generation = live.get("lc-a/Deployment/llm-proxy")?.metadata.generation;
      expect(authorization(live, "lc-a/Secret/llm-secret")).toBe("key-one-not-real");

      // A new key and model: the Secret and the config change, the pods do not roll (the proxy reloads).
      current = { ...current, apiKey: pulumi.secret("key-two-not-real"), model: "mistral-small-latest" };
      live = await step("v2 key and model", objectsOf("lc-a", "llm"));
      expect(authorization(live, "lc-a/Secret/llm-secret")).toBe("key-two-not-real");
      expect(JSON.stringify(config(live, "lc-a/ConfigMap/llm-proxy-config"))).toContain('"mistral-small-latest"');
      expect((live.get("lc-a/Backend/llm")?.spec as { ai: { llm: { openai: { model: string } } } }).ai.llm.openai.model).toBe("mistral-small-latest");
      expect(live.get("lc-a/Deployment/llm-proxy")?.metadata.generation).toBe(generation);

      // The state holds the key encrypted only, also after the update (booleans: a failure must not print the state).
      const state = s.storedState();
      expect(state.includes("key-two-not-real") || state.includes(Buffer.from("key-two-not-real").toString("base64"))).toBe(false);
      expect(state.includes("key-one-not-real") || state.includes(Buffer.from("key-one-not-real").toString("base64"))).toBe(false);
      const secretState = (JSON.parse(state) as { checkpoint: { latest: { resources: { type: string; inputs: Record<string, unknown>; outputs: Record<string, unknown> }[] } } })
        .checkpoint.latest.resources.find((r) => r.type === "kubernetes:core/v1:Secret")!;
      for (const field of [secretState.inputs.data, secretState.outputs.data]) {
        expect(Object.keys(field as object).sort()).toEqual(["4dabf18193072939515e22adb298388d", "ciphertext"]);
      }

      // Another host and prefix: updated in place, no rollout.
      current = { ...current, preset: undefined, host: "llm.example.com", route: { gateway: GATEWAY, pathPrefix: "/llm" } };
      live = await step("v3 host and prefix", objectsOf("lc-a", "llm"));
      expect(JSON.stringify(live.get("lc-a/HTTPRoute/llm")?.spec)).toContain('"/llm"');
      expect(JSON.stringify(config(live, "lc-a/ConfigMap/llm-proxy-config"))).toContain('"llm.example.com"');
      expect(live.get("lc-a/Deployment/llm-proxy")?.metadata.generation).toBe(generation);

      // Every object moves to the new namespace (created there first, then deleted here).
      current = { ...current, namespace: "lc-b" };
      await step("v4 namespace", objectsOf("lc-b", "llm"));

      // Every object renamed.
      current = { ...current, kubernetesName: "renamed" };
      await step("v5 kubernetesName", objectsOf("lc-b", "renamed"));

      current = { ...current, proxy: { replicas: 2 } };
      await step("v6 two replicas", objectsOf("lc-b", "renamed", ["PodDisruptionBudget/renamed-proxy"]));

      // An immutable field (the selector) through the escape hatch: the Deployment is replaced in place.
      current = { ...current, proxy: { deploymentPatch: { spec: { selector: { matchLabels: { extra: "x" } }, template: { metadata: { labels: { extra: "x" } } } } } } };
      live = await step("v7 selector", objectsOf("lc-b", "renamed"));
      expect((live.get("lc-b/Deployment/renamed-proxy")?.spec as { selector: unknown }).selector).toEqual({
        matchLabels: { "app.kubernetes.io/instance": "renamed-proxy", "app.kubernetes.io/name": "openai-compatible-proxy", extra: "x" },
      });

      current = { ...current, proxy: undefined, dataPlane: "kgateway" };
      await step("v8 kgateway", ["Backend/renamed", "BackendTLSPolicy/renamed-tls", "HTTPRoute/renamed", "Secret/renamed-secret"].map((o) => `lc-b/${o}`));

      current = { ...current, dataPlane: undefined };
      await step("v9 back to the proxy", objectsOf("lc-b", "renamed"));

      const destroy = await s.stack.destroy({ onOutput: (l) => void s.output.push(l) });
      expect(destroy.summary.result).toBe("succeeded");
      expect(sortedKeys(await liveObjects(info, ["lc-a", "lc-b"]))).toEqual([]);
    });
  }, 600_000);

  test("OpenAICompatibleGateway: providers added, removed and renamed, the gateway renamed with an alias", async () => {
    const provider = (preset: string, key: string): OpenAICompatibleProviderArgs => ({ preset, apiKey: pulumi.secret(key), route: { gateway: GATEWAY } });
    let current: { name: string; args: OpenAICompatibleGatewayArgs; opts?: pulumi.ComponentResourceOptions } = {
      name: "gw",
      args: { namespace: "lc-a", providers: { mistral: provider("mistral", "m-key-not-real"), deepseek: provider("deepseek", "d-key-not-real") } },
    };
    const s = await makeStack(info, home, "lifecycle-gateway", () => {
      const g = new OpenAICompatibleGateway(current.name, current.args, current.opts);
      return { urls: g.urls };
    });
    const objectsOf = (...keys: string[]): string[] =>
      ["lc-a/ConfigMap/gw-config", "lc-a/Deployment/gw", "lc-a/Service/gw",
        ...keys.flatMap((k) => [`Backend/${k}`, `BackendTLSPolicy/${k}-tls`, `HTTPRoute/${k}`, `Secret/${k}-secret`].map((o) => `lc-a/${o}`))].sort();
    const volumes = (live: Map<string, KubeObject>): string[] =>
      ((live.get("lc-a/Deployment/gw")?.spec as { template: { spec: { volumes: { name: string }[] } } }).template.spec.volumes).map((v) => v.name).sort();
    await withEngineOutput(s, async () => {
      const step = async (label: string, expected: string[]): Promise<Map<string, KubeObject>> => {
        s.output.push(`\n===== ${label}\n`);
        await s.up();
        const live = await liveObjects(info, ["lc-a"]);
        expect({ label, live: sortedKeys(live) }).toEqual({ label, live: expected });
        // The stack, the gateway, each provider and their objects.
        expect({ label, preview: await s.preview() }).toEqual({ label, preview: { same: expected.length + 2 + (expected.length - 3) / 4 } });
        return live;
      };
      let live = await step("g1", objectsOf("deepseek", "mistral"));
      expect(volumes(live)).toEqual(["config", "key-deepseek-secret", "key-mistral-secret", "tmp"]);

      // One provider removed, one added: the pods mount the new key (a rollout), the old objects are gone.
      const { deepseek: _removed, ...kept } = current.args.providers;
      current = { ...current, args: { ...current.args, providers: { ...kept, groq: provider("groq", "g-key-not-real") } } };
      live = await step("g2 deepseek removed, groq added", objectsOf("groq", "mistral"));
      expect(volumes(live)).toEqual(["config", "key-groq-secret", "key-mistral-secret", "tmp"]);

      // A key renamed: new objects under the new name, then the old ones deleted.
      const { mistral, ...others } = current.args.providers;
      current = { ...current, args: { ...current.args, providers: { ...others, "mistral-eu": mistral! } } };
      live = await step("g3 mistral renamed mistral-eu", objectsOf("groq", "mistral-eu"));
      expect(volumes(live)).toEqual(["config", "key-groq-secret", "key-mistral-eu-secret", "tmp"]);
      const generation = live.get("lc-a/Deployment/gw")?.metadata.generation;

      // The same providers listed in another order: the same proxy config, so nothing to change (its
      // ConfigMap was replaced and the pods rolled when the config listed backends in the map's order).
      current = { ...current, args: { ...current.args, providers: Object.fromEntries(Object.entries(current.args.providers).reverse()) } };
      s.output.push("\n===== g3b providers listed in another order\n");
      expect(Object.keys(current.args.providers)).toEqual(["mistral-eu", "groq"]);
      expect(await s.preview()).toEqual({ same: 15 });

      // The gateway renamed with an alias (and its objects' names kept): the children follow, nothing changes.
      current = { name: "gw2", args: { ...current.args, kubernetesName: "gw" }, opts: { aliases: [{ name: "gw" }] } };
      s.output.push("\n===== g4 gateway renamed with an alias\n");
      expect(await s.preview()).toEqual({ same: 15 });
      live = await step("g4 gateway renamed with an alias", objectsOf("groq", "mistral-eu"));
      expect(live.get("lc-a/Deployment/gw")?.metadata.generation).toBe(generation);

      const destroy = await s.stack.destroy({ onOutput: (l) => void s.output.push(l) });
      expect(destroy.summary.result).toBe("succeeded");
      expect(sortedKeys(await liveObjects(info, ["lc-a"]))).toEqual([]);
    });
  }, 600_000);
});
