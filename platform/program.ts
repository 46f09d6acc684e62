import * as pulumi from "@pulumi/pulumi";
import { OpenAICompatibleGateway, OpenAICompatibleProvider, OpenAICompatibleProviderArgs, ProxyArgs } from "../src";

/**
 * One provider as the platform team writes it in stack config, under `providers.<name>`:
 *
 *     pulumi config set --path 'providers.mistral.preset' mistral
 *     pulumi config set --path 'providers.mistral.model' mistral-medium-2505
 *     pulumi config set --path --secret 'apiKeys.mistral' "$MISTRAL_API_KEY"
 *
 * Keys live apart from this object, under `apiKeys.<name>` as secrets, so that the rest of the
 * provider stays readable in config and in `pulumi preview` diffs. A provider with neither
 * `apiKeySecretName` nor `passthrough` takes its key from `apiKeys.<name>`.
 */
export interface PlatformProviderConfig {
    preset?: string;
    host?: string;
    /** A number, or a string of digits (`pulumi config set --path` may store either). */
    port?: number | string;
    path?: string;
    model?: string;
    apiKeySecretName?: string;
    passthrough?: boolean | string;
    authHeader?: { headerName?: string; prefix?: string };
    /** Defaults to `/<name>`. */
    pathPrefix?: string;
    hostnames?: string[];
    timeouts?: { request?: string; backendRequest?: string };
    caCertificate?: string;
    insecurePlaintext?: boolean | string;
    labels?: Record<string, string>;
}

/**
 * The key of provider `name` from the secret config object `apiKeys`, failing with the command that
 * sets it when it is missing.
 */
export function providerKey(apiKeys: pulumi.Output<Record<string, string> | undefined>, name: string): pulumi.Output<string> {
    return apiKeys.apply((keys) => requireProviderKey(keys, name));
}

/** `keys[name]`, or an error naming the config key and the command that sets it. */
export function requireProviderKey(keys: Record<string, string> | undefined, name: string): string {
    const key = keys?.[name];
    if (key === undefined || key === "") {
        throw new Error(`stack config \`apiKeys.${name}\` is not set; run: pulumi config set --path --secret 'apiKeys.${name}' <key>`);
    }
    return key;
}

function flag(value: boolean | string | undefined): boolean | undefined {
    return value === undefined ? undefined : value === true || value === "true";
}

/**
 * The shared proxy as written in stack config, under `proxy` (with the default `dataPlane: proxy`):
 *
 *     pulumi config set --path 'proxy.replicas' 2
 *     pulumi config set --path 'proxy.clientKeys[0].name' team-a
 *     pulumi config set --path 'proxy.clientKeys[0].rotation' 1     # rotates team-a's key
 *
 * Any other `ProxyArgs` field (`image`, `tag`, `resources`, `logLevel`, `deploymentPatch`, ...) is
 * passed through as written.
 */
export type PlatformProxyConfig = Omit<ProxyArgs, "replicas" | "clientKeys" | "restartOnConfigChange"> & {
    /** A number, or a string of digits. */
    replicas?: number | string;
    clientKeys?: { name: string; rotation?: number | string; length?: number | string }[];
    restartOnConfigChange?: boolean | string;
};

function num(value: number | string | undefined): number | undefined {
    return value === undefined ? undefined : Number(value);
}

/** `ProxyArgs` from stack config, numbers and booleans as `pulumi config set --path` may store them. */
export function proxyArgs(p: PlatformProxyConfig | undefined): ProxyArgs | undefined {
    if (p === undefined) return undefined;
    const { replicas, clientKeys, restartOnConfigChange, ...rest } = p;
    const args: ProxyArgs = { ...rest };
    if (replicas !== undefined) args.replicas = num(replicas);
    if (restartOnConfigChange !== undefined) args.restartOnConfigChange = flag(restartOnConfigChange);
    if (clientKeys !== undefined) {
        args.clientKeys = clientKeys.map((k) => ({ name: k.name, rotation: num(k.rotation), length: num(k.length) }));
    }
    return args;
}

/** What the platform stack declares. */
export interface PlatformStack {
    /** The components, by provider name. */
    providers: Record<string, OpenAICompatibleProvider>;
    /** The shared proxy serving them all, with `dataPlane: proxy` (the default). */
    gateway?: OpenAICompatibleGateway;
}

/**
 * The platform team's stack: every provider in config `providers`, attached to the Gateway in
 * config `gateway` (default `agentgateway`) in namespace `namespace` (default `kgateway-system`).
 *
 * With config `dataPlane` unset or `proxy`, one `OpenAICompatibleGateway` named
 * `openai-compatible-proxy` serves them all with one shared proxy (config `proxy`); with
 * `dataPlane: kgateway`, each provider is a component of its own, served by kgateway's data plane.
 */
export function platformStack(config: pulumi.Config = new pulumi.Config()): PlatformStack {
    const namespace = config.get("namespace") ?? "kgateway-system";
    const gateway = config.getObject<{ name: string; namespace?: string; sectionName?: string }>("gateway") ?? { name: "agentgateway" };
    const gatewayUrl = config.get("gatewayUrl");
    const dataPlane = config.get("dataPlane") ?? "proxy";
    const providers = config.requireObject<Record<string, PlatformProviderConfig>>("providers");
    // Read as a secret so every key stays encrypted in state; absent when no provider needs one.
    const apiKeys = config.getSecretObject<Record<string, string>>("apiKeys");

    const argsByName: Record<string, OpenAICompatibleProviderArgs> = {};
    for (const [name, p] of Object.entries(providers)) {
        const passthrough = flag(p.passthrough);
        const ownKey = p.apiKeySecretName === undefined && passthrough !== true;
        argsByName[name] = {
            preset: p.preset,
            host: p.host,
            port: typeof p.port === "string" ? Number(p.port) : p.port,
            path: p.path,
            model: p.model,
            authHeader: p.authHeader,
            apiKeySecretName: p.apiKeySecretName,
            passthrough,
            apiKey: ownKey ? providerKey(pulumi.output(apiKeys), name) : undefined,
            namespace,
            route: { gateway, pathPrefix: p.pathPrefix, hostnames: p.hostnames, timeouts: p.timeouts, baseUrl: gatewayUrl },
            tls: { caCertificate: p.caCertificate, insecurePlaintext: flag(p.insecurePlaintext) },
            labels: p.labels,
        };
    }

    if (dataPlane === "proxy") {
        const shared = new OpenAICompatibleGateway("openai-compatible-proxy", {
            namespace,
            providers: argsByName,
            proxy: proxyArgs(config.getObject<PlatformProxyConfig>("proxy")),
        });
        return { providers: shared.providers, gateway: shared };
    }
    const components: Record<string, OpenAICompatibleProvider> = {};
    for (const [name, args] of Object.entries(argsByName)) {
        // An unknown `dataPlane` is reported by the component, naming the argument.
        components[name] = new OpenAICompatibleProvider(name, { ...args, dataPlane });
    }
    return { providers: components };
}
