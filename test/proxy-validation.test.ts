/*
 * Bad data-plane arguments fail at construction with a pulumi.ResourceError naming the argument and
 * the fix. Values known only later, and a config the proxy would reject: proxy-validation-deferred.test.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import { OpenAICompatibleGateway, OpenAICompatibleGatewayArgs, OpenAICompatibleProvider, OpenAICompatibleProviderArgs } from "../src";
import { hostnamesMeet } from "../src/gateway-validation";
import { validateProxyArgs } from "../src/proxy-settings";
import { gateway, provider } from "./support/proxy-fixtures";
import { withRecordingMocks } from "./support/pulumi-mocks";


/** The error constructing `build` throws, under mocks (undefined when it constructs). */
async function constructionError(build: () => unknown): Promise<Error | undefined> {
    const { result } = await withRecordingMocks({}, () => {
        try {
            build();
            return Promise.resolve(undefined);
        } catch (err) {
            return Promise.resolve(err as Error);
        }
    });
    return result;
}

type Case<A> = [string, (a: A) => void, string];

const TAG_RULE = "must be an image tag (letters, digits, '_', '.' and '-', at most 128 characters, not starting with '.' or '-')";

const providerCases: Case<OpenAICompatibleProviderArgs>[] = [
    ["unknown data plane", (a) => (a.dataPlane = "envoy"), '`dataPlane` must be "proxy" (deploy openai-compatible-proxy, the default) or "kgateway" (kgateway\'s own data plane behind the existing Gateway), got "envoy".'],
    [
        "a proxy option kgateway cannot honour",
        (a) => Object.assign(a, { dataPlane: "kgateway", proxy: { replicas: 2 } }),
        '`proxy` is set, but `dataPlane` is "kgateway", whose data plane cannot honour it (image, replicas, resources, client keys and the Deployment belong to openai-compatible-proxy); remove `proxy`, or remove `dataPlane` to deploy the proxy.',
    ],
    [
        "an image with no tag",
        (a) => (a.proxy = { image: "registry.example.com/llm/openai-compatible-proxy" }),
        '`proxy.image` "registry.example.com/llm/openai-compatible-proxy" has no tag or digest, so each rollout could run a different proxy; write the tag into it (`proxy.image: "registry.example.com/llm/openai-compatible-proxy:0.1.0"`) or set `proxy.tag`.',
    ],
    [
        "an image on a registry port with no tag",
        (a) => (a.proxy = { image: "localhost:5000/openai-compatible-proxy" }),
        '`proxy.image` "localhost:5000/openai-compatible-proxy" has no tag or digest, so each rollout could run a different proxy; write the tag into it (`proxy.image: "localhost:5000/openai-compatible-proxy:0.1.0"`) or set `proxy.tag`.',
    ],
    ["an image with a tag and a tag", (a) => (a.proxy = { image: "registry.example.com/proxy:1.0", tag: "1.1" }), '`proxy.tag` is set, but `proxy.image` "registry.example.com/proxy:1.0" already has a tag; remove one of them.'],
    [
        "an image with a digest and a tag",
        (a) => (a.proxy = { image: `registry.example.com/proxy@sha256:${"c".repeat(64)}`, tag: "1.1" }),
        `\`proxy.tag\` is set, but \`proxy.image\` "registry.example.com/proxy@sha256:${"c".repeat(64)}" already has a digest; remove one of them.`,
    ],
    [
        "an image that is a URL",
        (a) => (a.proxy = { image: "https://ghcr.io/acme/proxy:1" }),
        '`proxy.image` must be a container image reference (a lowercase repository such as "registry.example.com/llm/openai-compatible-proxy", then ":<tag>" or "@sha256:<digest>"), got "https://ghcr.io/acme/proxy:1".',
    ],
    ["a tag with a space", (a) => (a.proxy = { tag: "0.1 rc" }), `\`proxy.tag\` ${TAG_RULE}, got "0.1 rc"; for example \`proxy.tag: "0.1.0"\`.`],
    ["replicas 0", (a) => (a.proxy = { replicas: 0 }), "`proxy.replicas` must be an integer of at least 1, got 0; use 1 for a single proxy pod, or 2 or more to keep serving while a pod is replaced."],
    ["replicas negative", (a) => (a.proxy = { replicas: -1 }), "`proxy.replicas` must be an integer of at least 1, got -1; use 1 for a single proxy pod, or 2 or more to keep serving while a pod is replaced."],
    ["replicas not an integer", (a) => (a.proxy = { replicas: 1.5 }), "`proxy.replicas` must be an integer of at least 1, got 1.5; use 1 for a single proxy pod, or 2 or more to keep serving while a pod is replaced."],
    [
        "replicas an Output",
        (a) => (a.proxy = { replicas: pulumi.output(2) as unknown as number }),
        "`proxy.replicas` must be a plain number, not an Output: it decides whether a PodDisruptionBudget is created.",
    ],
    ["imagePullPolicy unknown", (a) => (a.proxy = { imagePullPolicy: "Sometimes" }), '`proxy.imagePullPolicy` must be one of IfNotPresent, Always, Never, got "Sometimes".'],
    ["resources with another key", (a) => (a.proxy = { resources: { request: { cpu: "1" } } as never }), '`proxy.resources` may only hold `requests` and `limits`, got "request".'],
    ["resources with a bad quantity", (a) => (a.proxy = { resources: { limits: { memory: "256 MB" } } }), '`proxy.resources.limits.memory` must be a Kubernetes quantity such as "250m" or "256Mi", got "256 MB".'],
    [
        "resources with a name that is not a resource name",
        (a) => (a.proxy = { resources: { limits: { "Bad Name": "1" } } }),
        '`proxy.resources.limits` key "Bad Name" is not a Kubernetes resource name (a qualified name: an optional DNS subdomain prefix and "/", then at most 63 letters, digits, \'-\', \'_\' or \'.\', starting and ending with a letter or digit), such as "cpu", "memory", "ephemeral-storage" or "nvidia.com/gpu".',
    ],
    ["resources with a negative quantity", (a) => (a.proxy = { resources: { requests: { cpu: "-100m" } } }), '`proxy.resources.requests.cpu` must not be negative, got "-100m".'],
    [
        "resources requesting more than the limit",
        (a) => (a.proxy = { resources: { requests: { cpu: "100m", memory: "0.5Gi" }, limits: { memory: "256Mi" } } }),
        '`proxy.resources.requests.memory` "0.5Gi" is more than `proxy.resources.limits.memory` "256Mi", which Kubernetes refuses; lower the request or raise the limit.',
    ],
    [
        "resources requesting more CPU than the limit, in other units",
        (a) => (a.proxy = { resources: { requests: { cpu: "1.5" }, limits: { cpu: "1200m" } } }),
        '`proxy.resources.requests.cpu` "1.5" is more than `proxy.resources.limits.cpu` "1200m", which Kubernetes refuses; lower the request or raise the limit.',
    ],
    [
        "client key name not a label",
        (a) => (a.proxy = { clientKeys: [{ name: "Team A" }] }),
        "`proxy.clientKeys[0].name` must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit) of at most 63 characters, got \"Team A\"; for example `proxy.clientKeys[0].name: \"team-a\"`.",
    ],
    ["two client keys with one name", (a) => (a.proxy = { clientKeys: [{ name: "ci" }, { name: "ci" }] }), '`proxy.clientKeys[1].name` "ci" is used by another client key; give each key its own name.'],
    ["client key rotation negative", (a) => (a.proxy = { clientKeys: [{ name: "ci", rotation: -1 }] }), "`proxy.clientKeys[0].rotation` must be a whole number of at least 0, got -1; increase it by one to rotate the key."],
    [
        "client keys over the 1 MiB a Secret may hold",
        (a) => (a.proxy = { clientKeys: Array.from({ length: 8193 }, (_, i) => ({ name: `k${i}`, length: 128 })) }),
        "`proxy.clientKeys`: 8193 keys of 1048704 characters in all are over the 1048576 bytes (1 MiB) Kubernetes allows in the Secret that holds them, so the API server would refuse it at `pulumi up`; use fewer or shorter keys.",
    ],
    ["client key too short", (a) => (a.proxy = { clientKeys: [{ name: "ci", length: 16 }] }), "`proxy.clientKeys[0].length` must be an integer from 32 to 128, got 16."],
    [
        "client keys with passthrough",
        (a) => Object.assign(a, { apiKey: undefined, passthrough: true, proxy: { clientKeys: [{ name: "ci" }] } }),
        "`proxy.clientKeys` cannot be combined with `passthrough: true`: clients would send both their client key and their provider key in the `Authorization` header; remove `proxy.clientKeys`, or give the provider key with `apiKey` or `apiKeySecretName`.",
    ],
    ["log level unknown", (a) => (a.proxy = { logLevel: "verbose" }), '`proxy.logLevel` must be one of fatal, error, warn, info, debug, trace, got "verbose".'],
    ["restartOnConfigChange not a boolean", (a) => (a.proxy = { restartOnConfigChange: "yes" as never }), '`proxy.restartOnConfigChange` must be a plain boolean, got "yes".'],
    [
        "deploymentPatch not an object",
        (a) => (a.proxy = { deploymentPatch: [] as never }),
        '`proxy.deploymentPatch` must be an object in the shape of a Deployment, for example `{ spec: { template: { spec: { nodeSelector: { pool: "system" } } } } }`, got [].',
    ],
];

const gatewayCases: Case<OpenAICompatibleGatewayArgs>[] = [
    [
        "two providers with the same route prefix",
        (a) => (a.providers.deepseek!.route.pathPrefix = "/mistral"),
        '`providers.deepseek` and `providers.mistral` both route the path prefix "/mistral", but one proxy sends each prefix to one provider; give each provider its own `route.pathPrefix` (for example "/deepseek").',
    ],
    [
        "a prefix that only differs by a trailing slash",
        (a) => (a.providers.mistral!.route.pathPrefix = "/deepseek/"),
        '`providers.deepseek` and `providers.mistral` both route the path prefix "/deepseek", but one proxy sends each prefix to one provider; give each provider its own `route.pathPrefix` (for example "/deepseek").',
    ],
    [
        "a prefix equal to another provider's default",
        (a) => (a.providers.deepseek!.route.pathPrefix = "/mistral/"),
        '`providers.deepseek` and `providers.mistral` both route the path prefix "/mistral", but one proxy sends each prefix to one provider; give each provider its own `route.pathPrefix` (for example "/deepseek").',
    ],
    // One prefix may serve several providers by hostname, as long as no host reaches two of them.
    [
        "one prefix on the same hostname",
        (a) => {
            a.providers.mistral!.route = { gateway: { name: "agentgateway" }, pathPrefix: "/v1", hostnames: ["a.example.com"] };
            a.providers.deepseek!.route = { gateway: { name: "agentgateway" }, pathPrefix: "/v1/", hostnames: ["b.example.com", "a.example.com"] };
        },
        '`providers.deepseek` and `providers.mistral` both route the path prefix "/v1" for the hostname "a.example.com", but one proxy sends each prefix and host to one provider; give each provider its own `route.pathPrefix` (for example "/deepseek"), or `route.hostnames` that do not overlap.',
    ],
    [
        "one prefix on a hostname and a wildcard covering it",
        (a) => {
            a.providers.mistral!.route = { gateway: { name: "agentgateway" }, pathPrefix: "/v1", hostnames: ["a.example.com"] };
            a.providers.deepseek!.route = { gateway: { name: "agentgateway" }, pathPrefix: "/v1", hostnames: ["*.example.com"] };
        },
        '`providers.deepseek` and `providers.mistral` both route the path prefix "/v1" for the hostnames "*.example.com" and "a.example.com", which overlap, but one proxy sends each prefix and host to one provider; give each provider its own `route.pathPrefix` (for example "/deepseek"), or `route.hostnames` that do not overlap.',
    ],
    [
        "one prefix with and without hostnames",
        (a) => {
            a.providers.mistral!.route = { gateway: { name: "agentgateway" }, pathPrefix: "/v1" };
            a.providers.deepseek!.route = { gateway: { name: "agentgateway" }, pathPrefix: "/v1", hostnames: ["b.example.com"] };
        },
        '`providers.deepseek` and `providers.mistral` both route the path prefix "/v1" for every host (`providers.mistral` has no `route.hostnames`), but one proxy sends each prefix and host to one provider; give each provider its own `route.pathPrefix` (for example "/deepseek"), or `route.hostnames` that do not overlap.',
    ],
    [
        "two providers with one kubernetesName",
        (a) => Object.assign(a.providers.deepseek!, { kubernetesName: "mistral", route: { gateway: { name: "agentgateway" }, pathPrefix: "/deepseek" } }),
        '`providers.deepseek` and `providers.mistral` would both name their objects "mistral"; give each provider its own `kubernetesName`.',
    ],
    [
        "a provider with its own data plane",
        (a) => (a.providers.mistral!.dataPlane = "kgateway"),
        '`providers.mistral.dataPlane` is "kgateway", but the providers of a gateway are served by its shared proxy; remove it, or declare this provider as an `OpenAICompatibleProvider` of its own with `dataPlane: "kgateway"`.',
    ],
    [
        "a provider asking for the proxy data plane",
        (a) => (a.providers.mistral!.dataPlane = "proxy"),
        '`providers.mistral.dataPlane` is "proxy", but the providers of a gateway are served by its shared proxy; remove it, or declare this provider as an `OpenAICompatibleProvider` of its own with `dataPlane: "proxy"`.',
    ],
    ["a provider with its own proxy", (a) => (a.providers.mistral!.proxy = { replicas: 2 }), "`providers.mistral.proxy` is set, but the providers of a gateway share its proxy; set `proxy` on the gateway instead."],
    [
        "a provider in another namespace",
        (a) => (a.providers.mistral!.namespace = "other"),
        '`providers.mistral.namespace` is "other", but the gateway\'s proxy runs in "llm" and a pod can only mount Secrets of its own namespace; remove `providers.mistral.namespace` (it defaults to the gateway\'s `namespace`), or use a gateway in "other".',
    ],
    [
        "client keys with a passthrough provider",
        (a) => {
            a.proxy = { clientKeys: [{ name: "ci" }] };
            Object.assign(a.providers.deepseek!, { apiKey: undefined, passthrough: true });
        },
        "`proxy.clientKeys` cannot be combined with `providers.deepseek.passthrough: true`: its clients would send both their client key and their provider key in the `Authorization` header; remove `proxy.clientKeys`, or give `providers.deepseek` a key with `apiKey` or `apiKeySecretName`.",
    ],
    [
        "a provider key that is not a name",
        (a) => (a.providers = { "Mistral AI": a.providers.mistral! }),
        '`providers` key "Mistral AI" names the provider\'s Kubernetes objects, so it must be a DNS-1035 label (lowercase letters, digits and \'-\', starting with a letter and ending with a letter or digit) of at most 56 characters; rename it, for example "mistral-ai", or set `providers.Mistral AI.kubernetesName`.',
    ],
    [
        "a provider key starting with a digit",
        (a) => (a.providers = { "1mistral": a.providers.mistral! }),
        '`providers` key "1mistral" names the provider\'s Kubernetes objects, so it must be a DNS-1035 label (lowercase letters, digits and \'-\', starting with a letter and ending with a letter or digit) of at most 56 characters; rename it, for example "mistral", or set `providers.1mistral.kubernetesName`.',
    ],
    [
        "a kubernetesName starting with a digit",
        (a) => (a.kubernetesName = "1llm"),
        "`kubernetesName` must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit) of at most 63 characters, because the proxy's Service is named after it, got \"1llm\"; for example `kubernetesName: \"llm\"`.",
    ],
    [
        "no providers",
        (a) => (a.providers = {}),
        '`providers` must be a map of at least one provider by key, for example `providers: { mistral: { preset: "mistral", apiKey, route: { gateway: { name: "agentgateway" } } } }`.',
    ],
    ["replicas 0 on the shared proxy", (a) => (a.proxy = { replicas: 0 }), "`proxy.replicas` must be an integer of at least 1, got 0; use 1 for a single proxy pod, or 2 or more to keep serving while a pod is replaced."],
    [
        "an image with no tag on the shared proxy",
        (a) => (a.proxy = { image: "ghcr.io/acme/openai-compatible-proxy" }),
        '`proxy.image` "ghcr.io/acme/openai-compatible-proxy" has no tag or digest, so each rollout could run a different proxy; write the tag into it (`proxy.image: "ghcr.io/acme/openai-compatible-proxy:0.1.0"`) or set `proxy.tag`.',
    ],
    [
        "a bad provider argument, named within the gateway",
        (a) => (a.providers.mistral!.port = 0),
        "`providers.mistral`: `port` must be an integer from 1 to 65535, got 0; use 443 for an HTTPS provider.",
    ],
];

describe("bad data-plane arguments of OpenAICompatibleProvider fail at construction, naming the argument", () => {
    it.each(providerCases)("%s", async (_name, mutate, message) => {
        const args = provider();
        mutate(args);
        const err = await constructionError(() => new OpenAICompatibleProvider("mistral", args));
        expect(err?.message).toBe(message);
        expect(pulumi.ResourceError.isInstance(err)).toBe(true);
    });

    it("the base arguments, and each data plane, are valid", async () => {
        expect(await constructionError(() => new OpenAICompatibleProvider("mistral", provider()))).toBeUndefined();
        expect(await constructionError(() => new OpenAICompatibleProvider("mistral", { ...provider(), dataPlane: "kgateway" }))).toBeUndefined();
        expect(await constructionError(() => new OpenAICompatibleProvider("mistral", { ...provider(), dataPlane: "proxy", proxy: { image: "ghcr.io/acme/p@sha256:" + "d".repeat(64) } }))).toBeUndefined();
        // A request equal to its limit, written in other units (0.7 and 700m: no rounding), is valid.
        const resources = { requests: { cpu: "700m", "ephemeral-storage": "1Gi", memory: "268435456" }, limits: { cpu: "0.7", memory: "256Mi", "hugepages-2Mi": "64Mi", "nvidia.com/gpu": "1" } };
        expect(await constructionError(() => new OpenAICompatibleProvider("mistral", { ...provider(), proxy: { resources } }))).toBeUndefined();
    });
});

describe("bad arguments of OpenAICompatibleGateway fail at construction, naming the argument", () => {
    it.each(gatewayCases)("%s", async (_name, mutate, message) => {
        const args = gateway();
        mutate(args);
        const err = await constructionError(() => new OpenAICompatibleGateway("llm", args));
        expect(err?.message).toBe(message);
        expect(pulumi.ResourceError.isInstance(err)).toBe(true);
    });

    it.each([
        ["LLM Gateway", "llm-gateway"],
        // The shared proxy's Service would be `1llm`, which Kubernetes refuses.
        ["1llm", "llm"],
    ])("the default kubernetesName (the gateway's name %j) must be a DNS-1035 label", async (name, suggested) => {
        const err = await constructionError(() => new OpenAICompatibleGateway(name, gateway()));
        expect(err?.message).toBe(
            `\`kubernetesName\` defaults to the gateway's name ${JSON.stringify(name)}, which is not a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit) of at most 63 characters, as the proxy's Service is named after it; set it, for example \`kubernetesName: ${JSON.stringify(suggested)}\`.`,
        );
        expect(pulumi.ResourceError.isInstance(err)).toBe(true);
        expect(await constructionError(() => new OpenAICompatibleGateway(name, { ...gateway(), kubernetesName: suggested }))).toBeUndefined();
    });

    it("the base arguments are valid", async () => {
        expect(await constructionError(() => new OpenAICompatibleGateway("llm", gateway()))).toBeUndefined();
    });

    it("client keys of 1 MiB in all (the most a Secret holds) are valid, one character more is not; `length` defaults to 48", () => {
        const keys = (n: number, length?: number) => Array.from({ length: n }, (_, i) => ({ name: `k${i}`, ...(length === undefined ? {} : { length }) }));
        expect(() => validateProxyArgs({ clientKeys: keys(8192, 128) })).not.toThrow();
        // 8191 * 128 + 97 + 32 = 1048577.
        expect(() => validateProxyArgs({ clientKeys: [...keys(8191, 128), { name: "a", length: 97 }, { name: "b", length: 32 }] })).toThrow("`proxy.clientKeys`: 8193 keys of 1048577 characters");
        // 21845 * 48 = 1048560; one more key is 1048608.
        expect(() => validateProxyArgs({ clientKeys: keys(21845) })).not.toThrow();
        expect(() => validateProxyArgs({ clientKeys: keys(21846) })).toThrow("`proxy.clientKeys`: 21846 keys of 1048608 characters in all are over the 1048576 bytes (1 MiB)");
    });

    it.each([
        [["a.example.com"], ["b.example.com"]],
        [["*.a.example.com"], ["b.example.com", "*.b.example.com"]],
        // A wildcard matches at least one more label, so not the name it is written on.
        [["*.example.com"], ["example.com"]],
    ])("one prefix on hostnames %j and %j that do not overlap is valid", async (mistral, deepseek) => {
        const args = gateway();
        args.providers.mistral!.route = { gateway: { name: "agentgateway" }, pathPrefix: "/v1", hostnames: mistral };
        args.providers.deepseek!.route = { gateway: { name: "agentgateway" }, pathPrefix: "/v1", hostnames: deepseek };
        expect(await constructionError(() => new OpenAICompatibleGateway("llm", args))).toBeUndefined();
    });

    it.each([
        ["a.example.com", "A.example.com", true],
        ["*.example.com", "a.b.example.com", true],
        ["*.example.com", "*.b.example.com", true],
        ["*.example.com", "example.com", false],
        ["*.a.example.com", "*.b.example.com", false],
        ["a.example.com", "b.example.com", false],
        ["*.example.com", "a.example.org", false],
    ])("hostnamesMeet(%j, %j) is %j, either way round", (a, b, meet) => {
        expect(hostnamesMeet(a, b)).toBe(meet);
        expect(hostnamesMeet(b, a)).toBe(meet);
    });
});
