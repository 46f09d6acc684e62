import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { OpenAICompatibleProvider } from "../src";
import { isSecret, settled, withRecordingMocks } from "./support/pulumi-mocks";
import { renderScenario, TEST_CA_PEM, testKey } from "./support/scenarios";

const TYPE = "openai-compatible:index:OpenAICompatibleProvider";
const NS = { namespace: "llm" };
const TLS = (name: string, host: string) => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "BackendTLSPolicy",
    metadata: { name: `${name}-tls`, ...NS },
    spec: { targetRefs: [{ name, kind: "Backend", group: "gateway.kgateway.dev" }], validation: { hostname: host, wellKnownCACertificates: "System" } },
});
const ROUTE = (name: string, host: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, ...NS },
    spec: {
        parentRefs: [{ name: "agentgateway", namespace: "kgateway-system" }],
        rules: [
            {
                matches: [{ path: { type: "PathPrefix", value: `/${name}` } }],
                filters: [{ type: "URLRewrite", urlRewrite: { hostname: host } }],
                backendRefs: [{ name, namespace: "llm", group: "gateway.kgateway.dev", kind: "Backend" }],
                // No total deadline unless given: Envoy-based gateways would cut every response at 15 s.
                timeouts: { request: "0s" },
                ...extra,
            },
        ],
    },
});
const BACKEND = (name: string, llm: Record<string, unknown>, authToken: Record<string, unknown> = { kind: "SecretRef", secretRef: { name: `${name}-secret` } }) => ({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "Backend",
    metadata: { name, ...NS },
    spec: { type: "AI", ai: { llm: { openai: { authToken }, ...llm } } },
});
const SECRET = (name: string) => ({ apiVersion: "v1", kind: "Secret", metadata: { name: `${name}-secret`, ...NS }, type: "Opaque", stringData: { Authorization: testKey(name) } });

// Re-typed from each provider's documentation (see src/presets.ts), not read from PRESETS.
const presets: [string, string, string][] = [
    ["cerebras", "api.cerebras.ai", "/v1/chat/completions"],
    ["deepseek", "api.deepseek.com", "/v1/chat/completions"],
    ["fireworks", "api.fireworks.ai", "/inference/v1/chat/completions"],
    ["groq", "api.groq.com", "/openai/v1/chat/completions"],
    ["mistral", "api.mistral.ai", "/v1/chat/completions"],
    ["openai", "api.openai.com", "/v1/chat/completions"],
    ["openrouter", "openrouter.ai", "/api/v1/chat/completions"],
    ["perplexity", "api.perplexity.ai", "/chat/completions"],
    ["together", "api.together.ai", "/v1/chat/completions"],
    ["xai", "api.x.ai", "/v1/chat/completions"],
];

describe("each preset renders exactly the four objects, with the provider's host and path", () => {
    it.each(presets)("%s", async (preset, host, path) => {
        const { objects, resources } = await renderScenario(`preset-${preset}`);
        expect(objects).toEqual([SECRET(preset), BACKEND(preset, { host, port: 443, path: { full: path } }), ROUTE(preset, host), TLS(preset, host)]);
        expect(resources.find((r) => r.type === "kubernetes:core/v1:Secret")?.secretPaths).toEqual(["/stringData"]);
    });
});

describe("options", () => {
    it("apiKeySecretName references the existing Secret and creates none", async () => {
        const { objects } = await renderScenario("credential-secret-ref");
        expect(objects).toEqual([BACKEND("groq", { host: "api.groq.com", port: 443, path: { full: "/openai/v1/chat/completions" } }, { kind: "SecretRef", secretRef: { name: "groq-credentials" } }), ROUTE("groq", "api.groq.com"), TLS("groq", "api.groq.com")]);
    });

    it("passthrough uses kgateway's Passthrough token and creates no Secret", async () => {
        const { objects, components } = await renderScenario("credential-passthrough");
        expect(objects).toEqual([BACKEND("openrouter", { host: "openrouter.ai", port: 443, path: { full: "/api/v1/chat/completions" } }, { kind: "Passthrough" }), ROUTE("openrouter", "openrouter.ai"), TLS("openrouter", "openrouter.ai")]);
        expect(await settled(components[0]!.clientCredential)).toBe("provider-key");
        expect(await settled(components[0]!.secretName)).toBeUndefined();
    });

    it("explicit host, port and path; path.full, rewrite and TLS policy still emitted", async () => {
        const { objects } = await renderScenario("explicit-host");
        expect(objects).toEqual([SECRET("internal"), BACKEND("internal", { host: "llm.example.com", port: 8443, path: { full: "/openai/v2/chat/completions" } }), ROUTE("internal", "llm.example.com"), TLS("internal", "llm.example.com")]);
    });

    it("a preset's path can be overridden", async () => {
        const { objects } = await renderScenario("preset-override");
        expect(objects[1]).toEqual(BACKEND("deepseek-short", { host: "api.deepseek.com", port: 443, path: { full: "/chat/completions" } }, { kind: "SecretRef", secretRef: { name: "deepseek-short-secret" } }));
    });

    it("authHeader becomes ai.llm.authHeader; host alone defaults to 443 and /v1/chat/completions", async () => {
        const { objects } = await renderScenario("auth-header");
        expect(objects[1]).toEqual(BACKEND("custom-header", { host: "models.example.com", port: 443, path: { full: "/v1/chat/completions" }, authHeader: { headerName: "api-key", prefix: "Token" } }));
    });

    it("route options, kubernetesName, model, labels and annotations reach every child", async () => {
        const { objects, components } = await renderScenario("route-options");
        const metadata = (name: string) => ({ name, namespace: "llm", labels: { team: "platform", "example.com/cost-center": "ai-42" }, annotations: { "example.com/owner": "Platform team <platform@example.com>" } });
        expect(objects).toEqual([
            { apiVersion: "v1", kind: "Secret", metadata: metadata("together-prod-secret"), type: "Opaque", stringData: { Authorization: testKey("together") } },
            {
                ...BACKEND("together-prod", { host: "api.together.ai", port: 443, path: { full: "/v1/chat/completions" } }, { kind: "SecretRef", secretRef: { name: "together-prod-secret" } }),
                metadata: metadata("together-prod"),
                spec: {
                    type: "AI",
                    ai: {
                        llm: {
                            openai: { authToken: { kind: "SecretRef", secretRef: { name: "together-prod-secret" } }, model: "meta-llama/Llama-3.3-70B-Instruct-Turbo" },
                            host: "api.together.ai",
                            port: 443,
                            path: { full: "/v1/chat/completions" },
                        },
                    },
                },
            },
            {
                apiVersion: "gateway.networking.k8s.io/v1",
                kind: "HTTPRoute",
                metadata: metadata("together-prod"),
                spec: {
                    parentRefs: [{ name: "public", namespace: "infra", sectionName: "https" }],
                    hostnames: ["llm.example.com", "*.llm.example.com"],
                    rules: [
                        {
                            matches: [{ path: { type: "PathPrefix", value: "/v1/together" } }],
                            filters: [{ type: "URLRewrite", urlRewrite: { hostname: "api.together.ai" } }],
                            backendRefs: [{ name: "together-prod", namespace: "llm", group: "gateway.kgateway.dev", kind: "Backend" }],
                            timeouts: { request: "5m", backendRequest: "4m30s" },
                        },
                    ],
                },
            },
            { ...TLS("together-prod", "api.together.ai"), metadata: metadata("together-prod-tls") },
        ]);
        const c = components[0]!;
        expect({ url: await settled(c.url), routePath: await settled(c.routePath), model: await settled(c.model) }).toEqual({
            url: "https://llm.example.com/v1/together",
            routePath: "/v1/together",
            model: "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        });
    });

    it("a custom CA becomes a ConfigMap (ca.crt) referenced by caCertificateRefs instead of System", async () => {
        const { objects } = await renderScenario("tls-custom-ca");
        expect(objects.map((o) => o.kind)).toEqual(["Secret", "ConfigMap", "Backend", "HTTPRoute", "BackendTLSPolicy"]);
        expect(objects[1]).toEqual({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "private-ca", ...NS }, data: { "ca.crt": TEST_CA_PEM } });
        expect(objects[4]!.spec).toEqual({
            targetRefs: [{ name: "private", kind: "Backend", group: "gateway.kgateway.dev" }],
            validation: { hostname: "llm.corp.example.com", caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "private-ca" }] },
        });
    });

    it("plaintext: no BackendTLSPolicy, and only when asked", async () => {
        const { objects, components } = await renderScenario("tls-plaintext");
        expect(objects).toEqual([BACKEND("vllm", { host: "vllm.models.svc.cluster.local", port: 8000, path: { full: "/v1/chat/completions" } }, { kind: "SecretRef", secretRef: { name: "vllm-token" } }), ROUTE("vllm", "vllm.models.svc.cluster.local")]);
        expect(await settled(components[0]!.upstreamUrl)).toBe("http://vllm.models.svc.cluster.local:8000/v1/chat/completions");
    });
});

describe("the component resource", () => {
    async function build(opts?: pulumi.ComponentResourceOptions, provider = false) {
        return withRecordingMocks({ project: "p", stack: "s" }, async () => {
            const k = provider ? new k8s.Provider("cluster", {}) : undefined;
            const c = new OpenAICompatibleProvider("mistral", { preset: "mistral", apiKey: "plain-key", namespace: "llm", route: { gateway: { name: "agentgateway" } } }, { ...opts, ...(k ? { providers: [k] } : {}) });
            const children = [c.secret!, c.backend, c.httpRoute, c.backendTLSPolicy!, c.proxyConfigMap!, c.deployment!, c.service!];
            const urns = await Promise.all(children.map((r) => settled(r.urn)));
            return { c, urns };
        });
    }

    it("has its type token, and every child is parented to it with a name derived from the component's", async () => {
        const { result } = await build();
        expect(await settled(result.c.urn)).toBe(`urn:pulumi:s::p::${TYPE}::mistral`);
        expect(result.urns).toEqual([
            `urn:pulumi:s::p::${TYPE}$kubernetes:core/v1:Secret::mistral-secret`,
            `urn:pulumi:s::p::${TYPE}$kubernetes:gateway.kgateway.dev/v1alpha1:Backend::mistral-backend`,
            `urn:pulumi:s::p::${TYPE}$kubernetes:gateway.networking.k8s.io/v1:HTTPRoute::mistral-route`,
            `urn:pulumi:s::p::${TYPE}$kubernetes:gateway.networking.k8s.io/v1:BackendTLSPolicy::mistral-tls`,
            `urn:pulumi:s::p::${TYPE}$kubernetes:core/v1:ConfigMap::mistral-proxy-config`,
            `urn:pulumi:s::p::${TYPE}$kubernetes:apps/v1:Deployment::mistral-proxy`,
            `urn:pulumi:s::p::${TYPE}$kubernetes:core/v1:Service::mistral-proxy`,
        ]);
    });

    it("passes the Kubernetes provider to every child", async () => {
        const { resources } = await build(undefined, true);
        const children = resources.filter((r) => r.type.startsWith("kubernetes:"));
        // The four objects and the proxy's ConfigMap, Deployment and Service.
        expect(children).toHaveLength(7);
        for (const r of children) expect(r.provider).toBe("urn:pulumi:s::p::pulumi:providers:kubernetes::cluster::cluster-id");
    });

    it("wraps a plain-string key as a secret: the Secret's stringData is secret, nothing else holds the key", async () => {
        const { result, resources } = await build();
        expect(resources.find((r) => r.name === "mistral-secret")?.secretPaths).toEqual(["/stringData"]);
        expect(await isSecret(result.c.secret!.stringData)).toBe(true);
        // `additionalSecretOutputs: ["data", "stringData"]` is applied by the engine, which mocks
        // do not emulate, so only the input's secretness is observable here.
        // Nothing else carries the key, so the rest stays readable in previews.
        expect(await isSecret(result.c.backend.metadata)).toBe(false);
        expect(JSON.stringify(resources.filter((r) => r.name !== "mistral-secret"))).not.toContain("plain-key");
    });

    it("registers its outputs", async () => {
        const { result } = await build();
        const c = result.c;
        expect(
            await settled(
                pulumi.all({
                    namespace: c.namespace,
                    secretName: c.secretName,
                    caConfigMapName: c.caConfigMapName,
                    backendName: c.backendName,
                    httpRouteName: c.httpRouteName,
                    backendTLSPolicyName: c.backendTLSPolicyName,
                    routePath: c.routePath,
                    url: c.url,
                    upstreamUrl: c.upstreamUrl,
                    model: c.model,
                    clientCredential: c.clientCredential,
                }),
            ),
        ).toEqual({
            namespace: "llm",
            secretName: "mistral-secret",
            caConfigMapName: undefined,
            backendName: "mistral",
            httpRouteName: "mistral",
            backendTLSPolicyName: "mistral-tls",
            routePath: "/mistral",
            url: "/mistral",
            upstreamUrl: "https://api.mistral.ai:443/v1/chat/completions",
            model: undefined,
            clientCredential: "none",
        });
    });
});
