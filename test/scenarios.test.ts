import { crdValidator } from "./support/crd-validator";
import { renderScenario, scenarioIds } from "./support/scenarios";

/**
 * Built-in kinds of the proxy data plane, which have no CRD for the validator to read: the
 * control-plane tier (test/control-plane/) has the real API server validate them, with every other
 * object of every scenario.
 */
const API_SERVER_ONLY = new Set(["apps/v1 Deployment", "v1 Service", "policy/v1 PodDisruptionBudget"]);

describe("every rendered scenario passes the CRDs (OpenAPI schema and CEL rules) and core rules", () => {
    it.each(scenarioIds())("%s", async (id) => {
        const { objects } = await renderScenario(id);
        expect(objects.length).toBeGreaterThanOrEqual(2);
        for (const object of objects) {
            if (API_SERVER_ONLY.has(`${object.apiVersion} ${object.kind}`)) continue;
            expect({ object: `${object.kind} ${object.metadata.name}`, violations: crdValidator().validate(object) }).toEqual({
                object: `${object.kind} ${object.metadata.name}`,
                violations: [],
            });
        }
    });
});

describe("renderScenario", () => {
    it("is repeatable: the same scenario renders the same objects again", async () => {
        const first = await renderScenario("route-options");
        const second = await renderScenario("route-options");
        expect(second.objects).toEqual(first.objects);
    });

    it("runs concurrent calls one at a time, each seeing only its own registrations", async () => {
        const [a, b] = await Promise.all([renderScenario("credential-passthrough"), renderScenario("tls-custom-ca")]);
        expect(a.objects.map((o) => o.kind)).toEqual(["Backend", "HTTPRoute", "BackendTLSPolicy"]);
        expect(b.objects.map((o) => o.kind)).toEqual(["Secret", "ConfigMap", "Backend", "HTTPRoute", "BackendTLSPolicy"]);
    });

    it("names an unknown scenario", async () => {
        await expect(renderScenario("nope")).rejects.toThrow('no scenario "nope"; known: example-mistral, example-deepseek');
    });
});
