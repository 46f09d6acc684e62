/**
 * A platform team that followed the kgateway docs page by hand (Secret, Backend, HTTPRoute,
 * BackendTLSPolicy applied with `kubectl apply`) moves the same provider to the component. What the
 * README's "Moving from the docs' hand-written objects" says, run against the real API server and
 * Pulumi engine:
 *
 * - with the component's default names, which are the docs' names, `pulumi up` does not create new
 *   objects beside the hand-written ones: this tier's pulumi-resource-kubernetes (4.25.0) takes the
 *   Secret, Backend and BackendTLSPolicy over in place (server-side apply), the HTTPRoute conflicts,
 *   and `pulumi destroy` then deletes what was taken over (with the `pulumi.com/patchForce`
 *   annotation the HTTPRoute is taken over too: the report's evidence, not a path the README gives,
 *   since releases 4.29+ refuse the create first);
 * - with another `kubernetesName` (and the docs' `route.pathPrefix`, and the docs' Secret through
 *   `apiKeySecretName`), the new objects are created beside the old ones, which are left untouched;
 *   both HTTPRoutes match the same prefix on the same Gateway, the hand-written one older and first
 *   by `{namespace}/{name}`, so Gateway API's tie-break keeps it serving until it is deleted; deleting
 *   the old objects by hand changes nothing in the stack, and `pulumi destroy` leaves the docs' Secret.
 *
 * There is no Gateway controller here: what the tier checks is the objects (names, matches, owners,
 * creation order), not which route a data plane picks.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { OpenAICompatibleProvider } from "../../src";
import type { OpenAICompatibleProviderArgs } from "../../src/args";
import { inlineStack, type TierStack } from "./bare-api-server";
import type { ControlPlaneInfo } from "./control-plane";
import { controlPlaneInfo, ensureNamespace, getObject, kubectl, kubectlOk, type KubeObject } from "./kubectl";
import { readFixtureFiles } from "./load-objects";
import { describeControlPlane } from "./skip";

const NAMESPACE = "migrate";
/** The docs' placeholder key, as the fixtures hold it (not a real key). */
const DOCS_KEY = "placeholder-not-a-real-key";

/** The docs' objects of one provider (the tier's fixtures), moved to this file's namespace. */
function docsObjects(provider: "mistral" | "deepseek"): KubeObject[] {
  const set = readFixtureFiles().find((s) => s.source === `fixtures/kgateway-docs-${provider}.yaml`);
  if (!set) throw new Error(`no fixture for ${provider}`);
  return set.objects.map((o) => JSON.parse(JSON.stringify(o).replaceAll('"kgateway-system"', JSON.stringify(NAMESPACE))) as KubeObject);
}

/** `kubectl apply -f-` of the docs' objects: client-side apply, as the docs page does it. */
async function applyByHand(info: ControlPlaneInfo, objects: KubeObject[]): Promise<void> {
  await kubectlOk(info, ["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
}

interface ManagedField { manager?: string; operation?: string }
function managers(live: KubeObject | undefined): string[] {
  return ((live?.metadata.managedFields ?? []) as ManagedField[]).map((m) => `${m.manager}/${m.operation}`).sort();
}

async function live(info: ControlPlaneInfo, objects: KubeObject[]): Promise<Map<string, KubeObject | undefined>> {
  const found = new Map<string, KubeObject | undefined>();
  for (const object of objects) found.set(`${object.kind}/${object.metadata.name}`, await getObject(info, object));
  return found;
}

const GATEWAY = { name: "agentgateway", namespace: NAMESPACE };

describeControlPlane("moving from the docs' hand-written objects to the component, against the real kube-apiserver", () => {
  let info: ControlPlaneInfo;
  let home: string;
  let tier: TierStack | undefined;
  const output: string[] = [];
  const onOutput = (line: string): void => void output.push(line);

  beforeAll(async () => {
    info = controlPlaneInfo();
    home = fs.mkdtempSync(path.join(os.tmpdir(), "ocp-migrate-"));
    await ensureNamespace(info, NAMESPACE);
  });

  afterEach(async () => {
    await tier?.stack.workspace.removeStack("control-plane", { force: true }).catch(() => undefined);
    tier = undefined;
    output.length = 0;
    // Whatever a test left (hand-written objects included), so the next one starts from nothing.
    await kubectl(info, ["delete", "secrets,configmaps,deployments.apps,services,backends.gateway.kgateway.dev,httproutes.gateway.networking.k8s.io,backendtlspolicies.gateway.networking.k8s.io",
      "--all", "-n", NAMESPACE, "--wait=false"]);
  });

  afterAll(() => {
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  async function stackOf(project: string, args: () => OpenAICompatibleProviderArgs, name: string): Promise<TierStack> {
    tier = await inlineStack(info, home, project, () => {
      const p = new OpenAICompatibleProvider(name, args());
      return { url: p.url, httpRouteName: p.httpRouteName, secretName: p.secretName };
    });
    return tier;
  }

  async function withOutput(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      throw new Error(`${String(err)}\n--- pulumi output:\n${output.join("")}`, { cause: err });
    }
  }

  /** The docs' Mistral objects applied by hand, then a stack of the component under the docs' names. */
  async function sameNames(project: string, extra: Partial<OpenAICompatibleProviderArgs>): Promise<{ docs: KubeObject[]; before: Map<string, KubeObject | undefined>; stack: TierStack["stack"] }> {
    const docs = docsObjects("mistral");
    await applyByHand(info, docs);
    const before = await live(info, docs);
    const { stack } = await stackOf(project, () => ({
      preset: "mistral",
      apiKey: pulumi.secret(DOCS_KEY),
      model: "mistral-medium-2505",
      namespace: NAMESPACE,
      route: { gateway: GATEWAY, pathPrefix: "/mistral" },
      ...extra,
    }), "mistral");
    return { docs, before, stack };
  }

  // The component's default names are the docs' names (Secret `mistral-secret`, Backend and HTTPRoute
  // `mistral`, BackendTLSPolicy `mistral-tls`), with either data plane. This tier's provider (4.25.0)
  // creates with a server-side apply, so the "created" objects are the hand-written ones, taken over;
  // the HTTPRoute alone conflicts (kubectl owns `spec.rules` and `spec.parentRefs`, which differ), so
  // `pulumi up` fails; and `pulumi destroy` then deletes what it took over, leaving the hand-written
  // HTTPRoute pointing at a deleted Backend. (pulumi-kubernetes 4.29 and later, as @pulumi/kubernetes
  // 4.34.2 installs, refuse the create with AlreadyExists instead: its changelog; not run here.)
  test.each([{ dataPlane: "kgateway" as const }, { dataPlane: undefined }])(
    "the default names are the docs' names: with dataPlane $dataPlane the Secret, Backend and policy are taken over, the HTTPRoute conflicts, destroy deletes them",
    async ({ dataPlane }) => {
      const { docs, before, stack } = await sameNames(`migrate-same-names-${dataPlane ?? "proxy"}`, dataPlane ? { dataPlane } : {});
      const failure = await stack.up({ onOutput }).then(() => "succeeded", (err: unknown) => String(err));
      expect(failure).toContain('HTTPRoute::mistral-route" was not successfully created by the Kubernetes API server: Server-Side Apply field conflict detected');
      expect(failure).toContain('conflicts with "kubectl-client-side-apply"');
      expect(failure).toContain("- .spec.rules");

      const after = await live(info, docs);
      const owners = (key: string): string[] => managers(after.get(key)).map((m) => m.replace(/^pulumi-kubernetes-[0-9a-f]+\//, "pulumi-kubernetes/"));
      for (const key of ["Secret/mistral-secret", "Backend/mistral", "BackendTLSPolicy/mistral-tls"]) {
        expect({ key, owners: owners(key) }).toEqual({ key, owners: ["kubectl-client-side-apply/Update", "pulumi-kubernetes/Apply"] });
      }
      expect(after.get("HTTPRoute/mistral")?.metadata.resourceVersion).toBe(before.get("HTTPRoute/mistral")?.metadata.resourceVersion);

      await withOutput(async () => {
        const destroy = await stack.destroy({ onOutput });
        expect(destroy.summary.result).toBe("succeeded");
      });
      const left = await live(info, docs);
      expect([...left].filter(([, o]) => o !== undefined).map(([k]) => k)).toEqual(["HTTPRoute/mistral"]);
    },
    300_000,
  );

  // Taking the hand-written objects over in place on purpose: the `pulumi.com/patchForce` annotation
  // (through the component's `annotations`) lets the apply take the conflicting HTTPRoute fields.
  test("the default names with pulumi.com/patchForce: the docs' objects are updated in place and owned by the stack", async () => {
    const { docs, before, stack } = await sameNames("migrate-patch-force", { dataPlane: "kgateway", annotations: { "pulumi.com/patchForce": "true" } });
    await withOutput(async () => {
      const up = await stack.up({ onOutput });
      expect(up.summary.result).toBe("succeeded");
      const after = await live(info, docs);
      for (const [key, object] of after) {
        expect({ key, uid: object?.metadata.uid }).toEqual({ key, uid: before.get(key)?.metadata.uid });
      }
      expect((after.get("HTTPRoute/mistral")?.spec as { rules: { timeouts?: unknown }[] }).rules[0]?.timeouts).toEqual({ request: "0s" });
      const preview = await stack.preview({ onOutput, expectNoChanges: true });
      expect(Object.keys(preview.changeSummary)).toEqual(["same"]);

      const destroy = await stack.destroy({ onOutput });
      expect(destroy.summary.result).toBe("succeeded");
      expect([...(await live(info, docs))].filter(([, o]) => o !== undefined).map(([k]) => k)).toEqual([]);
    });
  }, 300_000);

  test.each([
    { provider: "mistral" as const, dataPlane: undefined, preset: "mistral", model: "mistral-medium-2505" },
    { provider: "deepseek" as const, dataPlane: "kgateway", preset: "deepseek", model: "deepseek-chat" },
  ])("another kubernetesName: $provider, dataPlane $dataPlane", async ({ provider, dataPlane, preset, model }) => {
    const docs = docsObjects(provider);
    await applyByHand(info, docs);
    const before = await live(info, docs);
    const newName = `${provider}-v2`;
    const { stack } = await stackOf(`migrate-${provider}`, () => ({
      preset,
      apiKeySecretName: `${provider}-secret`,
      model,
      namespace: NAMESPACE,
      kubernetesName: newName,
      ...(dataPlane ? { dataPlane } : {}),
      route: { gateway: GATEWAY, pathPrefix: `/${provider}` },
    }), provider);
    await withOutput(async () => {
      const up = await stack.up({ onOutput });
      expect(up.summary.result).toBe("succeeded");
      expect(up.outputs.httpRouteName?.value).toBe(newName);
      expect(up.outputs.secretName?.value).toBe(`${provider}-secret`);

      // The hand-written objects are untouched: same resourceVersion, no manager but kubectl.
      const after = await live(info, docs);
      for (const [key, object] of after) {
        expect({ key, rv: object?.metadata.resourceVersion, managers: managers(object) })
          .toEqual({ key, rv: before.get(key)?.metadata.resourceVersion, managers: ["kubectl-client-side-apply/Update"] });
      }

      // The component's objects are new ones, beside the old; the proxy mounts the docs' Secret.
      const kinds = "secrets,configmaps,deployments.apps,services,backends.gateway.kgateway.dev,httproutes.gateway.networking.k8s.io,backendtlspolicies.gateway.networking.k8s.io";
      const items = (JSON.parse(await kubectlOk(info, ["get", kinds, "-n", NAMESPACE, "-o", "json"])) as { items: KubeObject[] }).items;
      const ours = items.filter((i) => i.metadata.name.startsWith(newName)).map((i) => `${i.kind}/${i.metadata.name}`).sort();
      expect(ours).toEqual([`Backend/${newName}`, `BackendTLSPolicy/${newName}-tls`, `HTTPRoute/${newName}`,
        ...(dataPlane ? [] : [`ConfigMap/${newName}-proxy-config`, `Deployment/${newName}-proxy`, `Service/${newName}-proxy`])].sort());
      if (!dataPlane) {
        const deployment = items.find((i) => i.kind === "Deployment" && i.metadata.name === `${newName}-proxy`)!;
        expect(JSON.stringify(deployment.spec)).toContain(`"secretName":"${provider}-secret"`);
      }

      // Two routes on the same Gateway with the same match; the hand-written one wins the tie.
      const oldRoute = after.get("HTTPRoute/" + provider)!;
      const newRoute = (await getObject(info, { ...oldRoute, metadata: { name: newName, namespace: NAMESPACE } }))!;
      expect(newRoute).toBeDefined();
      type Spec = { parentRefs: unknown[]; hostnames?: unknown; rules: { matches: unknown }[] };
      const o = oldRoute.spec as Spec;
      const n = newRoute.spec as Spec;
      expect(n.parentRefs).toEqual(o.parentRefs);
      expect(o.hostnames).toBeUndefined();
      expect(n.hostnames).toBeUndefined();
      expect(n.rules.map((r) => r.matches)).toEqual(o.rules.map((r) => r.matches));
      const created = (r: KubeObject): number => Date.parse(r.metadata.creationTimestamp as string);
      expect(created(oldRoute)).toBeLessThanOrEqual(created(newRoute));
      expect(`${NAMESPACE}/${provider}` < `${NAMESPACE}/${newName}`).toBe(true);

      // The hand-written route, Backend and policy deleted by hand: the stack has nothing to change.
      await kubectlOk(info, ["delete", "-n", NAMESPACE, `httproutes.gateway.networking.k8s.io/${provider}`,
        `backendtlspolicies.gateway.networking.k8s.io/${provider}-tls`, `backends.gateway.kgateway.dev/${provider}`]);
      const preview = await stack.preview({ onOutput, expectNoChanges: true });
      expect(Object.keys(preview.changeSummary)).toEqual(["same"]);

      const destroy = await stack.destroy({ onOutput });
      expect(destroy.summary.result).toBe("succeeded");
      expect(await getObject(info, newRoute)).toBeUndefined();
      // The docs' Secret was never the stack's: it stays.
      const secret = (await live(info, docs)).get("Secret/" + provider + "-secret");
      expect(managers(secret)).toEqual(["kubectl-client-side-apply/Update"]);
    });
  }, 300_000);
});
