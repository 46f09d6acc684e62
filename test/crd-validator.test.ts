/* eslint-disable @typescript-eslint/no-explicit-any -- these tests break docs objects at arbitrary depth */
import { Environment } from "@marcbachmann/cel-js";
import { adaptRuleForCelJs, crdValidator, escapeCelProperty } from "./support/crd-validator";
import { docsObject } from "./support/kgateway-docs";

const messages = (object: unknown) => crdValidator().validate(object).map((v) => v.message);

describe("the CRD validator", () => {
    it("loads kgateway's Backend and both Gateway API channels' HTTPRoute and BackendTLSPolicy", () => {
        expect(crdValidator().kinds()).toEqual([
            "gateway.kgateway.dev/v1alpha1/Backend",
            "gateway.networking.k8s.io/v1/BackendTLSPolicy",
            "gateway.networking.k8s.io/v1/HTTPRoute",
            "gateway.networking.k8s.io/v1alpha3/BackendTLSPolicy",
            "gateway.networking.k8s.io/v1beta1/HTTPRoute",
        ]);
    });

    it("compiles every CEL rule of the loaded CRDs; they need only standard CEL functions, all in cel-js", () => {
        const rules = crdValidator().allRules;
        expect(rules.length).toBeGreaterThan(100);
        const functions = new Set(rules.flatMap((r) => [...r.rule.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\(/g)].map((m) => m[1])));
        expect([...functions].sort()).toEqual(["all", "contains", "duration", "endsWith", "exists", "exists_one", "filter", "has", "matches", "size", "startsWith"]);
        const env = new Environment({ unlistedVariablesAreDyn: true });
        for (const r of rules) expect(() => env.parse(adaptRuleForCelJs(r.rule))).not.toThrow();
    });

    it("escapes property names as Kubernetes does for CEL", () => {
        expect(escapeCelProperty("namespace")).toBe("__namespace__");
        expect(escapeCelProperty("x-api.key/v1")).toBe("x__dash__api__dot__key__slash__v1");
        expect(escapeCelProperty("a__b")).toBe("a__underscores__b");
    });

    it("rewrites only has() over an indexed operand, keeping its meaning", () => {
        expect(adaptRuleForCelJs("has(self.matches[0].path) && has(self.x)")).toBe("('path' in self.matches[0]) && has(self.x)");
        const env = new Environment({ unlistedVariablesAreDyn: true });
        expect(env.evaluate(adaptRuleForCelJs("has(self.m[0].p)"), { self: { m: [{ p: 1 }] } })).toBe(true);
        expect(env.evaluate(adaptRuleForCelJs("has(self.m[0].p)"), { self: { m: [{ q: 1 }] } })).toBe(false);
    });
});

describe("a deliberately broken object of each kind is rejected", () => {
    it("Backend: port without host (CEL)", () => {
        const b = structuredClone(docsObject("mistral", "Backend")) as any;
        delete b.spec.ai.llm.host;
        expect(messages(b)).toEqual(["both host and port must be set together"]);
    });

    it("Backend: authToken with both inline and secretRef (CEL), unknown type (schema)", () => {
        const b = structuredClone(docsObject("mistral", "Backend")) as any;
        b.spec.ai.llm.openai.authToken.inline = "key";
        expect(messages(b)).toEqual(["at most one of the fields in [inline secretRef] may be set"]);
        b.spec.type = "LLM";
        expect(messages(b)[0]).toMatch(/^must be equal to one of the allowed values/);
    });

    it("Backend: a misspelt field is an error, not silently pruned", () => {
        const b = structuredClone(docsObject("mistral", "Backend")) as any;
        b.spec.ai.llm.path = { fullPath: "/v1/chat/completions" };
        expect(messages(b)).toEqual(['must NOT have additional properties {"additionalProperty":"fullPath"}']);
    });

    it("HTTPRoute: a PathPrefix with '//' and URLRewrite with RequestRedirect (CEL), in both channels", () => {
        const r = structuredClone(docsObject("mistral", "HTTPRoute")) as any;
        r.spec.rules[0].matches[0].path.value = "/a//b";
        r.spec.rules[0].filters.push({ type: "RequestRedirect", requestRedirect: { hostname: "example.com" } });
        const violations = crdValidator().validate(r);
        const m = "must not contain '//' when type one of ['Exact', 'PathPrefix']";
        expect(violations.filter((v) => v.message === m).map((v) => v.source)).toEqual([
            "gateway-api/v1.4.0/standard/gateway.networking.k8s.io_httproutes.yaml",
            "gateway-api/v1.4.0/experimental/gateway.networking.k8s.io_httproutes.yaml",
        ]);
        expect(violations.map((v) => v.message)).toContain("May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both");
    });

    it("HTTPRoute: a duplicate parentRef (CEL over the defaulted group and kind)", () => {
        const r = structuredClone(docsObject("mistral", "HTTPRoute")) as any;
        r.spec.parentRefs.push({ ...r.spec.parentRefs[0] });
        expect(messages(r)).toContain("sectionName or port must be unique when parentRefs includes 2 or more references to the same parent");
    });

    it("BackendTLSPolicy: both CA sources (CEL), and no hostname (schema)", () => {
        const p = structuredClone(docsObject("mistral", "BackendTLSPolicy")) as any;
        p.spec.validation.caCertificateRefs = [{ group: "", kind: "ConfigMap", name: "ca" }];
        expect(messages(p)).toEqual(["must not contain both CACertificateRefs and WellKnownCACertificates", "must not contain both CACertificateRefs and WellKnownCACertificates"]);
        delete p.spec.validation.hostname;
        expect(messages(p)).toEqual(Array(2).fill('must have required property \'hostname\' {"missingProperty":"hostname"}'));
    });

    it("Secret: a key Kubernetes does not allow, and a bad name", () => {
        const s = structuredClone(docsObject("mistral", "Secret")) as any;
        s.stringData = { "api key": "x" };
        s.metadata.name = "Mistral_Secret";
        expect(messages(s)).toEqual(['name must be a DNS-1123 subdomain, got "Mistral_Secret"', "invalid key \"api key\": must consist of alphanumerics, '-', '_' or '.'"]);
    });

    it("ConfigMap: a bad label value and an unknown field", () => {
        const c = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "ca", namespace: "llm", labels: { owner: "Platform team" } }, data: { "ca.crt": "x" }, spec: {} };
        expect(messages(c)).toEqual(['invalid labels value "Platform team"', 'unknown field "spec"']);
    });

    it("an object of a kind no loaded CRD serves", () => {
        expect(messages({ apiVersion: "gateway.networking.k8s.io/v1", kind: "Gateway", metadata: { name: "g" } })).toEqual(["no CRD loaded serves gateway.networking.k8s.io/v1 Gateway"]);
    });
});
