/**
 * Every fixture and every object the component renders (see objects.ts) is accepted by the real API
 * server through server-side apply and reads back as applied.
 */
import type { ControlPlaneInfo } from "./control-plane";
import { differences } from "./differences";
import { applyServerSide, controlPlaneInfo, ensureNamespace, FIELD_MANAGER, getObject, kubectlOk, type KubeObject } from "./kubectl";
import { allObjectSets, expectedReadBack } from "./load-objects";
import type { ObjectSet } from "./objects";
import { describeControlPlane } from "./skip";

function describeObject(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return `${object.apiVersion} ${object.kind} ${namespace ? `${namespace}/` : ""}${name}`;
}

function appliedByUs(live: KubeObject): boolean {
  const managed = (live.metadata.managedFields ?? []) as { manager?: string; operation?: string }[];
  return managed.some((m) => m.manager === FIELD_MANAGER && m.operation === "Apply");
}

/** Applies one object and says what is wrong with it, if anything. */
async function check(info: ControlPlaneInfo, object: KubeObject): Promise<string[]> {
  const applied = await applyServerSide(info, object);
  if (applied.code !== 0) return [`refused by the API server:\n${applied.stderr.trim()}`];
  const live = await getObject(info, object);
  if (!live) return ["accepted, but not found when read back"];
  const problems = differences(expectedReadBack(object), live);
  if (!appliedByUs(live)) problems.push(`managedFields has no Apply entry by ${FIELD_MANAGER}`);
  return problems;
}

describeControlPlane("objects applied to a real kube-apiserver with the CRDs installed", () => {
  let info: ControlPlaneInfo;
  let sets: ObjectSet[];

  beforeAll(async () => {
    info = controlPlaneInfo();
    sets = await allObjectSets();
    // Objects need not carry their namespaces: create each one used.
    const namespaces = new Set(sets.flatMap((s) => s.objects.map((o) => o.metadata.namespace ?? "")));
    namespaces.delete("");
    for (const name of namespaces) await ensureNamespace(info, name);
  });

  // The cluster is shared by the tier's files: leave it as found (pulumi.cp.test.ts deploys the same names).
  afterAll(async () => {
    if (!sets) return;
    const items = sets.flatMap((s) => s.objects.map(({ apiVersion, kind, metadata: { name, namespace } }) =>
      ({ apiVersion, kind, metadata: { name, namespace } })));
    await kubectlOk(info, ["delete", "--ignore-not-found", "--wait", "-f", "-"],
      JSON.stringify({ apiVersion: "v1", kind: "List", items }));
  });

  test("every object is accepted by server-side apply and reads back as applied", async () => {
    const report: string[] = [];
    let applied = 0;
    for (const set of sets) {
      for (const object of set.objects) {
        const problems = await check(info, object);
        applied += 1;
        if (problems.length > 0) report.push(`${set.source}: ${describeObject(object)}\n  ${problems.join("\n  ")}`);
      }
    }
    expect(report).toEqual([]);
    expect(applied).toBeGreaterThan(0);
  });

  test("the docs fixtures and the component's examples are among the objects applied", () => {
    const sources = sets.map((s) => s.source);
    expect(sources).toEqual(
      expect.arrayContaining([
        "fixtures/kgateway-docs-deepseek.yaml",
        "fixtures/kgateway-docs-mistral.yaml",
        "scenario example-mistral",
        "scenario example-deepseek",
      ]),
    );
    for (const set of sets) expect({ source: set.source, count: set.objects.length }).not.toEqual({ source: set.source, count: 0 });
    const kinds = sets.flatMap((s) => s.objects.map((o) => o.kind));
    expect([...new Set(kinds)]).toEqual(expect.arrayContaining(["Secret", "Backend", "HTTPRoute", "BackendTLSPolicy"]));
  });
});
