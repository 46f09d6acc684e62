import * as pulumi from "@pulumi/pulumi";
import { OpenAICompatibleProviderArgs } from "./args";
import { ProxyArgs } from "./proxy-args";

/**
 * Arguments of `OpenAICompatibleGateway`: one `openai-compatible-proxy` Deployment shared by
 * several providers. Interfaces only, with no unions or callbacks, so SDKs can be generated.
 */
export interface OpenAICompatibleGatewayArgs {
    /**
     * The providers the shared proxy serves, by key. Each takes the arguments of
     * `OpenAICompatibleProvider` and becomes a child `OpenAICompatibleProvider` named
     * `<gateway name>-<key>`, whose Kubernetes objects are named `<key>` and whose path prefix
     * defaults to `/<key>`, unless it sets `kubernetesName`, which then replaces the key in both
     * (without it, the key is a `kubernetesName`: a DNS-1035 label of at most 56 characters). Two
     * providers with the same path prefix on hostnames that overlap (no `route.hostnames` matches
     * every host) are an error, since one proxy routes each prefix and host to one provider.
     * `dataPlane` and `proxy` belong to the gateway and must not be set per provider. A plain map
     * because each entry is a child resource.
     */
    providers: { [key: string]: OpenAICompatibleProviderArgs };

    /**
     * The namespace of the proxy and, by default, of every provider. A pod can only mount Secrets of
     * its own namespace, so a provider that sets `namespace` must set this one. Defaults to `default`.
     */
    namespace?: pulumi.Input<string>;

    /**
     * The name of the proxy's Deployment, Service and PodDisruptionBudget (its ConfigMap is
     * `<name>-config`, its client-keys Secret `<name>-client-keys`): a DNS-1035 label (lowercase
     * letters, digits and '-', starting with a letter, as Service names must) of at most 63
     * characters. Defaults to the gateway's name, which must then follow it. A plain string because
     * the providers' HTTPRoutes reference the Service by it.
     */
    kubernetesName?: string;

    /** The shared proxy: image, replicas, resources, client keys and the Deployment escape hatch. */
    proxy?: ProxyArgs;

    /** Labels added to the proxy's objects and, under each provider's own, to every provider's objects. */
    labels?: pulumi.Input<{ [key: string]: pulumi.Input<string> }>;

    /** Annotations added to the proxy's objects and, under each provider's own, to every provider's objects. */
    annotations?: pulumi.Input<{ [key: string]: pulumi.Input<string> }>;
}
