import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { OpenAICompatibleProviderArgs } from "./args";
import { isProviderArgumentError } from "./errors";
import { OpenAICompatibleGatewayArgs } from "./gateway-args";
import { checkSharedRoutes, validateGatewayArgs } from "./gateway-validation";
import { OpenAICompatibleProvider } from "./openai-compatible-provider";
import { createProxyResources, ProxyResources } from "./proxy-data-plane";
import { secretArgumentPaths } from "./secret-arguments";
import { isDeferred } from "./deferred";
import { attachToSharedProxy } from "./shared-proxy";

type Labels = OpenAICompatibleGatewayArgs["labels"];

/** Each provider's own labels (or annotations) over the gateway's. */
function underOwn(gateway: Labels, own: Labels): Labels {
    if (gateway === undefined) return own;
    if (own === undefined) return gateway;
    return pulumi.all([gateway, own]).apply(([g, o]) => ({ ...g, ...o }));
}

interface GatewayChildren {
    providers: { [key: string]: OpenAICompatibleProvider };
    proxy: ProxyResources;
}

const children = new WeakMap<OpenAICompatibleGateway, GatewayChildren>();

function childrenOf(gateway: OpenAICompatibleGateway): GatewayChildren {
    const found = children.get(gateway);
    // Set in the constructor, before anything can read it.
    if (!found) throw new Error("internal: OpenAICompatibleGateway children read before construction finished");
    return found;
}

/**
 * One `openai-compatible-proxy` Deployment shared by several OpenAI-compatible providers: each
 * provider is a child `OpenAICompatibleProvider` whose HTTPRoute sends its path prefix to
 * the shared proxy's Service, and the proxy's one ConfigMap holds the config the proxy package
 * translates from all their objects. Optional client keys (`proxy.clientKeys`) guard every
 * provider behind it.
 *
 * Bad arguments raise a `pulumi.ResourceError` naming the argument (`providers.deepseek.route.pathPrefix`)
 * at construction for values already known, and when Outputs resolve for the rest, so `pulumi
 * preview` fails before anything is created.
 *
 * @example
 * const llm = new OpenAICompatibleGateway("llm", {
 *     namespace: "llm",
 *     proxy: { replicas: 2, clientKeys: [{ name: "team-a" }, { name: "team-b" }] },
 *     providers: {
 *         mistral: { preset: "mistral", apiKey: config.requireSecret("mistralApiKey"), route },
 *         deepseek: { preset: "deepseek", apiKey: config.requireSecret("deepseekApiKey"), route },
 *     },
 * });
 * export const clientKeys = llm.clientKeys;
 */
export class OpenAICompatibleGateway extends pulumi.ComponentResource {
    /** The Pulumi type token, also the schema name for SDKs generated from `PulumiPlugin.yaml`. */
    static readonly type = "openai-compatible:index:OpenAICompatibleGateway";

    // Child resources are getters, not properties, for the reason given on OpenAICompatibleProvider:
    // the component analyzer behind `pulumi package add` reads every property as an output.
    /** The providers, by key. */
    get providers(): { [key: string]: OpenAICompatibleProvider } {
        return childrenOf(this).providers;
    }
    /** The ConfigMap holding the shared proxy's config. */
    get proxyConfigMap(): k8s.core.v1.ConfigMap {
        return childrenOf(this).proxy.configMap;
    }
    /** The shared proxy's Deployment. */
    get deployment(): k8s.apps.v1.Deployment {
        return childrenOf(this).proxy.deployment;
    }
    /** The shared proxy's Service, the backend of every provider's HTTPRoute. */
    get service(): k8s.core.v1.Service {
        return childrenOf(this).proxy.service;
    }
    /** With more than one replica. */
    get podDisruptionBudget(): k8s.policy.v1.PodDisruptionBudget | undefined {
        return childrenOf(this).proxy.podDisruptionBudget;
    }
    /** The Secret of client keys, with `proxy.clientKeys`. */
    get clientKeysSecret(): k8s.core.v1.Secret | undefined {
        return childrenOf(this).proxy.clientKeysSecret;
    }
    /** The `RandomPassword` of each client key, by name. */
    get clientKeyPasswords(): { [name: string]: random.RandomPassword } {
        return childrenOf(this).proxy.clientKeyPasswords;
    }

    /** The namespace of the proxy and of every provider. */
    readonly namespace: pulumi.Output<string>;
    /** The proxy's Service name. */
    readonly serviceName: pulumi.Output<string>;
    /** The proxy inside the cluster: `http://<service>.<namespace>.svc.cluster.local:8080`. */
    readonly serviceUrl: pulumi.Output<string>;
    /** What clients use as the OpenAI base URL, by provider key (each provider's `url`). */
    readonly urls: pulumi.Output<{ [key: string]: string }>;
    /** The proxy's config exactly as its ConfigMap holds it (`config.json`). */
    readonly proxyConfig: pulumi.Output<string>;
    /** The client keys by name (secret); empty without `proxy.clientKeys`. */
    readonly clientKeys: pulumi.Output<{ [name: string]: string }>;

    constructor(name: string, args: OpenAICompatibleGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super(OpenAICompatibleGateway.type, name, {}, opts);

        const asResourceError = (err: unknown): unknown => (isProviderArgumentError(err) ? new pulumi.ResourceError(err.message, this) : err);
        try {
            validateGatewayArgs(name, args);
        } catch (err) {
            throw asResourceError(err);
        }

        const baseName = args.kubernetesName ?? name;
        // Defaulted once resolved, as each provider defaults its own: an Output resolving to no value
        // (an optional StackReference output, say) must not leave the proxy's objects without one.
        const namespace = pulumi.output(args.namespace as pulumi.Input<string | undefined>).apply((ns) => ns ?? "default");
        const clientKeys = (args.proxy?.clientKeys?.length ?? 0) > 0;

        // The providers' HTTPRoutes wait for the proxy's Service and Deployment, which are created after
        // them. It is settled whatever happens: a route left waiting would keep the program from ever ending.
        let proxyCreated: (resources: (k8s.core.v1.Service | k8s.apps.v1.Deployment)[]) => void = () => {};
        const proxyResources = new Promise<(k8s.core.v1.Service | k8s.apps.v1.Deployment)[]>((resolve) => (proxyCreated = resolve));
        const providers: { [key: string]: OpenAICompatibleProvider } = {};
        let entries: [string, OpenAICompatibleProvider][];
        let proxy: ProxyResources | undefined;
        try {
            for (const [key, p] of Object.entries(args.providers)) {
                const providerArgs: OpenAICompatibleProviderArgs = {
                    ...p,
                    kubernetesName: p.kubernetesName ?? key,
                    // An Output resolving to no value falls back to the gateway's too, once resolved.
                    namespace: isDeferred(p.namespace) ? pulumi.all([p.namespace, namespace]).apply(([own, gateway]) => own ?? gateway) : (p.namespace ?? args.namespace),
                    labels: underOwn(args.labels, p.labels),
                    annotations: underOwn(args.annotations, p.annotations),
                };
                attachToSharedProxy(providerArgs, { serviceName: baseName, argument: `providers.${key}`, clientKeys, proxy: proxyResources });
                providers[key] = new OpenAICompatibleProvider(`${name}-${key}`, providerArgs, { parent: this });
            }
            entries = Object.entries(providers);

            // Values known only now (an Output prefix, say) are checked before the config is rendered.
            // Values given as Pulumi secrets are checked without showing them.
            const secretArguments = pulumi.output(secretArgumentPaths(args));
            const providerObjects = pulumi
                .all([namespace, pulumi.all(entries.map(([key, p]) => pulumi.all([key, p.routePath, p.namespace, p.backendName, p.objects]))), secretArguments])
                .apply(([ns, resolved, secrets]) => {
                    try {
                        checkSharedRoutes(
                            resolved.map(([key, pathPrefix, providerNamespace, kubernetesName, objects]) => ({
                                key,
                                pathPrefix,
                                hostnames: objects.httpRoute.spec.hostnames,
                                namespace: providerNamespace,
                                kubernetesName,
                            })),
                            ns,
                            secrets,
                        );
                    } catch (err) {
                        throw asResourceError(err);
                    }
                    return resolved.map(([, , , , objects]) => objects);
                });

            proxy = createProxyResources(this, name, {
                baseName,
                namespace,
                proxy: args.proxy,
                labels: args.labels,
                annotations: args.annotations,
                providers: providerObjects,
                mounted: entries.flatMap(([, p]) => [p.secret, p.caConfigMap].filter((r): r is NonNullable<typeof r> => r !== undefined)),
                configArgument: "providers",
                proxyArgument: "proxy",
            });
        } finally {
            proxyCreated(proxy ? [proxy.service, proxy.deployment] : []);
        }
        children.set(this, { providers, proxy });

        this.namespace = namespace;
        this.serviceName = pulumi.output(baseName);
        this.serviceUrl = proxy.serviceUrl;
        this.urls = pulumi.all(Object.fromEntries(entries.map(([key, p]) => [key, p.url])));
        this.proxyConfig = proxy.objects.configMap.data["config.json"];
        this.clientKeys = proxy.clientKeys;

        this.registerOutputs({
            namespace: this.namespace,
            serviceName: this.serviceName,
            serviceUrl: this.serviceUrl,
            urls: this.urls,
            proxyConfig: this.proxyConfig,
            clientKeys: this.clientKeys,
        });
    }
}
