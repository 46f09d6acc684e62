import { assertValid } from "./support/crd-validator";
import { docsObject, docsObjects } from "./support/kgateway-docs";
import { isSecret, settled, withRecordingMocks } from "./support/pulumi-mocks";
import { APPLY_ORDER, renderScenario, SCENARIOS, testKey } from "./support/scenarios";

/** The docs object with the Secret's `$PROVIDER_API_KEY` placeholder replaced by our test key. */
function docsWithKey(section: "mistral" | "deepseek", kind: string): Record<string, unknown> {
    const object = structuredClone(docsObject(section, kind));
    if (kind === "Secret") {
        expect(object.stringData).toEqual({ Authorization: `$${section.toUpperCase()}_API_KEY` });
        object.stringData = { Authorization: testKey(section) };
    }
    return object;
}

describe("the docs page's objects", () => {
    it("are the 4 objects of each section", () => {
        expect(docsObjects().map((o) => `${o.section} ${o.object.kind}`)).toEqual([
            "mistral Secret",
            "mistral Backend",
            "mistral HTTPRoute",
            "mistral BackendTLSPolicy",
            "deepseek Secret",
            "deepseek Backend",
            "deepseek HTTPRoute",
            "deepseek BackendTLSPolicy",
        ]);
    });

    it.each(docsObjects().map((o) => [`${o.section} ${o.object.kind}`, o.object] as const))("%s passes the CRDs", (_name, object) => {
        assertValid(object);
    });
});

/**
 * The docs' HTTPRoute plus the request timeout the component always sets (`0s`, none, unless given): the
 * docs leave it out, and Envoy-based gateways then cut every response at 15 s.
 */
function docsRouteWithTimeout(section: "mistral" | "deepseek"): { spec: { rules: Record<string, unknown>[] } } {
    const route = docsWithKey(section, "HTTPRoute") as { spec: { rules: Record<string, unknown>[] } };
    expect(route.spec.rules[0]!.timeouts).toBeUndefined();
    route.spec.rules[0]!.timeouts = { request: "0s" };
    return route;
}

describe("examples/mistral reproduces the docs' Mistral example", () => {
    it.each(["Secret", "Backend", "BackendTLSPolicy"])("%s equals the docs, field for field", async (kind) => {
        const { objects } = await renderScenario("example-mistral");
        expect(objects.filter((o) => o.kind === kind)).toEqual([docsWithKey("mistral", kind)]);
    });

    it("HTTPRoute equals the docs plus the request timeout the docs leave out", async () => {
        const { objects } = await renderScenario("example-mistral");
        expect(objects.filter((o) => o.kind === "HTTPRoute")).toEqual([docsRouteWithTimeout("mistral")]);
    });

    it("creates nothing else", async () => {
        const { objects } = await renderScenario("example-mistral");
        expect(objects.map((o) => o.kind)).toEqual(["Secret", "Backend", "HTTPRoute", "BackendTLSPolicy"]);
    });
});

describe("examples/deepseek reproduces the docs' DeepSeek example", () => {
    it.each(["Secret", "Backend", "BackendTLSPolicy"])("%s equals the docs, field for field", async (kind) => {
        const { objects } = await renderScenario("example-deepseek");
        expect(objects.filter((o) => o.kind === kind)).toEqual([docsWithKey("deepseek", kind)]);
    });

    it("HTTPRoute equals the docs plus the URLRewrite hostname and the request timeout the docs leave out", async () => {
        const { objects } = await renderScenario("example-deepseek");
        const expected = docsRouteWithTimeout("deepseek");
        // Without it the client's Host header reaches api.deepseek.com.
        expect(expected.spec.rules[0]!.filters).toBeUndefined();
        expected.spec.rules[0]!.filters = [{ type: "URLRewrite", urlRewrite: { hostname: "api.deepseek.com" } }];
        expect(objects.filter((o) => o.kind === "HTTPRoute")).toEqual([expected]);
    });
});

describe("the examples' entry points (index.ts) run as Pulumi programs", () => {
    it.each([
        ["mistral", "/mistral", "https://api.mistral.ai:443/v1/chat/completions"],
        ["deepseek", "/deepseek", "https://api.deepseek.com:443/v1/chat/completions"],
    ])("examples/%s/index.ts exports its stack outputs", async (name, url, upstreamUrl) => {
        const project = `${name}-example`;
        const { result, resources } = await withRecordingMocks(
            { project, config: { [`${project}:apiKey`]: testKey(name) }, secretKeys: [`${project}:apiKey`] },
            async () => {
                // Imported once per process: the module runs the program on import, as Pulumi does.
                const exports = (await import(`../examples/${name}/index`)) as Record<string, import("@pulumi/pulumi").Output<string>>;
                return {
                    url: await settled(exports.url!),
                    upstreamUrl: await settled(exports.upstreamUrl!),
                    backendName: await settled(exports.backendName!),
                    httpRouteName: await settled(exports.httpRouteName!),
                };
            },
        );
        expect(result).toEqual({ url, upstreamUrl, backendName: name, httpRouteName: name });
        expect(resources.filter((r) => r.custom).map((r) => r.type).sort()).toEqual([
            "kubernetes:core/v1:Secret",
            "kubernetes:gateway.kgateway.dev/v1alpha1:Backend",
            "kubernetes:gateway.networking.k8s.io/v1:BackendTLSPolicy",
            "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
        ]);
    });

    it("the key comes from secret config and stays secret", async () => {
        const { resources } = await renderScenario("example-mistral");
        const secret = resources.find((r) => r.type === "kubernetes:core/v1:Secret")!;
        expect(secret.secretPaths).toEqual(["/stringData"]);
        expect(secret.inputs.stringData).toEqual({ Authorization: testKey("mistral") });
    });

    it("fails with the config key named when the key is not set", async () => {
        const failure = withRecordingMocks({ project: "mistral-example" }, async () => {
            (await import("../examples/mistral/program")).mistralExample();
        });
        await expect(failure).rejects.toThrow("Missing required configuration variable 'mistral-example:apiKey'");
    });
});

describe("the examples with a proxy run the image in the optional config `proxyImage`", () => {
    /** The image of each Deployment the scenario's program registers, with `config` over the scenario's own. */
    type DeploymentInputs = { spec: { template: { spec: { containers: { image: string }[] } } } };
    async function images(id: string, config: Record<string, string>): Promise<string[]> {
        const scenario = SCENARIOS[id]!;
        const { resources } = await withRecordingMocks({ ...scenario.options, config: { ...scenario.options.config, ...config } }, async () => {
            await scenario.build();
        });
        return resources.filter((r) => r.type === "kubernetes:apps/v1:Deployment").map((r) => (r.inputs as DeploymentInputs).spec.template.spec.containers[0]!.image);
    }

    it.each([
        ["example-platform-shared-proxy", "platform-shared-proxy"],
        ["example-self-hosted-vllm", "self-hosted-vllm"],
    ])("%s", async (id, project) => {
        const image = "registry.example.com/llm/openai-compatible-proxy:0.1.0";
        expect(await images(id, { [`${project}:proxyImage`]: image })).toEqual([image]);
        expect(await images(id, {})).toEqual(["ghcr.io/openai-compatible-provider/openai-compatible-proxy:0.1.0"]);
    });
});

describe("the platform stack (root Pulumi.yaml)", () => {
    it("declares one component per configured provider behind one shared proxy, keys from secret config", async () => {
        const { objects, resources, components, gateways } = await renderScenario("platform-stack");
        // Apply order by kind; components register concurrently, so sort within a kind.
        const byKind = (a: string, b: string) => APPLY_ORDER.indexOf(a.split(" ")[0]!) - APPLY_ORDER.indexOf(b.split(" ")[0]!) || a.localeCompare(b);
        expect(objects.map((o) => `${o.kind} ${o.metadata.name}`).sort(byKind)).toEqual([
            ...["Secret deepseek-secret", "Secret mistral-secret"],
            "ConfigMap openai-compatible-proxy-config",
            ...["Backend deepseek", "Backend mistral", "Backend vllm"],
            ...["HTTPRoute deepseek", "HTTPRoute mistral", "HTTPRoute vllm"],
            ...["BackendTLSPolicy deepseek-tls", "BackendTLSPolicy mistral-tls"],
            "Service openai-compatible-proxy",
            "Deployment openai-compatible-proxy",
        ]);
        expect(gateways.map((g) => g.urn)).toHaveLength(1);
        expect(await settled(gateways[0]!.serviceUrl)).toBe("http://openai-compatible-proxy.kgateway-system.svc.cluster.local:8080");
        for (const name of ["mistral", "deepseek"]) {
            // Pulumi names derive from the gateway's: `openai-compatible-proxy-mistral-secret`.
            const secret = resources.find((r) => r.name === `openai-compatible-proxy-${name}-secret`)!;
            expect(secret.secretPaths).toEqual(["/stringData"]);
            expect(secret.inputs.stringData).toEqual({ Authorization: testKey(name) });
        }
        const vllm = objects.find((o) => o.kind === "Backend" && o.metadata.name === "vllm")!;
        expect(vllm.spec).toEqual({
            type: "AI",
            ai: { llm: { openai: { authToken: { kind: "Passthrough" } }, host: "vllm.models.svc.cluster.local", port: 8000, path: { full: "/v1/chat/completions" } } },
        });
        expect(await Promise.all(components.map((c) => settled(c.url)))).toEqual([
            "http://localhost:8080/mistral",
            "http://localhost:8080/deepseek",
            "http://localhost:8080/local",
        ]);
        expect(await isSecret(components[0]!.secret!.stringData)).toBe(true);
    });

    it("names the missing config key when a provider has no key", async () => {
        // providerKey applies requireProviderKey to the secret `apiKeys` config object.
        const { requireProviderKey } = await import("../platform/program");
        expect(() => requireProviderKey({ mistral: "k" }, "groq")).toThrow(
            "stack config `apiKeys.groq` is not set; run: pulumi config set --path --secret 'apiKeys.groq' <key>",
        );
        expect(() => requireProviderKey(undefined, "groq")).toThrow("stack config `apiKeys.groq` is not set");
        expect(requireProviderKey({ groq: "k" }, "groq")).toBe("k");
    });
});
