import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { ProxyConfig } from "openai-compatible-proxy/translate";
import { isProviderArgumentError } from "./errors";
import { ProviderObjects } from "./kubernetes-objects";
import { ProxyArgs } from "./proxy-args";
import { RenderedProxyConfig, renderProxyConfig } from "./proxy-config";
import { DEFAULT_CLIENT_KEY_LENGTH, ProxySettings, resolveProxySettings } from "./proxy-settings";
import { PROXY_HTTP_PORT, ProxyObjects, renderProxyObjects } from "./render-proxy";
import { secretArgumentPaths } from "./secret-arguments";

/** The Kubernetes and Pulumi resources of one deployed proxy. */
export interface ProxyResources {
    /** The ConfigMap holding the proxy's `config.json`. */
    configMap: k8s.core.v1.ConfigMap;
    deployment: k8s.apps.v1.Deployment;
    service: k8s.core.v1.Service;
    /** With more than one replica. */
    podDisruptionBudget?: k8s.policy.v1.PodDisruptionBudget;
    /** The Secret of client keys, with `proxy.clientKeys`. */
    clientKeysSecret?: k8s.core.v1.Secret;
    /** One `RandomPassword` per client key, by key name. */
    clientKeyPasswords: Record<string, random.RandomPassword>;
    /** The client keys by name (secret). */
    clientKeys: pulumi.Output<Record<string, string>>;
    /** The proxy's config, as in the ConfigMap. */
    proxyConfig: pulumi.Output<ProxyConfig>;
    /** The rendered objects (the client-keys Secret without values). */
    objects: pulumi.Output<ProxyObjects>;
    /** `http://<service>.<namespace>.svc.cluster.local:8080`, the proxy inside the cluster. */
    serviceUrl: pulumi.Output<string>;
}

/** What {@link createProxyResources} deploys. */
export interface ProxyDeploymentInput {
    /** The name of the Deployment and Service (known now: HTTPRoutes reference it). */
    baseName: string;
    namespace: pulumi.Input<string>;
    proxy: ProxyArgs | undefined;
    labels?: pulumi.Input<{ [key: string]: pulumi.Input<string> }>;
    annotations?: pulumi.Input<{ [key: string]: pulumi.Input<string> }>;
    /** The objects of every provider this proxy serves. */
    providers: pulumi.Output<ProviderObjects[]>;
    /** What the pods mount and must exist first: the providers' Secrets and CA ConfigMaps. */
    mounted: pulumi.Resource[];
    /** The argument a config the proxy rejects is reported against. */
    configArgument: string;
    /** How the proxy's own arguments are named in messages (`proxy`). */
    proxyArgument: string;
}

/**
 * Creates one proxy's children under `parent` (a provider with its own proxy, or a gateway):
 * client keys, the config ConfigMap, the Deployment, the Service and, with more than one replica,
 * a PodDisruptionBudget. Child names derive from `name`. Invalid arguments, and a config the proxy
 * would reject, raise a `pulumi.ResourceError` against `parent` when the values resolve (at
 * `pulumi preview` for values known then).
 */
export function createProxyResources(parent: pulumi.Resource, name: string, input: ProxyDeploymentInput): ProxyResources {
    const opts: pulumi.CustomResourceOptions = { parent };
    const asResourceError = (err: unknown): unknown => (isProviderArgumentError(err) ? new pulumi.ResourceError(err.message, parent) : err);

    // The proxy arguments given as Pulumi secrets are checked too, without showing their values.
    const secretArguments = pulumi.output(secretArgumentPaths(input.proxy, input.proxyArgument));
    const settings: pulumi.Output<ProxySettings> = pulumi
        .all([pulumi.output({ proxy: input.proxy, namespace: input.namespace, labels: input.labels, annotations: input.annotations }), secretArguments])
        .apply(([{ proxy, namespace, labels, annotations }, secrets]) => {
            try {
                return resolveProxySettings(proxy, { baseName: input.baseName, namespace, labels, annotations }, input.proxyArgument, secrets);
            } catch (err) {
                throw asResourceError(err);
            }
        });
    // Objects rendered from secret arguments are secret Outputs; the translation's messages about
    // them could quote those values, so they are then reported by kind and field only.
    const fromSecrets = pulumi.output(pulumi.isSecret(input.providers));
    const rendered: pulumi.Output<{ config: RenderedProxyConfig; objects: ProxyObjects }> = pulumi.all([settings, input.providers, fromSecrets]).apply(([s, providers, secret]) => {
        let config: RenderedProxyConfig;
        try {
            config = renderProxyConfig(providers, s.clientKeyNames, input.configArgument, secret);
        } catch (err) {
            throw asResourceError(err);
        }
        for (const warning of config.warnings) void pulumi.log.warn(`openai-compatible-proxy config: ${warning}`, parent);
        return { config, objects: renderProxyObjects(s, config) };
    });
    const objects = rendered.objects;

    const clientKeyPasswords: Record<string, random.RandomPassword> = {};
    for (const key of input.proxy?.clientKeys ?? []) {
        clientKeyPasswords[key.name] = new random.RandomPassword(
            `${name}-client-key-${key.name}`,
            {
                length: key.length ?? DEFAULT_CLIENT_KEY_LENGTH,
                special: false,
                // A new rotation number replaces this password, and so changes only the Secret below.
                keepers: { rotation: pulumi.output(key.rotation ?? 0).apply((r) => String(r)) },
            },
            opts,
        );
    }
    const clientKeys = pulumi.secret(pulumi.all(Object.fromEntries(Object.entries(clientKeyPasswords).map(([k, p]) => [k, p.result]))));

    let clientKeysSecret: k8s.core.v1.Secret | undefined;
    if ((input.proxy?.clientKeys?.length ?? 0) > 0) {
        clientKeysSecret = new k8s.core.v1.Secret(
            `${name}-client-keys`,
            {
                metadata: objects.apply((o) => o.clientKeysSecret?.metadata ?? { name: `${input.baseName}-client-keys` }),
                type: "Opaque",
                stringData: clientKeys,
            },
            { ...opts, additionalSecretOutputs: ["data", "stringData"] },
        );
    }

    const configMap = new k8s.core.v1.ConfigMap(`${name}-proxy-config`, { metadata: objects.configMap.metadata, data: objects.configMap.data }, opts);
    const deployment = new k8s.apps.v1.Deployment(
        `${name}-proxy`,
        {
            metadata: objects.deployment.metadata,
            spec: objects.deployment.spec as unknown as pulumi.Output<k8s.types.input.apps.v1.DeploymentSpec>,
        },
        { ...opts, dependsOn: [configMap, ...(clientKeysSecret ? [clientKeysSecret] : []), ...input.mounted] },
    );
    const service = new k8s.core.v1.Service(
        `${name}-proxy`,
        { metadata: objects.service.metadata, spec: objects.service.spec as pulumi.Output<k8s.types.input.core.v1.ServiceSpec> },
        opts,
    );
    let podDisruptionBudget: k8s.policy.v1.PodDisruptionBudget | undefined;
    if ((input.proxy?.replicas ?? 1) > 1) {
        const pdb = objects.apply((o) => {
            if (!o.podDisruptionBudget) throw new Error("internal: no PodDisruptionBudget rendered with more than one replica");
            return o.podDisruptionBudget;
        });
        podDisruptionBudget = new k8s.policy.v1.PodDisruptionBudget(`${name}-proxy`, { metadata: pdb.metadata, spec: pdb.spec }, { ...opts, dependsOn: [deployment] });
    }

    return {
        configMap,
        deployment,
        service,
        podDisruptionBudget,
        clientKeysSecret,
        clientKeyPasswords,
        clientKeys,
        proxyConfig: rendered.config.apply((c) => c.config),
        objects,
        serviceUrl: settings.apply((s) => `http://${s.baseName}.${s.namespace}.svc.cluster.local:${PROXY_HTTP_PORT}`),
    };
}
