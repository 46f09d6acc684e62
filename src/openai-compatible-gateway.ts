import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { OpenAICompatibleProviderArgs } from "./args";
import { isProviderArgumentError } from "./errors";
import { OpenAICompatibleGatewayArgs } from "./gateway-args";
import { checkSharedRoutes, validateGatewayArgs } from "./gateway-validation";
import { OpenAICompatibleProvider } from "./openai-compatible-provider";
import { createProxyResources } from "./proxy-data-plane";
import { attachToSharedProxy } from "./shared-proxy";

type Labels = OpenAICompatibleGatewayArgs["labels"];

/** Each provider's own labels (or annotations) over the gateway's. */
function underOwn(gateway: Labels, own: Labels): Labels {
    if (gateway === undefined) return own;
    if (own === undefined) return gateway;
    return pulumi.all([gateway, own]).apply(([g, o]) => ({ ...g, ...o }));
}

/**
 * One `openai-compatible-proxy` Deployment shared by several OpenAI-compatible providers: each
 * provider is a child {@link OpenAICompatibleProvider} whose HTTPRoute sends its path prefix to
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

    /** The providers, by key. */
    readonly providers: { [key: string]: OpenAICompatibleProvider };
    /** The ConfigMap holding the shared proxy's config. */
    readonly proxyConfigMap: k8s.core.v1.ConfigMap;
    /** The shared proxy's Deployment. */
    readonly deployment: k8s.apps.v1.Deployment;
    /** The shared proxy's Service, the backend of every provider's HTTPRoute. */
    readonly service: k8s.core.v1.Service;
    /** With more than one replica. */
    readonly podDisruptionBudget?: k8s.policy.v1.PodDisruptionBudget;
    /** The Secret of client keys, with `proxy.clientKeys`. */
    readonly clientKeysSecret?: k8s.core.v1.Secret;
    /** The `RandomPassword` of each client key, by name. */
    readonly clientKeyPasswords: { [name: string]: random.RandomPassword };

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
        const namespace = pulumi.output(args.namespace ?? "default");
        const clientKeys = (args.proxy?.clientKeys?.length ?? 0) > 0;

        this.providers = {};
        for (const [key, p] of Object.entries(args.providers)) {
            const providerArgs: OpenAICompatibleProviderArgs = {
                ...p,
                kubernetesName: p.kubernetesName ?? key,
                namespace: p.namespace ?? args.namespace,
                labels: underOwn(args.labels, p.labels),
                annotations: underOwn(args.annotations, p.annotations),
            };
            attachToSharedProxy(providerArgs, { serviceName: baseName, argument: `providers.${key}`, clientKeys });
            this.providers[key] = new OpenAICompatibleProvider(`${name}-${key}`, providerArgs, { parent: this });
        }
        const entries = Object.entries(this.providers);

        // Values known only now (an Output prefix, say) are checked before the config is rendered.
        const providerObjects = pulumi
            .all([namespace, pulumi.all(entries.map(([key, p]) => pulumi.all([key, p.routePath, p.namespace, p.backendName, p.objects])))])
            .apply(([ns, resolved]) => {
                try {
                    checkSharedRoutes(
                        resolved.map(([key, pathPrefix, providerNamespace, kubernetesName]) => ({ key, pathPrefix, namespace: providerNamespace, kubernetesName })),
                        ns,
                    );
                } catch (err) {
                    throw asResourceError(err);
                }
                return resolved.map(([, , , , objects]) => objects);
            });

        const proxy = createProxyResources(this, name, {
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
        this.proxyConfigMap = proxy.configMap;
        this.deployment = proxy.deployment;
        this.service = proxy.service;
        this.podDisruptionBudget = proxy.podDisruptionBudget;
        this.clientKeysSecret = proxy.clientKeysSecret;
        this.clientKeyPasswords = proxy.clientKeyPasswords;

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
