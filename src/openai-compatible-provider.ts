import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { OpenAICompatibleProviderArgs } from "./args";
import { isProviderArgumentError, ProviderArgumentError } from "./errors";
import {
    API_KEY_SECRET_KEY,
    BACKEND_API_VERSION,
    BACKENDTLSPOLICY_API_VERSION,
    HTTPROUTE_API_VERSION,
    ProviderObjects,
} from "./kubernetes-objects";
import { renderObjects } from "./render";
import { createProxyResources, ProxyResources } from "./proxy-data-plane";
import { DataPlane } from "./proxy-settings";
import { routeToProxy } from "./render-proxy";
import { secretArgumentPaths } from "./secret-arguments";
import { peek, ProviderSettings, resolveSettings, validateArgs } from "./settings";
import { sharedProxyOf } from "./shared-proxy";
import { checkApiKey } from "./validation";

/** The child resources of a provider (see the getters on {@link OpenAICompatibleProvider}). */
interface ProviderChildren {
    objects: pulumi.Output<ProviderObjects>;
    secret?: k8s.core.v1.Secret;
    caConfigMap?: k8s.core.v1.ConfigMap;
    backend: k8s.apiextensions.CustomResource;
    httpRoute: k8s.apiextensions.CustomResource;
    backendTLSPolicy?: k8s.apiextensions.CustomResource;
    proxy?: ProxyResources;
}

const children = new WeakMap<OpenAICompatibleProvider, ProviderChildren>();

function childrenOf(provider: OpenAICompatibleProvider): ProviderChildren {
    const found = children.get(provider);
    // Set at the end of the constructor, before anything can read it.
    if (!found) throw new Error("internal: OpenAICompatibleProvider children read before construction finished");
    return found;
}

/**
 * Puts one OpenAI-compatible LLM provider behind a Kubernetes Gateway: the API-key Secret, the
 * kgateway `Backend` (`type: AI`), the `HTTPRoute` and the `BackendTLSPolicy` of the kgateway docs
 * page "OpenAI-compatible providers", correct by construction for kgateway v2.1.x and Gateway API
 * v1.4.0, and the data plane that serves them.
 *
 * By default (`dataPlane: "proxy"`) it also deploys `openai-compatible-proxy`: a ConfigMap with the
 * proxy's config, translated by the proxy package from these very objects, a Deployment mounting
 * the key's Secret, a Service (the HTTPRoute's backend) and, with more than one replica, a
 * PodDisruptionBudget. With `dataPlane: "kgateway"` the four objects alone are served by
 * kgateway's data plane behind the existing Gateway. Several providers can share one proxy through
 * `OpenAICompatibleGateway`.
 *
 * Bad arguments raise a `pulumi.ResourceError` naming the argument and the fix: at construction
 * for every value already known, and when an Output resolves for the rest, so `pulumi preview`
 * fails before anything is created.
 *
 * @example
 * const mistral = new OpenAICompatibleProvider("mistral", {
 *     preset: "mistral",
 *     apiKey: config.requireSecret("mistralApiKey"),
 *     model: "mistral-medium-2505",
 *     namespace: "kgateway-system",
 *     route: { gateway: { name: "agentgateway" } },
 * });
 * export const url = mistral.url;
 */
export class OpenAICompatibleProvider extends pulumi.ComponentResource {
    /** The Pulumi type token, also the schema name for SDKs generated from `PulumiPlugin.yaml`. */
    static readonly type = "openai-compatible:index:OpenAICompatibleProvider";

    // The child resources are exposed through getters, not properties: Pulumi's component analyzer
    // (which derives the multi-language schema behind `pulumi package add` from this class) reads
    // every property as an output, and cannot express a `CustomResource` handle as one. Getters are
    // for TypeScript users only; other languages get the children's names as outputs.
    /** The Secret holding the key, when `apiKey` is given. */
    get secret(): k8s.core.v1.Secret | undefined {
        return childrenOf(this).secret;
    }
    /** The ConfigMap holding the CA bundle, when `tls.caCertificate` is given. */
    get caConfigMap(): k8s.core.v1.ConfigMap | undefined {
        return childrenOf(this).caConfigMap;
    }
    /** The kgateway Backend. */
    get backend(): k8s.apiextensions.CustomResource {
        return childrenOf(this).backend;
    }
    /** The HTTPRoute. */
    get httpRoute(): k8s.apiextensions.CustomResource {
        return childrenOf(this).httpRoute;
    }
    /** The BackendTLSPolicy, unless `tls.insecurePlaintext`. */
    get backendTLSPolicy(): k8s.apiextensions.CustomResource | undefined {
        return childrenOf(this).backendTLSPolicy;
    }
    /** The ConfigMap holding the proxy's config, with a proxy of its own. */
    get proxyConfigMap(): k8s.core.v1.ConfigMap | undefined {
        return childrenOf(this).proxy?.configMap;
    }
    /** The proxy's Deployment, with a proxy of its own. */
    get deployment(): k8s.apps.v1.Deployment | undefined {
        return childrenOf(this).proxy?.deployment;
    }
    /** The proxy's Service, with a proxy of its own. */
    get service(): k8s.core.v1.Service | undefined {
        return childrenOf(this).proxy?.service;
    }
    /** The proxy's PodDisruptionBudget, with a proxy of its own and more than one replica. */
    get podDisruptionBudget(): k8s.policy.v1.PodDisruptionBudget | undefined {
        return childrenOf(this).proxy?.podDisruptionBudget;
    }
    /** The Secret of client keys, with `proxy.clientKeys`. */
    get clientKeysSecret(): k8s.core.v1.Secret | undefined {
        return childrenOf(this).proxy?.clientKeysSecret;
    }

    /**
     * The rendered objects, without the key (the Secret has no `stringData`). A getter, like the
     * children above: their literal-typed fields have no schema type, so it is for TypeScript only.
     */
    get objects(): pulumi.Output<ProviderObjects> {
        return childrenOf(this).objects;
    }
    /** The namespace of every child. */
    readonly namespace: pulumi.Output<string>;
    /** The Secret's name (ours or the referenced one); undefined with `passthrough`. */
    readonly secretName: pulumi.Output<string | undefined>;
    /** The CA ConfigMap's name, when there is one. */
    readonly caConfigMapName: pulumi.Output<string | undefined>;
    /** The Backend's name. */
    readonly backendName: pulumi.Output<string>;
    /** The HTTPRoute's name. */
    readonly httpRouteName: pulumi.Output<string>;
    /** The BackendTLSPolicy's name, unless `tls.insecurePlaintext`. */
    readonly backendTLSPolicyName: pulumi.Output<string | undefined>;
    /** The path prefix clients call, e.g. `/mistral`. */
    readonly routePath: pulumi.Output<string>;
    /**
     * What clients use as the OpenAI base URL: `route.baseUrl` followed by the path prefix
     * (`http://localhost:8080/mistral`), or the path prefix alone without `route.baseUrl`. Any path
     * under it reaches the provider's chat-completions endpoint.
     */
    readonly url: pulumi.Output<string>;
    /** The upstream the gateway calls, e.g. `https://api.mistral.ai:443/v1/chat/completions`. */
    readonly upstreamUrl: pulumi.Output<string>;
    /** The model forced on every request, if any; otherwise clients choose it. */
    readonly model: pulumi.Output<string | undefined>;
    /**
     * What clients must send: `none` (the gateway adds the provider key), `client-key` (one of the
     * proxy's `clientKeys`, as `Authorization: Bearer <key>`) or `provider-key` (with `passthrough`,
     * each client sends `Authorization: Bearer <its own provider key>`).
     */
    readonly clientCredential: pulumi.Output<string>;
    /** What serves the provider: `proxy` or `kgateway`. */
    readonly dataPlane: pulumi.Output<string>;
    /** The proxy Service the HTTPRoute sends requests to (ours or a gateway's); undefined with `kgateway`. */
    readonly proxyServiceName: pulumi.Output<string | undefined>;
    /**
     * The proxy's config exactly as its ConfigMap holds it (`config.json`), with a proxy of its own;
     * undefined otherwise (a gateway's proxy config is the gateway's `proxyConfig`).
     */
    readonly proxyConfig: pulumi.Output<string | undefined>;
    /** The client keys by name (secret), with `proxy.clientKeys`; otherwise empty. */
    readonly clientKeys: pulumi.Output<Record<string, string>>;

    constructor(name: string, args: OpenAICompatibleProviderArgs, opts?: pulumi.ComponentResourceOptions) {
        super(OpenAICompatibleProvider.type, name, {}, opts);

        // Set when an OpenAICompatibleGateway created this provider: its messages then say which one.
        const shared = sharedProxyOf(args);
        const asResourceError = (err: unknown): unknown =>
            isProviderArgumentError(err) ? new pulumi.ResourceError(shared ? `\`${shared.argument}\`: ${err.message}` : err.message, this) : err;

        // Everything already known is checked now, before any child is registered.
        try {
            validateArgs(name, peek(args));
        } catch (err) {
            throw asResourceError(err);
        }

        // The key is left out of what is resolved, so that only the Secret's stringData is secret
        // in state: every other object stays readable in `pulumi preview` diffs.
        // The arguments given as Pulumi secrets are checked like the others, but their values are
        // left out of the messages.
        const { apiKey, ...rest } = args;
        const resolvable = { ...rest, apiKey: apiKey === undefined ? undefined : "(set)" };
        const secretArguments = pulumi.output(secretArgumentPaths(rest));
        // Whether the CA ConfigMap exists is decided now, from the presence of `tls.caCertificate`.
        const hasCaConfigMap = args.tls?.caCertificate !== undefined && args.tls.insecurePlaintext !== true;
        const settings: pulumi.Output<ProviderSettings> = pulumi.all([pulumi.output(resolvable), secretArguments]).apply(([resolved, secrets]) => {
            try {
                if (hasCaConfigMap && resolved.tls?.caCertificate === undefined) {
                    throw new ProviderArgumentError(
                        "tls.caCertificate",
                        "`tls.caCertificate` is an Output that resolved to no value, but whether the CA ConfigMap exists is decided when the component is constructed; give it the PEM bundle, or leave `tls.caCertificate` unset (a plain `undefined`) to verify the provider against the system CAs.",
                    );
                }
                return resolveSettings(name, resolved, secrets);
            } catch (err) {
                throw asResourceError(err);
            }
        });
        const objects = settings.apply((s) => renderObjects(s));

        const childOpts: pulumi.CustomResourceOptions = { parent: this };
        const kubernetesName = args.kubernetesName ?? name;

        let secret: k8s.core.v1.Secret | undefined;
        if (apiKey !== undefined) {
            // An Output key is checked once it resolves; the message never holds it.
            const key = pulumi.secret(apiKey).apply((k) => {
                try {
                    checkApiKey(k);
                } catch (err) {
                    throw asResourceError(err);
                }
                return k;
            });
            secret = new k8s.core.v1.Secret(
                `${name}-secret`,
                {
                    metadata: objects.apply((o) => o.secret?.metadata ?? { name: `${kubernetesName}-secret` }),
                    type: "Opaque",
                    stringData: { [API_KEY_SECRET_KEY]: key },
                },
                // The provider marks these secret too; saying so here keeps it true whatever the
                // provider version.
                { ...childOpts, additionalSecretOutputs: ["data", "stringData"] },
            );
        }

        let caConfigMap: k8s.core.v1.ConfigMap | undefined;
        if (hasCaConfigMap) {
            caConfigMap = new k8s.core.v1.ConfigMap(
                `${name}-ca`,
                {
                    metadata: objects.apply((o) => o.caConfigMap?.metadata ?? { name: `${kubernetesName}-ca` }),
                    data: objects.apply((o) => o.caConfigMap?.data ?? {}),
                },
                childOpts,
            );
        }

        const backend = new k8s.apiextensions.CustomResource(
            `${name}-backend`,
            {
                apiVersion: BACKEND_API_VERSION,
                kind: "Backend",
                metadata: objects.backend.metadata,
                spec: objects.backend.spec,
            },
            { ...childOpts, dependsOn: secret ? [secret] : [] },
        );

        // The data plane. validateArgs accepted `dataPlane`, so it is one of DATA_PLANES.
        const dataPlane: DataPlane = (args.dataPlane as DataPlane | undefined) ?? "proxy";
        let proxy: ProxyResources | undefined;
        let proxyServiceName: string | undefined;
        if (dataPlane === "proxy" && shared) {
            proxyServiceName = shared.serviceName;
        } else if (dataPlane === "proxy") {
            proxyServiceName = `${kubernetesName}-proxy`;
            proxy = createProxyResources(this, name, {
                baseName: proxyServiceName,
                namespace: settings.namespace,
                proxy: args.proxy,
                labels: args.labels,
                annotations: args.annotations,
                providers: objects.apply((o) => [o]),
                mounted: [secret, caConfigMap].filter((r): r is NonNullable<typeof r> => r !== undefined),
                configArgument: "dataPlane",
                proxyArgument: "proxy",
            });
        }

        // With the proxy, the Gateway sends the prefix to the proxy's Service, and the proxy serves
        // the HTTPRoute as rendered (backendRef: the Backend), from its config. The route waits for that
        // Service and for the proxy's Deployment to be ready (a gateway's, created after its providers,
        // once the gateway has created them): switching a live route to the proxy, or adding a provider
        // to a gateway, would otherwise send requests to pods not ready, or not yet mounting its key.
        const serviceName = proxyServiceName;
        let routeDependsOn: pulumi.Input<pulumi.Resource[]> = proxy ? [backend, proxy.service, proxy.deployment] : [backend];
        if (dataPlane === "proxy" && shared) routeDependsOn = shared.proxy.then((resources) => [backend, ...resources]);
        const httpRoute = new k8s.apiextensions.CustomResource(
            `${name}-route`,
            {
                apiVersion: HTTPROUTE_API_VERSION,
                kind: "HTTPRoute",
                metadata: objects.httpRoute.metadata,
                spec:
                    serviceName === undefined
                        ? objects.httpRoute.spec
                        : objects.apply((o) => routeToProxy(o.httpRoute, { name: serviceName, namespace: o.httpRoute.metadata.namespace }).spec),
            },
            { ...childOpts, dependsOn: routeDependsOn },
        );

        let backendTLSPolicy: k8s.apiextensions.CustomResource | undefined;
        if (args.tls?.insecurePlaintext !== true) {
            const tlsPolicy = objects.apply((o) => {
                // resolveSettings renders a policy whenever plaintext is off.
                if (!o.backendTLSPolicy) throw new Error("internal: no BackendTLSPolicy rendered with TLS on");
                return o.backendTLSPolicy;
            });
            backendTLSPolicy = new k8s.apiextensions.CustomResource(
                `${name}-tls`,
                {
                    apiVersion: BACKENDTLSPOLICY_API_VERSION,
                    kind: "BackendTLSPolicy",
                    metadata: tlsPolicy.metadata,
                    spec: tlsPolicy.spec,
                },
                { ...childOpts, dependsOn: caConfigMap ? [backend, caConfigMap] : [backend] },
            );
        }

        children.set(this, { objects, secret, caConfigMap, backend, httpRoute, backendTLSPolicy, proxy });

        this.namespace = settings.namespace;
        this.secretName = settings.apply((s) => s.secretName);
        this.caConfigMapName = objects.apply((o) => o.caConfigMap?.metadata.name);
        this.backendName = objects.backend.metadata.name;
        this.httpRouteName = objects.httpRoute.metadata.name;
        this.backendTLSPolicyName = objects.apply((o) => o.backendTLSPolicy?.metadata.name);
        this.routePath = settings.pathPrefix;
        this.url = settings.apply((s) => `${s.baseUrl ?? ""}${s.pathPrefix}`);
        this.upstreamUrl = settings.apply((s) => `${s.tls === "plaintext" ? "http" : "https"}://${s.host}:${s.port}${s.path}`);
        this.model = settings.apply((s) => s.model);
        const hasClientKeys = dataPlane === "proxy" && (shared ? shared.clientKeys : (args.proxy?.clientKeys?.length ?? 0) > 0);
        this.clientCredential = settings.apply((s) => (s.credential === "passthrough" ? "provider-key" : hasClientKeys ? "client-key" : "none"));
        this.dataPlane = pulumi.output(dataPlane);
        this.proxyServiceName = pulumi.output(proxyServiceName);
        // Typed explicitly: without strictNullChecks (how Pulumi compiles a program that has no
        // tsconfig.json) an untyped `pulumi.output(undefined)` is an `Output<any>`, which is not
        // assignable to this output's type.
        this.proxyConfig = proxy ? proxy.objects.configMap.data["config.json"] : pulumi.output<string | undefined>(undefined);
        this.clientKeys = proxy ? proxy.clientKeys : pulumi.secret<Record<string, string>>({});

        this.registerOutputs({
            namespace: this.namespace,
            secretName: this.secretName,
            caConfigMapName: this.caConfigMapName,
            backendName: this.backendName,
            httpRouteName: this.httpRouteName,
            backendTLSPolicyName: this.backendTLSPolicyName,
            routePath: this.routePath,
            url: this.url,
            upstreamUrl: this.upstreamUrl,
            model: this.model,
            clientCredential: this.clientCredential,
            dataPlane: this.dataPlane,
            proxyServiceName: this.proxyServiceName,
            proxyConfig: this.proxyConfig,
            clientKeys: this.clientKeys,
        });
    }
}
