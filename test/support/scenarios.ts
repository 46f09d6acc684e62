/*
 * The shared registry of rendered scenarios: every example and every option case of the component,
 * run under Pulumi mocks, giving the plain Kubernetes objects the component would create. The mock
 * tests assert on them and validate them against the CRDs; the control-plane tier applies exactly
 * these objects to a real API server.
 *
 *     import { renderScenario, scenarioIds } from "../support/scenarios";
 *     const { objects } = await renderScenario("example-mistral");
 *
 * renderScenario installs its own recording mocks (they are process-global), runs one scenario at a
 * time and returns only after every registration finished; callers that use mocks of their own must
 * set them again afterwards. The API keys are fake test values.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { OpenAICompatibleGateway, OpenAICompatibleProvider, OpenAICompatibleProviderArgs } from "../../src";
import { MockRunOptions, RecordedResource, settled, withRecordingMocks } from "./pulumi-mocks";

/** A plain Kubernetes object (`apiVersion`, `kind`, `metadata`, `spec` | `data` | `stringData`). */
export interface PlainObject {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    [field: string]: unknown;
}

/** A component a scenario declares. */
export type ScenarioComponent = OpenAICompatibleProvider | OpenAICompatibleGateway;

/** One scenario: a program that declares components. */
export interface Scenario {
    description: string;
    options: MockRunOptions;
    /** Declares the components; runs under the scenario's mocks. */
    build(): Promise<ScenarioComponent[]>;
}

/** What a scenario rendered. */
export interface RenderedScenario {
    id: string;
    /** The Kubernetes objects, in {@link APPLY_ORDER} (stable within a kind), secrets unwrapped. */
    objects: PlainObject[];
    /** Every registration, components and providers included. */
    resources: RecordedResource[];
    /** The providers, those of gateways included (after the gateway's own), with outputs already resolved. */
    components: OpenAICompatibleProvider[];
    /** The gateways, with outputs already resolved. */
    gateways: OpenAICompatibleGateway[];
}

/** A test CA certificate (public part only; its key was discarded when it was made). */
export const TEST_CA_PEM = fs.readFileSync(path.resolve(__dirname, "../fixtures/test-ca.pem"), "utf8");

/** The fake key every scenario uses for `<name>`. */
export function testKey(name: string): string {
    return `test-key-${name}`;
}

async function component(name: string, args: OpenAICompatibleProviderArgs, opts?: pulumi.ComponentResourceOptions): Promise<OpenAICompatibleProvider[]> {
    const { OpenAICompatibleProvider } = await import("../../src");
    return [new OpenAICompatibleProvider(name, args, opts)];
}

const GATEWAY = { name: "agentgateway", namespace: "kgateway-system" };

function presetScenario(preset: string): Scenario {
    return {
        description: `preset ${preset} with a key the component stores in a Secret, served by kgateway`,
        options: {},
        build: () => component(preset, { preset, apiKey: pulumi.secret(testKey(preset)), namespace: "llm", route: { gateway: GATEWAY }, dataPlane: "kgateway" }),
    };
}

/** Every scenario by id. */
export const SCENARIOS: Readonly<Record<string, Scenario>> = {
    "example-mistral": {
        description: "examples/mistral: the docs' Mistral AI example",
        options: { project: "mistral-example", config: { "mistral-example:apiKey": testKey("mistral") }, secretKeys: ["mistral-example:apiKey"] },
        build: async () => [(await import("../../examples/mistral/program")).mistralExample()],
    },
    "example-deepseek": {
        description: "examples/deepseek: the docs' DeepSeek example, plus the URLRewrite hostname",
        options: { project: "deepseek-example", config: { "deepseek-example:apiKey": testKey("deepseek") }, secretKeys: ["deepseek-example:apiKey"] },
        build: async () => [(await import("../../examples/deepseek/program")).deepseekExample()],
    },
    "platform-stack": {
        description: "the root Pulumi.yaml stack: three providers from stack config",
        options: {
            project: "openai-compatible-platform",
            config: {
                "openai-compatible-platform:gatewayUrl": "http://localhost:8080",
                "openai-compatible-platform:providers": JSON.stringify({
                    mistral: { preset: "mistral", model: "mistral-medium-2505" },
                    deepseek: { preset: "deepseek", model: "deepseek-chat" },
                    vllm: { host: "vllm.models.svc.cluster.local", port: "8000", insecurePlaintext: "true", passthrough: true, pathPrefix: "/local" },
                }),
                "openai-compatible-platform:apiKeys": JSON.stringify({ mistral: testKey("mistral"), deepseek: testKey("deepseek") }),
            },
            secretKeys: ["openai-compatible-platform:apiKeys"],
        },
        build: async () => {
            const { providers, gateway } = (await import("../../platform/program")).platformStack();
            return gateway ? [gateway] : Object.values(providers);
        },
    },
    "example-platform-shared-proxy": {
        description: "examples/platform-shared-proxy: Mistral and DeepSeek behind one shared proxy, with client keys",
        options: {
            project: "platform-shared-proxy",
            config: {
                "platform-shared-proxy:mistralApiKey": testKey("mistral"),
                "platform-shared-proxy:deepseekApiKey": testKey("deepseek"),
                "platform-shared-proxy:gatewayUrl": "https://llm.example.com",
            },
            secretKeys: ["platform-shared-proxy:mistralApiKey", "platform-shared-proxy:deepseekApiKey"],
        },
        build: async () => [(await import("../../examples/platform-shared-proxy/program")).platformSharedProxyExample()],
    },
    "example-self-hosted-vllm": {
        description: "examples/self-hosted-vllm: an in-cluster vLLM Service behind a proxy of its own, plaintext by explicit choice",
        options: { project: "self-hosted-vllm", config: { "self-hosted-vllm:apiKey": testKey("vllm") }, secretKeys: ["self-hosted-vllm:apiKey"] },
        build: async () => [(await import("../../examples/self-hosted-vllm/program")).selfHostedVllmExample()],
    },
    "proxy-default": {
        description: "the default data plane: a proxy of its own with every default",
        options: {},
        build: () => component("mistral", { preset: "mistral", apiKey: pulumi.secret(testKey("mistral")), namespace: "llm", route: { gateway: GATEWAY } }),
    },
    "proxy-options": {
        description: "a proxy with every option: image and tag, replicas (a PodDisruptionBudget), resources, client keys, config checksum, log level, a Deployment patch; an existing Secret and a private CA mounted",
        options: {},
        build: () =>
            component("private", {
                host: "llm.corp.example.com",
                apiKeySecretName: "private-llm-key",
                model: "corp-large",
                namespace: "llm",
                route: { gateway: GATEWAY, hostnames: ["llm.example.com"], timeouts: { request: "10m" } },
                tls: { caCertificate: TEST_CA_PEM },
                labels: { team: "platform" },
                annotations: { "example.com/owner": "platform" },
                proxy: {
                    image: "registry.example.com/llm/openai-compatible-proxy",
                    tag: "0.1.0-rc.1",
                    imagePullPolicy: "Always",
                    replicas: 3,
                    resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "2", memory: "512Mi" } },
                    clientKeys: [{ name: "team-a" }, { name: "ci", rotation: 2, length: 64 }],
                    restartOnConfigChange: true,
                    logLevel: "debug",
                    deploymentPatch: {
                        spec: {
                            template: {
                                spec: {
                                    nodeSelector: { "example.com/pool": "system" },
                                    containers: [{ name: "proxy", env: [{ name: "NODE_OPTIONS", value: "--max-old-space-size=384" }] }],
                                },
                            },
                        },
                    },
                },
            }),
    },
    "proxy-passthrough": {
        description: "the proxy forwarding each client's own provider key",
        options: {},
        build: () => component("openrouter", { preset: "openrouter", passthrough: true, namespace: "llm", route: { gateway: GATEWAY } }),
    },
    ...Object.fromEntries(
        ["cerebras", "deepseek", "fireworks", "groq", "mistral", "openai", "openrouter", "perplexity", "together", "xai"].map((p) => [`preset-${p}`, presetScenario(p)]),
    ),
    "credential-secret-ref": {
        description: "an existing Secret holds the key: no Secret is created",
        options: {},
        build: () => component("groq", { preset: "groq", apiKeySecretName: "groq-credentials", namespace: "llm", route: { gateway: GATEWAY }, dataPlane: "kgateway" }),
    },
    "credential-passthrough": {
        description: "clients send their own provider key",
        options: {},
        build: () => component("openrouter", { preset: "openrouter", passthrough: true, namespace: "llm", route: { gateway: GATEWAY }, dataPlane: "kgateway" }),
    },
    "explicit-host": {
        description: "no preset: host, port and path given",
        options: {},
        build: () =>
            component("internal", {
                host: "llm.example.com",
                port: 8443,
                path: "/openai/v2/chat/completions",
                apiKey: pulumi.secret(testKey("internal")),
                namespace: "llm",
                route: { gateway: GATEWAY },
                dataPlane: "kgateway",
            }),
    },
    "preset-override": {
        description: "a preset with its path overridden",
        options: {},
        build: () => component("deepseek-short", { preset: "deepseek", path: "/chat/completions", apiKey: pulumi.secret(testKey("deepseek")), namespace: "llm", route: { gateway: GATEWAY }, dataPlane: "kgateway" }),
    },
    "auth-header": {
        description: "a provider that wants the key in another header",
        options: {},
        build: () =>
            component("custom-header", {
                host: "models.example.com",
                authHeader: { headerName: "api-key", prefix: "Token" },
                apiKey: pulumi.secret(testKey("custom-header")),
                namespace: "llm",
                route: { gateway: GATEWAY },
                dataPlane: "kgateway",
            }),
    },
    "route-options": {
        description: "every route option, labels, annotations and a Kubernetes name override",
        options: {},
        build: () =>
            component("together", {
                preset: "together",
                kubernetesName: "together-prod",
                model: "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                apiKey: pulumi.secret(testKey("together")),
                namespace: "llm",
                route: {
                    gateway: { name: "public", namespace: "infra", sectionName: "https" },
                    pathPrefix: "/v1/together",
                    hostnames: ["llm.example.com", "*.llm.example.com"],
                    timeouts: { request: "5m", backendRequest: "4m30s" },
                    baseUrl: "https://llm.example.com",
                },
                labels: { team: "platform", "example.com/cost-center": "ai-42" },
                annotations: { "example.com/owner": "Platform team <platform@example.com>" },
                dataPlane: "kgateway",
            }),
    },
    "tls-custom-ca": {
        description: "a provider whose certificate is signed by a private CA",
        options: {},
        build: () =>
            component("private", {
                host: "llm.corp.example.com",
                apiKey: pulumi.secret(testKey("private")),
                namespace: "llm",
                route: { gateway: GATEWAY },
                dataPlane: "kgateway",
                tls: { caCertificate: TEST_CA_PEM },
            }),
    },
    "tls-plaintext": {
        description: "a self-hosted vLLM in the cluster, plaintext by explicit choice",
        options: {},
        build: () =>
            component("vllm", {
                host: "vllm.models.svc.cluster.local",
                port: 8000,
                apiKeySecretName: "vllm-token",
                namespace: "llm",
                route: { gateway: GATEWAY },
                dataPlane: "kgateway",
                tls: { insecurePlaintext: true },
            }),
    },
};

/** The ids of every scenario. */
export function scenarioIds(): string[] {
    return Object.keys(SCENARIOS);
}

/** Kinds in the order a client applies them. */
export const APPLY_ORDER = ["Secret", "ConfigMap", "Backend", "HTTPRoute", "BackendTLSPolicy", "Service", "Deployment", "PodDisruptionBudget"];

function isGateway(c: ScenarioComponent): c is OpenAICompatibleGateway {
    return "serviceUrl" in c;
}

function childrenOf(c: ScenarioComponent): pulumi.Resource[] {
    const own = [c, c.proxyConfigMap, c.deployment, c.service, c.podDisruptionBudget, c.clientKeysSecret];
    const rest = isGateway(c)
        ? [...Object.values(c.clientKeyPasswords), ...Object.values(c.providers).flatMap(childrenOf)]
        : [c.secret, c.caConfigMap, c.backend, c.httpRoute, c.backendTLSPolicy];
    return [...own, ...rest].filter((r): r is NonNullable<typeof r> => r !== undefined);
}

/**
 * Renders scenario `id` under recording mocks and returns its Kubernetes objects.
 *
 * @param id one of {@link scenarioIds}
 * @returns the objects as the component registers them, in {@link APPLY_ORDER}, secrets unwrapped
 */
export async function renderScenario(id: string): Promise<RenderedScenario> {
    const scenario = SCENARIOS[id];
    if (!scenario) throw new Error(`no scenario ${JSON.stringify(id)}; known: ${scenarioIds().join(", ")}`);
    const { result: built, resources } = await withRecordingMocks(scenario.options, async () => {
        const declared = await scenario.build();
        // Every registration is done once every urn and output has resolved.
        await Promise.all(declared.flatMap((c) => [...childrenOf(c).map((r) => settled(r.urn)), isGateway(c) ? settled(c.urls) : settled(c.url)]));
        return declared;
    });
    // Registration order varies (children wait on each other's outputs); return apply order:
    // what is referenced before what references it.
    const objects = resources
        .filter((r) => r.custom && r.type.startsWith("kubernetes:"))
        .map((r) => structuredClone(r.inputs) as PlainObject)
        .sort((a, b) => APPLY_ORDER.indexOf(a.kind) - APPLY_ORDER.indexOf(b.kind));
    const gateways = built.filter(isGateway);
    const components = built.flatMap((c) => (isGateway(c) ? Object.values(c.providers) : [c]));
    return { id, objects, resources, components, gateways };
}
