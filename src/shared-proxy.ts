/*
 * How an OpenAICompatibleGateway tells the providers it creates that they are served by its proxy,
 * without a public argument: the attachment is keyed by the args object the gateway passes, so it
 * exists only for providers the gateway itself constructs (and never in a generated SDK schema).
 */
import { OpenAICompatibleProviderArgs } from "./args";

/** A provider served by a gateway's shared proxy. */
export interface SharedProxyAttachment {
    /** The proxy's Service, the backend of the provider's HTTPRoute. */
    serviceName: string;
    /** How the provider is named in the gateway's arguments (`providers.mistral`), for messages. */
    argument: string;
    /** Whether the shared proxy requires client keys. */
    clientKeys: boolean;
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
