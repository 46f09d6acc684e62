/*
 * How an OpenAICompatibleGateway tells the providers it creates that they are served by its proxy,
 * without a public argument: the attachment is keyed by the args object the gateway passes, so it
 * exists only for providers the gateway itself constructs (and never in a generated SDK schema).
 */
import type * as k8s from "@pulumi/kubernetes";
import { OpenAICompatibleProviderArgs } from "./args";

/** A provider served by a gateway's shared proxy. */
export interface SharedProxyAttachment {
    /** The proxy's Service, the backend of the provider's HTTPRoute. */
    serviceName: string;
    /** How the provider is named in the gateway's arguments (`providers.mistral`), for messages. */
    argument: string;
    /** Whether the shared proxy requires client keys. */
    clientKeys: boolean;
    /**
     * The proxy's Service and Deployment once the gateway has created them (after its providers, whose
     * objects its config is rendered from), or none if it never did: the provider's HTTPRoute waits for
     * them, so that it never points the Gateway at a Service that does not exist yet, nor at pods that
     * are not ready (or, for a provider added later, do not mount its key yet).
     */
    proxy: Promise<(k8s.core.v1.Service | k8s.apps.v1.Deployment)[]>;
}

const attachments = new WeakMap<OpenAICompatibleProviderArgs, SharedProxyAttachment>();

/** Marks `args` as those of a provider served by a shared proxy. */
export function attachToSharedProxy(args: OpenAICompatibleProviderArgs, attachment: SharedProxyAttachment): OpenAICompatibleProviderArgs {
    attachments.set(args, attachment);
    return args;
}

/** The shared proxy `args` were attached to, if any. */
export function sharedProxyOf(args: OpenAICompatibleProviderArgs): SharedProxyAttachment | undefined {
    return attachments.get(args);
}
