/*
 * The data plane choices under Pulumi mocks: exact Deployment, Service, ConfigMap, Secret mounts and
 * options for a proxy of its own, a shared proxy (OpenAICompatibleGateway) and kgateway's own data
 * plane; what changes when the model changes or a client key rotates.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { fromGatewayObjects, validateProxyConfig } from "openai-compatible-proxy/translate";
import { OpenAICompatibleGateway, OpenAICompatibleProvider, PROXY_VERSION, renderObjects, renderProxyConfig, resolveSettings, servedObjects } from "../src";
import { mergePatch } from "../src/deployment-patch";
import { imageParts } from "../src/proxy-settings";
import { isSecret, mockPassword, RecordedResource, settled, withRecordingMocks } from "./support/pulumi-mocks";
import { PlainObject, renderScenario, SCENARIOS, TEST_CA_PEM, testKey } from "./support/scenarios";
import { gateway, provider } from "./support/proxy-fixtures";

const PROVIDER_TYPE = "openai-compatible:index:OpenAICompatibleProvider";
const GATEWAY_TYPE = "openai-compatible:index:OpenAICompatibleGateway";
const IMAGE = `ghcr.io/openai-compatible-provider/openai-compatible-proxy:${PROXY_VERSION}`;

/** The labels of every proxy object named `instance`. */
const labels = (instance: string, extra: Record<string, string> = {}) => ({
    ...extra,
    "app.kubernetes.io/name": "openai-compatible-proxy",
    "app.kubernetes.io/instance": instance,
    "app.kubernetes.io/component": "data-plane",
    "app.kubernetes.io/managed-by": "pulumi",
});
const selector = (instance: string) => ({ "app.kubernetes.io/name": "openai-compatible-proxy", "app.kubernetes.io/instance": instance });

/** A key Secret's volume and mount. */
const keyVolume = (secret: string) => ({
    volume: { name: `key-${secret}`, secret: { secretName: secret, items: [{ key: "Authorization", path: "Authorization" }], defaultMode: 0o440 } },
    mount: { name: `key-${secret}`, mountPath: `/var/run/secrets/openai-compatible-proxy/providers/${secret}`, readOnly: true },
});
const clientKeysVolume = (secret: string) => ({
    volume: { name: "client-keys", secret: { secretName: secret, defaultMode: 0o440 } },
    mount: { name: "client-keys", mountPath: "/var/run/secrets/openai-compatible-proxy/client-keys", readOnly: true },
});

interface DeploymentExpectation {
    name: string;
    namespace: string;
    replicas?: number;
    image?: string;
    imagePullPolicy?: string;
    logLevel?: string;
    resources?: Record<string, unknown>;
    volumes?: { volume: Record<string, unknown>; mount: Record<string, unknown> }[];
    podAnnotations?: Record<string, string>;
    annotations?: Record<string, string>;
    extraLabels?: Record<string, string>;
}

/** The Deployment the component renders, written out field by field. */
function deployment(e: DeploymentExpectation): PlainObject {
    const metadata = { name: e.name, namespace: e.namespace, labels: labels(e.name, e.extraLabels), ...(e.annotations ? { annotations: e.annotations } : {}) };
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata,
        spec: {
            replicas: e.replicas ?? 1,
            selector: { matchLabels: selector(e.name) },
            strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
            template: {
                metadata: { labels: labels(e.name, e.extraLabels), ...(e.podAnnotations ? { annotations: e.podAnnotations } : {}) },
                spec: {
                    automountServiceAccountToken: false,
                    enableServiceLinks: false,
                    terminationGracePeriodSeconds: 310,
                    securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: "RuntimeDefault" } },
                    containers: [
                        {
                            name: "proxy",
                            image: e.image ?? IMAGE,
                            imagePullPolicy: e.imagePullPolicy ?? "IfNotPresent",
                            args: [
                                "--config",
                                "/etc/openai-compatible-proxy/config/config.json",
                                "--listen",
                                ":8080",
                                "--admin-listen",
                                ":9901",
                                "--log-level",
                                e.logLevel ?? "info",
                                "--shutdown-delay-ms",
                                "5000",
                                "--shutdown-grace-ms",
                                "300000",
                            ],
                            ports: [
                                { name: "http", containerPort: 8080, protocol: "TCP" },
                                { name: "admin", containerPort: 9901, protocol: "TCP" },
                            ],
                            readinessProbe: { httpGet: { path: "/readyz", port: "admin" }, periodSeconds: 5, failureThreshold: 2 },
                            livenessProbe: { httpGet: { path: "/healthz", port: "admin" }, periodSeconds: 10, failureThreshold: 3 },
                            resources: e.resources ?? { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
                            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } },
                            volumeMounts: [
                                { name: "config", mountPath: "/etc/openai-compatible-proxy/config", readOnly: true },
                                { name: "tmp", mountPath: "/tmp" },
                                ...(e.volumes ?? []).map((v) => v.mount),
                            ],
                        },
                    ],
                    volumes: [
                        { name: "config", configMap: { name: `${e.name}-config` } },
                        { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
                        ...(e.volumes ?? []).map((v) => v.volume),
                    ],
                },
            },
        },
    };
}

function service(name: string, namespace: string, extraLabels?: Record<string, string>, annotations?: Record<string, string>): PlainObject {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace, labels: labels(name, extraLabels), ...(annotations ? { annotations } : {}) },
        spec: {
            type: "ClusterIP",
            selector: selector(name),
            ports: [
                { name: "http", port: 8080, targetPort: "http", protocol: "TCP" },
                { name: "admin", port: 9901, targetPort: "admin", protocol: "TCP" },
            ],
        },
    };
}

/** The HTTPRoute the Gateway serves with the proxy: the prefix to the proxy's Service, no rewrite. */
function routeToService(name: string, serviceName: string, extra: { prefix?: string; gateway?: Record<string, string>; hostnames?: string[]; timeouts?: Record<string, string>; metadata?: Record<string, unknown> } = {}): PlainObject {
    return {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name, namespace: "llm", ...extra.metadata },
        spec: {
            parentRefs: [extra.gateway ?? { name: "agentgateway", namespace: "kgateway-system" }],
            ...(extra.hostnames ? { hostnames: extra.hostnames } : {}),
            rules: [
                {
                    matches: [{ path: { type: "PathPrefix", value: extra.prefix ?? `/${name}` } }],
                    backendRefs: [{ group: "", kind: "Service", name: serviceName, namespace: "llm", port: 8080 }],
                    // The request timeout the component always sets, `0s` (none) unless given.
                    timeouts: extra.timeouts ?? { request: "0s" },
                },
            ],
        },
    };
}

/** The ProxyConfig defaults every rendered config carries. */
const CONFIG_DEFAULTS = {
    apiVersion: "openai-compatible-proxy/v1",
    kind: "ProxyConfig",
    limits: { maxRequestBodyBytes: 10485760 },
    upstream: { connectTimeoutMs: 10000, headersTimeoutMs: 600000, bodyTimeoutMs: 600000, keepAliveTimeoutMs: 60000 },
};

/** The values of several outputs, by the same keys. */
async function values(outputs: Record<string, pulumi.Output<unknown>>): Promise<Record<string, unknown>> {
    const entries = await Promise.all(Object.entries(outputs).map(async ([k, o]) => [k, await settled(o)] as const));
    return Object.fromEntries(entries);
}

function byKind(objects: PlainObject[], kind: string): PlainObject[] {
    return objects.filter((o) => o.kind === kind);
}

function one(objects: PlainObject[], kind: string, name?: string): PlainObject {
    const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
    expect(found).toHaveLength(1);
    return found[0]!;
}

function configOf(objects: PlainObject[], configMapName: string): Record<string, unknown> {
    const data = one(objects, "ConfigMap", configMapName).data as Record<string, string>;
    expect(Object.keys(data)).toEqual(["config.json"]);
    return JSON.parse(data["config.json"]!) as Record<string, unknown>;
}

describe("a provider with a proxy of its own (the default data plane)", () => {
    it("renders the four objects, the HTTPRoute to the proxy's Service, its ConfigMap, Deployment and Service, exactly", async () => {
        const { objects, components } = await renderScenario("proxy-default");
        expect(objects.map((o) => `${o.kind} ${o.metadata.name}`)).toEqual([
            "Secret mistral-secret",
            "ConfigMap mistral-proxy-config",
            "Backend mistral",
            "HTTPRoute mistral",
            "BackendTLSPolicy mistral-tls",
            "Service mistral-proxy",
            "Deployment mistral-proxy",
        ]);
        expect(one(objects, "HTTPRoute")).toEqual(routeToService("mistral", "mistral-proxy"));
        // The Backend and its TLS policy are unchanged: they describe the provider, and are what the proxy serves.
        expect(one(objects, "Backend")).toEqual(renderObjects(resolveSettings("mistral", { preset: "mistral", apiKey: "k", namespace: "llm", route: { gateway: { name: "agentgateway", namespace: "kgateway-system" } } })).backend);
        expect(one(objects, "Service")).toEqual(service("mistral-proxy", "llm"));
        expect(one(objects, "Deployment")).toEqual(deployment({ name: "mistral-proxy", namespace: "llm", volumes: [keyVolume("mistral-secret")] }));
        expect(one(objects, "ConfigMap").metadata).toEqual({ name: "mistral-proxy-config", namespace: "llm", labels: labels("mistral-proxy") });
        expect(configOf(objects, "mistral-proxy-config")).toEqual({
            ...CONFIG_DEFAULTS,
            backends: [
                {
                    name: "llm/mistral",
                    host: "api.mistral.ai",
                    port: 443,
                    tls: { serverName: "api.mistral.ai" },
                    path: "/v1/chat/completions",
                    requireModel: false,
                    auth: { type: "Key", key: { file: "/var/run/secrets/openai-compatible-proxy/providers/mistral-secret/Authorization" }, headerName: "Authorization", prefix: "Bearer " },
                    provider: "mistral_ai",
                },
            ],
            routes: [{ name: "llm/mistral/0", matches: [{ path: { type: "PathPrefix", value: "/mistral" } }], urlRewrite: { hostname: "api.mistral.ai" }, backendRefs: [{ name: "llm/mistral", weight: 1 }], timeouts: { requestMs: 0 } }],
        });
        const c = components[0]!;
        expect(
            await values({ dataPlane: c.dataPlane, proxyServiceName: c.proxyServiceName, clientCredential: c.clientCredential, clientKeys: c.clientKeys, proxyConfig: c.proxyConfig }),
        ).toEqual({
            dataPlane: "proxy",
            proxyServiceName: "mistral-proxy",
            clientCredential: "none",
            clientKeys: {},
            proxyConfig: (one(objects, "ConfigMap").data as Record<string, string>)["config.json"],
        });
        expect(c.podDisruptionBudget).toBeUndefined();
        expect(c.clientKeysSecret).toBeUndefined();
    });

    it("the ConfigMap holds exactly the proxy's own translation of the objects, valid for the proxy's schema", async () => {
        const { objects } = await renderScenario("proxy-default");
        const text = (one(objects, "ConfigMap").data as Record<string, string>)["config.json"]!;
        const served = objects.filter((o) => ["Backend", "HTTPRoute", "BackendTLSPolicy"].includes(o.kind));
        // The cluster's HTTPRoute goes to the Service; the proxy serves the route as rendered, to the Backend.
        const httpRoute = renderObjects(resolveSettings("mistral", { preset: "mistral", apiKey: "k", namespace: "llm", route: { gateway: { name: "agentgateway", namespace: "kgateway-system" } } })).httpRoute;
        const translated = fromGatewayObjects([...served.filter((o) => o.kind !== "HTTPRoute"), httpRoute], { secretsDir: "/var/run/secrets/openai-compatible-proxy/providers", configMapsDir: "/etc/openai-compatible-proxy/ca" });
        expect(translated.problems).toEqual([]);
        expect(JSON.parse(text)).toEqual(translated.config);
        const validated = validateProxyConfig(JSON.parse(text));
        expect(validated.ok).toBe(true);
    });

    it("every option: image and tag, replicas and a PodDisruptionBudget, resources, client keys, checksum, log level, the Deployment patch; the existing Secret and the CA mounted", async () => {
        const { objects, components, resources } = await renderScenario("proxy-options");
        expect(objects.map((o) => `${o.kind} ${o.metadata.name}`)).toEqual([
            "Secret private-proxy-client-keys",
            "ConfigMap private-ca",
            "ConfigMap private-proxy-config",
            "Backend private",
            "HTTPRoute private",
            "BackendTLSPolicy private-tls",
            "Service private-proxy",
            "Deployment private-proxy",
            "PodDisruptionBudget private-proxy",
        ]);
        const userLabels = { team: "platform" };
        const annotations = { "example.com/owner": "platform" };
        const configText = (one(objects, "ConfigMap", "private-proxy-config").data as Record<string, string>)["config.json"]!;
        const expected = deployment({
            name: "private-proxy",
            namespace: "llm",
            replicas: 3,
            image: "registry.example.com/llm/openai-compatible-proxy:0.1.0-rc.1",
            imagePullPolicy: "Always",
            logLevel: "debug",
            resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "2", memory: "512Mi" } },
            extraLabels: userLabels,
            annotations,
            podAnnotations: { ...annotations, "checksum/config": createHash("sha256").update(configText).digest("hex") },
            volumes: [
                keyVolume("private-llm-key"),
                {
                    volume: { name: "ca-private-ca", configMap: { name: "private-ca", items: [{ key: "ca.crt", path: "ca.crt" }] } },
                    mount: { name: "ca-private-ca", mountPath: "/etc/openai-compatible-proxy/ca/private-ca", readOnly: true },
                },
                clientKeysVolume("private-proxy-client-keys"),
            ],
        }) as unknown as { spec: { template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } } } };
        // The patch: a new field, and the proxy container merged by name.
        expected.spec.template.spec.nodeSelector = { "example.com/pool": "system" };
        expected.spec.template.spec.containers[0]!.env = [{ name: "NODE_OPTIONS", value: "--max-old-space-size=384" }];
        expect(one(objects, "Deployment")).toEqual(expected);
        expect(one(objects, "Service")).toEqual(service("private-proxy", "llm", userLabels, annotations));
        expect(one(objects, "PodDisruptionBudget")).toEqual({
            apiVersion: "policy/v1",
            kind: "PodDisruptionBudget",
            metadata: { name: "private-proxy", namespace: "llm", labels: labels("private-proxy", userLabels), annotations },
            spec: { maxUnavailable: 1, unhealthyPodEvictionPolicy: "AlwaysAllow", selector: { matchLabels: selector("private-proxy") } },
        });
        expect(one(objects, "HTTPRoute")).toEqual(
            routeToService("private", "private-proxy", { hostnames: ["llm.example.com"], timeouts: { request: "10m" }, metadata: { labels: userLabels, annotations } }),
        );

        // Client keys: one RandomPassword each (rotation in keepers), one Secret, secret outputs.
        const passwords = resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword");
        expect(passwords.map((r) => ({ name: r.name, inputs: r.inputs }))).toEqual([
            { name: "private-client-key-team-a", inputs: { length: 48, special: false, keepers: { rotation: "0" } } },
            { name: "private-client-key-ci", inputs: { length: 64, special: false, keepers: { rotation: "2" } } },
        ]);
        const keys = {
            "team-a": mockPassword("private-client-key-team-a", passwords[0]!.inputs),
            ci: mockPassword("private-client-key-ci", passwords[1]!.inputs),
        };
        expect(one(objects, "Secret", "private-proxy-client-keys")).toEqual({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "private-proxy-client-keys", namespace: "llm", labels: labels("private-proxy", userLabels), annotations },
            type: "Opaque",
            stringData: keys,
        });
        expect(resources.find((r) => r.name === "private-client-keys")!.secretPaths).toEqual(["/stringData"]);
        const c = components[0]!;
        expect(await settled(c.clientKeys)).toEqual(keys);
        expect(await isSecret(c.clientKeys)).toBe(true);
        expect(await settled(c.clientCredential)).toBe("client-key");
        // No key value anywhere but in the client-keys Secret (and the RandomPasswords' state).
        const elsewhere = resources.filter((r) => r.name !== "private-client-keys");
        for (const key of Object.values(keys)) expect(JSON.stringify(elsewhere.map((r) => r.inputs))).not.toContain(key);

        expect(configOf(objects, "private-proxy-config")).toEqual({
            ...CONFIG_DEFAULTS,
            clientAuth: {
                apiKeys: [{ file: "/var/run/secrets/openai-compatible-proxy/client-keys/ci" }, { file: "/var/run/secrets/openai-compatible-proxy/client-keys/team-a" }],
            },
            backends: [
                {
                    name: "llm/private",
                    host: "llm.corp.example.com",
                    port: 443,
                    tls: { serverName: "llm.corp.example.com", caCertificates: [{ file: "/etc/openai-compatible-proxy/ca/private-ca/ca.crt" }] },
                    path: "/v1/chat/completions",
                    model: "corp-large",
                    requireModel: false,
                    auth: { type: "Key", key: { file: "/var/run/secrets/openai-compatible-proxy/providers/private-llm-key/Authorization" }, headerName: "Authorization", prefix: "Bearer " },
                    provider: "llm.corp.example.com",
                },
            ],
            routes: [
                {
                    name: "llm/private/0",
                    hostnames: ["llm.example.com"],
                    matches: [{ path: { type: "PathPrefix", value: "/private" } }],
                    urlRewrite: { hostname: "llm.corp.example.com" },
                    backendRefs: [{ name: "llm/private", weight: 1 }],
                    timeouts: { requestMs: 600000 },
                },
            ],
        });
        // The CA ConfigMap is the component's own, mounted as is.
        expect(one(objects, "ConfigMap", "private-ca").data).toEqual({ "ca.crt": TEST_CA_PEM });
    });

    it("passthrough: nothing mounted but the config, and the Backend's auth is Passthrough", async () => {
        const { objects, components } = await renderScenario("proxy-passthrough");
        expect(byKind(objects, "Secret")).toEqual([]);
        expect(one(objects, "Deployment")).toEqual(deployment({ name: "openrouter-proxy", namespace: "llm" }));
        const backends = configOf(objects, "openrouter-proxy-config").backends as Record<string, unknown>[];
        expect(backends[0]!.auth).toEqual({ type: "Passthrough", headerName: "Authorization", prefix: "Bearer " });
        expect(await settled(components[0]!.clientCredential)).toBe("provider-key");
    });

    it("examples/self-hosted-vllm: plaintext to the in-cluster Service, no BackendTLSPolicy, the proxy's resources", async () => {
        const { objects, components } = await renderScenario("example-self-hosted-vllm");
        expect(objects.map((o) => `${o.kind} ${o.metadata.name}`)).toEqual([
            "Secret vllm-secret",
            "ConfigMap vllm-proxy-config",
            "Backend vllm",
            "HTTPRoute vllm",
            "Service vllm-proxy",
            "Deployment vllm-proxy",
        ]);
        expect(one(objects, "Deployment")).toEqual(
            deployment({ name: "vllm-proxy", namespace: "llm", resources: { requests: { cpu: "50m", memory: "96Mi" }, limits: { memory: "192Mi" } }, volumes: [keyVolume("vllm-secret")] }),
        );
        expect(one(objects, "HTTPRoute")).toEqual(routeToService("vllm", "vllm-proxy", { prefix: "/local", timeouts: { request: "10m" } }));
        const config = configOf(objects, "vllm-proxy-config");
        expect(config.backends).toEqual([
            {
                name: "llm/vllm",
                host: "vllm.models.svc.cluster.local",
                port: 8000,
                path: "/v1/chat/completions",
                model: "Qwen/Qwen2.5-7B-Instruct",
                requireModel: false,
                auth: { type: "Key", key: { file: "/var/run/secrets/openai-compatible-proxy/providers/vllm-secret/Authorization" }, headerName: "Authorization", prefix: "Bearer " },
                provider: "vllm.models.svc.cluster.local",
            },
        ]);
        expect(await settled(components[0]!.upstreamUrl)).toBe("http://vllm.models.svc.cluster.local:8000/v1/chat/completions");
    });

    it("every child is parented to the provider, named after it, with the Kubernetes provider passed on", async () => {
        const { resources } = await withRecordingMocks({ project: "p", stack: "s" }, async () => {
            const { Provider } = await import("@pulumi/kubernetes");
            const k = new Provider("cluster", {});
            const c = new OpenAICompatibleProvider(
                "mistral",
                { preset: "mistral", apiKey: "k", namespace: "llm", route: { gateway: { name: "agentgateway" } }, proxy: { replicas: 2, clientKeys: [{ name: "a" }] } },
                { providers: [k] },
            );
            await Promise.all([c.podDisruptionBudget!, c.clientKeysSecret!, c.deployment!, c.service!, c.proxyConfigMap!, c.httpRoute].map((r) => settled(r.urn)));
        });
        const urns = await withRecordingMocks({ project: "p", stack: "s" }, async () => {
            const c = new OpenAICompatibleProvider("mistral", { preset: "mistral", apiKey: "k", namespace: "llm", route: { gateway: { name: "agentgateway" } }, proxy: { replicas: 2, clientKeys: [{ name: "a" }] } });
            return Promise.all([c.proxyConfigMap!, c.deployment!, c.service!, c.podDisruptionBudget!, c.clientKeysSecret!].map((r) => settled(r.urn)));
        });
        expect(urns.result).toEqual([
            `urn:pulumi:s::p::${PROVIDER_TYPE}$kubernetes:core/v1:ConfigMap::mistral-proxy-config`,
            `urn:pulumi:s::p::${PROVIDER_TYPE}$kubernetes:apps/v1:Deployment::mistral-proxy`,
            `urn:pulumi:s::p::${PROVIDER_TYPE}$kubernetes:core/v1:Service::mistral-proxy`,
            `urn:pulumi:s::p::${PROVIDER_TYPE}$kubernetes:policy/v1:PodDisruptionBudget::mistral-proxy`,
            `urn:pulumi:s::p::${PROVIDER_TYPE}$kubernetes:core/v1:Secret::mistral-client-keys`,
        ]);
        const children = resources.filter((r) => r.type.startsWith("kubernetes:") && r.custom && r.type !== "pulumi:providers:kubernetes");
        expect(children.map((r) => r.type).sort()).toEqual([
            "kubernetes:apps/v1:Deployment",
            "kubernetes:core/v1:ConfigMap",
            "kubernetes:core/v1:Secret",
            "kubernetes:core/v1:Secret",
            "kubernetes:core/v1:Service",
            "kubernetes:gateway.kgateway.dev/v1alpha1:Backend",
            "kubernetes:gateway.networking.k8s.io/v1:BackendTLSPolicy",
            "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
            "kubernetes:policy/v1:PodDisruptionBudget",
        ]);
        for (const r of children) expect({ name: r.name, provider: r.provider }).toEqual({ name: r.name, provider: "urn:pulumi:s::p::pulumi:providers:kubernetes::cluster::cluster-id" });
    });
});

describe("kgateway's own data plane (dataPlane: kgateway)", () => {
    it("creates the four objects only, the HTTPRoute's backend being the Backend, and no proxy", async () => {
        const args = { preset: "mistral", apiKey: pulumi.secret(testKey("mistral")), namespace: "llm", route: { gateway: { name: "agentgateway", namespace: "kgateway-system" } } };
        const { result, resources } = await withRecordingMocks({}, async () => {
            const c = new OpenAICompatibleProvider("mistral", { ...args, dataPlane: "kgateway" });
            await Promise.all([settled(c.httpRoute.urn), settled(c.backendTLSPolicy!.urn)]);
            return { c, outputs: await values({ dataPlane: c.dataPlane, proxyServiceName: c.proxyServiceName, proxyConfig: c.proxyConfig, clientKeys: c.clientKeys }) };
        });
        const kinds = resources.filter((r) => r.type.startsWith("kubernetes:")).map((r) => (r.inputs as { kind: string }).kind);
        expect(kinds.sort()).toEqual(["Backend", "BackendTLSPolicy", "HTTPRoute", "Secret"]);
        const route = resources.find((r) => r.name === "mistral-route")!.inputs as { spec: { rules: { backendRefs: unknown[]; filters: unknown[] }[] } };
        expect(route.spec.rules[0]!.backendRefs).toEqual([{ name: "mistral", namespace: "llm", group: "gateway.kgateway.dev", kind: "Backend" }]);
        expect(route.spec.rules[0]!.filters).toEqual([{ type: "URLRewrite", urlRewrite: { hostname: "api.mistral.ai" } }]);
        expect([result.c.deployment, result.c.service, result.c.proxyConfigMap, result.c.podDisruptionBudget, result.c.clientKeysSecret]).toEqual([undefined, undefined, undefined, undefined, undefined]);
        expect(result.outputs).toEqual({ dataPlane: "kgateway", proxyServiceName: undefined, proxyConfig: undefined, clientKeys: {} });
    });

    it("the same provider's objects differ between the two data planes only in the HTTPRoute's filters and backend", async () => {
        const render = (dataPlane: string) =>
            withRecordingMocks({}, async () => {
                const c = new OpenAICompatibleProvider("mistral", { preset: "mistral", apiKey: "k", namespace: "llm", route: { gateway: { name: "agentgateway" } }, dataPlane });
                await settled(c.httpRoute.urn);
            }).then(({ resources }) => Object.fromEntries(resources.filter((r) => r.type.startsWith("kubernetes:")).map((r) => [r.name, r.inputs])));
        const kgateway = await render("kgateway");
        const proxy = await render("proxy");
        for (const name of ["mistral-secret", "mistral-backend", "mistral-tls"]) expect(proxy[name]).toEqual(kgateway[name]);
        const kRoute = kgateway["mistral-route"] as { spec: { rules: Record<string, unknown>[] } };
        const pRoute = proxy["mistral-route"] as { spec: { rules: Record<string, unknown>[] } };
        expect({ ...pRoute, spec: { ...pRoute.spec, rules: [] } }).toEqual({ ...kRoute, spec: { ...kRoute.spec, rules: [] } });
        expect(pRoute.spec.rules[0]!.matches).toEqual(kRoute.spec.rules[0]!.matches);
    });
});

describe("a shared proxy (OpenAICompatibleGateway): examples/platform-shared-proxy", () => {
    it("one Deployment mounting both providers' Secrets and the client keys; both HTTPRoutes to its Service", async () => {
        const { objects } = await renderScenario("example-platform-shared-proxy");
        expect(objects.map((o) => `${o.kind} ${o.metadata.name}`)).toEqual([
            "Secret mistral-secret",
            "Secret deepseek-secret",
            "Secret llm-client-keys",
            "ConfigMap llm-config",
            "Backend mistral",
            "Backend deepseek",
            "HTTPRoute mistral",
            "HTTPRoute deepseek",
            "BackendTLSPolicy mistral-tls",
            "BackendTLSPolicy deepseek-tls",
            "Service llm",
            "Deployment llm",
            "PodDisruptionBudget llm",
        ]);
        expect(one(objects, "Deployment")).toEqual(
            deployment({ name: "llm", namespace: "llm", replicas: 2, volumes: [keyVolume("deepseek-secret"), keyVolume("mistral-secret"), clientKeysVolume("llm-client-keys")] }),
        );
        expect(one(objects, "Service")).toEqual(service("llm", "llm"));
        expect(one(objects, "PodDisruptionBudget").spec).toEqual({ maxUnavailable: 1, unhealthyPodEvictionPolicy: "AlwaysAllow", selector: { matchLabels: selector("llm") } });
        for (const name of ["mistral", "deepseek"]) {
            expect(one(objects, "HTTPRoute", name)).toEqual(routeToService(name, "llm", { timeouts: { request: "10m" } }));
        }
        const config = configOf(objects, "llm-config");
        expect(config.clientAuth).toEqual({ apiKeys: [{ file: "/var/run/secrets/openai-compatible-proxy/client-keys/team-a" }, { file: "/var/run/secrets/openai-compatible-proxy/client-keys/team-b" }] });
        expect((config.backends as { name: string; model: string; auth: unknown }[]).map((b) => [b.name, b.model, b.auth])).toEqual([
            ["llm/deepseek", "deepseek-chat", { type: "Key", key: { file: "/var/run/secrets/openai-compatible-proxy/providers/deepseek-secret/Authorization" }, headerName: "Authorization", prefix: "Bearer " }],
            ["llm/mistral", "mistral-medium-2505", { type: "Key", key: { file: "/var/run/secrets/openai-compatible-proxy/providers/mistral-secret/Authorization" }, headerName: "Authorization", prefix: "Bearer " }],
        ]);
        expect((config.routes as { name: string; matches: unknown }[]).map((r) => [r.name, r.matches])).toEqual([
            ["llm/deepseek/0", [{ path: { type: "PathPrefix", value: "/deepseek" } }]],
            ["llm/mistral/0", [{ path: { type: "PathPrefix", value: "/mistral" } }]],
        ]);
    });

    it("registers each provider's HTTPRoute only after the proxy's Service and Deployment, though a gateway's providers are created first", async () => {
        for (const id of ["example-platform-shared-proxy", "proxy-default"]) {
            const { resources } = await renderScenario(id);
            const order = resources.map((r) => `${r.type.split(":").pop()} ${r.name}`);
            const service = order.findIndex((r) => r.startsWith("Service "));
            // `pulumi up` registers the Deployment once its pods are ready.
            const deployment = order.findIndex((r) => r.startsWith("Deployment "));
            const routes = order.flatMap((r, i) => (r.startsWith("HTTPRoute ") ? [i] : []));
            expect(service).toBeGreaterThanOrEqual(0);
            expect(deployment).toBeGreaterThanOrEqual(0);
            expect(routes.length).toBeGreaterThan(0);
            // The Gateway is never pointed at a Service that does not exist yet, nor at pods not ready.
            for (const at of routes) expect({ id, route: order[at], afterService: at > service, afterDeployment: at > deployment }).toEqual({ id, route: order[at], afterService: true, afterDeployment: true });
        }
    });

    it("providers are children of the gateway, named after it; its outputs: urls, the Service, the client keys (secret)", async () => {
        const { resources, gateways, objects } = await renderScenario("example-platform-shared-proxy");
        const g = gateways[0]!;
        expect(await settled(g.urn)).toBe(`urn:pulumi:stack::platform-shared-proxy::${GATEWAY_TYPE}::llm`);
        expect(await settled(g.providers.mistral!.urn)).toBe(`urn:pulumi:stack::platform-shared-proxy::${GATEWAY_TYPE}$${PROVIDER_TYPE}::llm-mistral`);
        // The mock monitor qualifies a type with its parent's type only (the engine uses the whole chain).
        expect(await settled(g.providers.deepseek!.httpRoute.urn)).toBe(
            `urn:pulumi:stack::platform-shared-proxy::${PROVIDER_TYPE}$kubernetes:gateway.networking.k8s.io/v1:HTTPRoute::llm-deepseek-route`,
        );
        expect(await settled(g.deployment.urn)).toBe(`urn:pulumi:stack::platform-shared-proxy::${GATEWAY_TYPE}$kubernetes:apps/v1:Deployment::llm-proxy`);
        expect(await values({ urls: g.urls, serviceName: g.serviceName, serviceUrl: g.serviceUrl, namespace: g.namespace })).toEqual({
            urls: { mistral: "https://llm.example.com/mistral", deepseek: "https://llm.example.com/deepseek" },
            serviceName: "llm",
            serviceUrl: "http://llm.llm.svc.cluster.local:8080",
            namespace: "llm",
        });
        const keys = await settled(g.clientKeys);
        expect(Object.keys(keys)).toEqual(["team-a", "team-b"]);
        expect(await isSecret(g.clientKeys)).toBe(true);
        expect(one(objects, "Secret", "llm-client-keys").stringData).toEqual(keys);
        expect(resources.find((r) => r.name === "llm-client-keys")!.secretPaths).toEqual(["/stringData"]);
        for (const p of Object.values(g.providers)) expect(await settled(p.clientCredential)).toBe("client-key");
        expect(await settled(g.proxyConfig)).toBe((one(objects, "ConfigMap", "llm-config").data as Record<string, string>)["config.json"]);
    });

    it("a `namespace` Output that resolves to no value defaults to `default` for the proxy too, as for its providers", async () => {
        // A StackReference output or an optional config value wrapped in an Output, say: the
        // proxy's objects must not lose their namespace (and land in the Kubernetes provider's
        // default one) while the providers' Secrets go to `default`.
        const { result, resources } = await withRecordingMocks({}, async () => {
            const g = new OpenAICompatibleGateway("llm", { ...gateway(), namespace: pulumi.output<string | undefined>(undefined) as pulumi.Output<string> });
            return values({ namespace: g.namespace, serviceUrl: g.serviceUrl });
        });
        expect(result).toEqual({ namespace: "default", serviceUrl: "http://llm.default.svc.cluster.local:8080" });
        const namespaces = resources.filter((r) => r.type.startsWith("kubernetes:")).map((r) => [r.name, (r.inputs.metadata as { namespace?: string }).namespace]);
        expect(namespaces.length).toBeGreaterThan(0);
        for (const [name, ns] of namespaces) expect({ name, ns }).toEqual({ name, ns: "default" });
    });

    it("the manifests output serves the same backends and routes with `--manifests --secrets-dir`, without the client keys", async () => {
        const { objects } = await renderScenario("example-platform-shared-proxy");
        const { result } = await withRecordingMocks(SCENARIOS["example-platform-shared-proxy"]!.options, async () => {
            const exports = (await import("../examples/platform-shared-proxy/index")) as unknown as Record<string, pulumi.Output<unknown>>;
            return settled(exports.manifests!) as Promise<{ kind: string; items: unknown[] }>;
        });
        expect(result.kind).toBe("List");
        const local = fromGatewayObjects([result], { secretsDir: "/var/run/secrets/openai-compatible-proxy/providers" });
        expect(local.problems).toEqual([]);
        const { clientAuth, ...inCluster } = configOf(objects, "llm-config");
        expect(clientAuth).toBeDefined();
        expect(local.config).toEqual(inCluster);
    });
});

describe("what an update changes", () => {
    const options = SCENARIOS["example-platform-shared-proxy"]!.options;

    /** The example's registrations with extra stack config, by resource name. */
    async function render(extraConfig: Record<string, string>): Promise<Map<string, RecordedResource>> {
        const { resources } = await withRecordingMocks({ ...options, config: { ...options.config, ...extraConfig } }, async () => {
            const g = (await import("../examples/platform-shared-proxy/program")).platformSharedProxyExample();
            await Promise.all([settled(g.urls), settled(g.deployment.urn), settled(g.clientKeysSecret!.urn), settled(g.podDisruptionBudget!.urn)]);
        });
        return new Map(resources.map((r) => [r.name, r]));
    }

    function changed(before: Map<string, RecordedResource>, after: Map<string, RecordedResource>): string[] {
        expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
        return [...after.keys()].filter((name) => JSON.stringify(after.get(name)!.inputs) !== JSON.stringify(before.get(name)!.inputs)).sort();
    }

    it("rotating one client key changes only its RandomPassword and the client-keys Secret", async () => {
        const before = await render({});
        const after = await render({ "platform-shared-proxy:clientKeyRotations": JSON.stringify({ "team-a": 1 }) });
        expect(changed(before, after)).toEqual(["llm-client-key-team-a", "llm-client-keys"]);
        const keys = (m: Map<string, RecordedResource>) => m.get("llm-client-keys")!.inputs.stringData as Record<string, string>;
        expect(keys(after)["team-a"]).not.toBe(keys(before)["team-a"]);
        expect(keys(after)["team-b"]).toBe(keys(before)["team-b"]);
    });

    it("a new model changes the Backend and the proxy's ConfigMap, not the Deployment (the proxy reloads it)", async () => {
        const before = await render({});
        const after = await render({ "platform-shared-proxy:mistralModel": "mistral-large-2411" });
        expect(changed(before, after)).toEqual(["llm-mistral-backend", "llm-proxy-config"]);
    });

    it("the same providers given in another order change nothing: not the config, nor the pods' checksum", async () => {
        const registrations = async (keys: string[]) => {
            const { resources } = await withRecordingMocks({}, async () => {
                const args = gateway();
                args.proxy = { restartOnConfigChange: true };
                args.providers = Object.fromEntries(keys.map((k) => [k, args.providers[k]!]));
                await settled(new OpenAICompatibleGateway("llm", args).proxyConfig);
            });
            return new Map(resources.map((r) => [r.name, r]));
        };
        const before = await registrations(["mistral", "deepseek"]);
        const after = await registrations(["deepseek", "mistral"]);
        expect(changed(before, after)).toEqual([]);
        const config = JSON.parse((before.get("llm-proxy-config")!.inputs.data as Record<string, string>)["config.json"]!) as { backends: { name: string }[] };
        expect(config.backends.map((b) => b.name)).toEqual(["llm/deepseek", "llm/mistral"]);
    });

    it("the same client keys given in another order change nothing: not the config, nor the pods' checksum", async () => {
        const registrations = async (names: string[]) => {
            const { resources } = await withRecordingMocks({}, async () => {
                const c = new OpenAICompatibleProvider("mistral", { ...provider(), proxy: { restartOnConfigChange: true, clientKeys: names.map((name) => ({ name })) } });
                await settled(c.proxyConfig);
            });
            return new Map(resources.map((r) => [r.name, r.inputs]));
        };
        const before = await registrations(["team-b", "team-a"]);
        const after = await registrations(["team-a", "team-b"]);
        // Compared as values: the order of an object's keys (the client-keys Secret's stringData) is no change.
        expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
        for (const [name, inputs] of after) expect([name, inputs]).toEqual([name, before.get(name)]);
        const config = JSON.parse((before.get("mistral-proxy-config")!.data as Record<string, string>)["config.json"]!) as { clientAuth: unknown };
        expect(config.clientAuth).toEqual({ apiKeys: ["team-a", "team-b"].map((k) => ({ file: `/var/run/secrets/openai-compatible-proxy/client-keys/${k}` })) });
    });
});

describe("pure helpers", () => {
    it("PROXY_VERSION is both packages' version, so the default image reads the config the component renders", () => {
        const version = (p: string) => (JSON.parse(fs.readFileSync(path.resolve(__dirname, "..", p), "utf8")) as { version: string }).version;
        expect([version("package.json"), version("proxy/package.json")]).toEqual([PROXY_VERSION, PROXY_VERSION]);
    });

    it.each([
        ["openai-compatible-proxy", {}],
        ["ghcr.io/acme/openai-compatible-proxy:0.1.0", { tag: "0.1.0" }],
        ["localhost:5000/proxy", {}],
        ["localhost:5000/proxy:v1", { tag: "v1" }],
        [`registry.example.com/llm/proxy@sha256:${"a".repeat(64)}`, { digest: `sha256:${"a".repeat(64)}` }],
        [`registry.example.com/llm/proxy:1.2@sha256:${"b".repeat(64)}`, { tag: "1.2", digest: `sha256:${"b".repeat(64)}` }],
    ])("imageParts(%s)", (reference, parts) => {
        expect(imageParts(reference)).toEqual({ tag: undefined, digest: undefined, ...parts });
    });

    it.each(["Registry.example.com/Proxy:1", "proxy:", "https://ghcr.io/acme/proxy:1", "proxy:1 2", "ghcr.io//proxy:1"])("imageParts rejects %s", (reference) => {
        expect(imageParts(reference)).toBeUndefined();
    });

    it("mergePatch merges objects, named lists by name, replaces other lists, removes nulls", () => {
        const target = { spec: { replicas: 1, list: [1, 2], containers: [{ name: "proxy", image: "a", env: [{ name: "A", value: "1" }] }], keep: true } };
        const patch = { spec: { list: [3], keep: null, containers: [{ name: "proxy", env: [{ name: "B", value: "2" }] }, { name: "sidecar", image: "s" }] } };
        expect(mergePatch(target, patch)).toEqual({
            spec: {
                replicas: 1,
                list: [3],
                containers: [
                    { name: "proxy", image: "a", env: [{ name: "A", value: "1" }, { name: "B", value: "2" }] },
                    { name: "sidecar", image: "s" },
                ],
            },
        });
        expect(target.spec.keep).toBe(true);
    });

    it("mergePatch keeps only the given keys of `strategy` and of a volume, unions the API server checks", () => {
        const target = {
            spec: {
                strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
                template: { spec: { volumes: [{ name: "keys", secret: { secretName: "k", defaultMode: 0o440 } }, { name: "tmp", emptyDir: {} }] } },
            },
        };
        // Merged key by key, the API server would refuse both: `rollingUpdate` with `Recreate`, two sources in one volume.
        expect(mergePatch(target, { spec: { strategy: { type: "Recreate" }, template: { spec: { volumes: [{ name: "keys", configMap: { name: "c" } }] } } } })).toEqual({
            spec: {
                strategy: { type: "Recreate" },
                template: { spec: { volumes: [{ name: "keys", configMap: { name: "c" } }, { name: "tmp", emptyDir: {} }] } },
            },
        });
        // A key given is still merged.
        expect(mergePatch(target, { spec: { template: { spec: { volumes: [{ name: "keys", secret: { defaultMode: 0o400 } }] } } } })).toMatchObject({
            spec: { strategy: target.spec.strategy, template: { spec: { volumes: [{ name: "keys", secret: { secretName: "k", defaultMode: 0o400 } }, { name: "tmp", emptyDir: {} }] } } },
        });
    });

    it("renderProxyConfig lists what the proxy would reject, naming object and field", () => {
        const objects = renderObjects(resolveSettings("mistral", { preset: "mistral", apiKey: "k", route: { gateway: { name: "agentgateway" } } }));
        // A port the Backend CRD accepts (int32) and the proxy does not, as a hand-edited object could hold.
        const broken = { ...objects, backend: { ...objects.backend, spec: { ...objects.backend.spec, ai: { llm: { ...objects.backend.spec.ai.llm, port: 70000 } } } } };
        expect(() => renderProxyConfig([broken], [])).toThrow(
            "openai-compatible-proxy (openai-compatible-proxy/v1) would reject the config rendered from these objects, so its pods could not start: Backend default/mistral: `spec.ai.llm.port` must be an integer from 1 to 65535; HTTPRoute default/mistral: `spec.rules[0].backendRefs[0]` Backend default/mistral cannot be served (see its own problems). Fix the arguments that set these fields.",
        );
        expect(servedObjects(objects).map((o) => o.kind)).toEqual(["Backend", "HTTPRoute", "BackendTLSPolicy"]);
    });
});

describe("a config over the 1 MiB a ConfigMap may hold (a platform's many providers)", () => {
    /** The rendered config of two providers, `mistral`'s model padded to make the config `bytes` long. */
    function renderedAt(bytes: number, argument: string) {
        const objectsWith = (model: string) =>
            (["mistral", "deepseek"] as const).map((preset) =>
                renderObjects(resolveSettings(preset, { preset, apiKey: "k", namespace: "llm", model: preset === "mistral" ? model : "deepseek-chat", route: { gateway: { name: "agentgateway" } } })),
            );
        const base = Buffer.byteLength(renderProxyConfig(objectsWith("m"), ["team-a"], argument).text);
        return () => renderProxyConfig(objectsWith("m".repeat(1 + bytes - base)), ["team-a"], argument);
    }

    it("is refused when rendered, naming the argument, the size and the fix; 1 MiB exactly is not", () => {
        expect(Buffer.byteLength(renderedAt(1024 * 1024, "providers")().text)).toBe(1024 * 1024);
        expect(renderedAt(1024 * 1024 + 1, "providers")).toThrow(
            "`providers`: the proxy's config rendered from these 2 backends and 2 routes is 1048577 bytes, over the 1048576 bytes (1 MiB) Kubernetes allows in the ConfigMap that holds it, so the API server would refuse it at `pulumi up`. Split the providers across several proxies (several OpenAICompatibleGateways, each with its own).",
        );
    });
});

describe("the proxy translation's problems about values given as Pulumi secrets", () => {
    /** The config warnings logged while `prefix` renders, prefix given plain or as a secret. */
    async function warnings(prefix: pulumi.Input<string>): Promise<string[]> {
        const warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
        try {
            await withRecordingMocks({}, async () => {
                const c = new OpenAICompatibleProvider("mistral", { preset: "mistral", apiKey: "k", route: { gateway: { name: "agentgateway" } }, authHeader: { headerName: "api-key", prefix } });
                await settled(c.proxyConfig);
            });
            return warn.mock.calls.map(([message]) => message);
        } finally {
            warn.mockRestore();
        }
    }

    it("are logged by object kind and field only, never quoting the value", async () => {
        // The proxy warns about a prefix that ends with a letter, quoting it when short.
        expect(await warnings("Tok3n")).toEqual([
            "openai-compatible-proxy config: warning: Backend default/mistral: `spec.ai.llm.authHeader.prefix` is used verbatim, so the header is `api-key: Tok3n<key>`; end it with a space if the provider expects `Tok3n <key>`",
        ]);
        expect(await warnings(pulumi.secret("Tok3n"))).toEqual([
            "openai-compatible-proxy config: warning: Backend: `spec.ai.llm.authHeader.prefix` (details not shown: the arguments include Pulumi secrets)",
        ]);
    });

    it("make renderProxyConfig's errors name the kind and field only", () => {
        const objects = renderObjects(resolveSettings("mistral", { preset: "mistral", apiKey: "k", namespace: "sk-live-abc", route: { gateway: { name: "agentgateway" } } }));
        const broken = { ...objects, backend: { ...objects.backend, spec: { ...objects.backend.spec, ai: { llm: { ...objects.backend.spec.ai.llm, port: 70000 } } } } };
        expect(() => renderProxyConfig([broken], [], "dataPlane", true)).toThrow(
            "openai-compatible-proxy (openai-compatible-proxy/v1) would reject the config rendered from these objects, so its pods could not start: Backend: `spec.ai.llm.port` (details not shown: the arguments include Pulumi secrets); HTTPRoute: `spec.rules[0].backendRefs[0]` (details not shown: the arguments include Pulumi secrets). Fix the arguments that set these fields.",
        );
    });
});
