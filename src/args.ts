import * as pulumi from "@pulumi/pulumi";
import { ProxyArgs } from "./proxy-args";

/**
 * Arguments of `OpenAICompatibleProvider`.
 *
 * Every field is an interface field, a plain value or a `pulumi.Input`, with no unions and no
 * callbacks, so that `pulumi package add` can generate SDKs for other languages from
 * `PulumiPlugin.yaml`. A few switches are plain `boolean`s on purpose: they decide which child
 * resources exist, and that must be known when `pulumi preview` runs, before any output resolves.
 *
 * Exactly one credential must be given: `apiKey`, `apiKeySecretName` or `passthrough: true`.
 */
export interface OpenAICompatibleProviderArgs {
    /**
     * A well-known OpenAI-compatible provider whose host, port and chat-completions path the
     * component fills in: one of `cerebras`, `deepseek`, `fireworks`, `groq`, `mistral`, `openai`,
     * `openrouter`, `perplexity`, `together`, `xai`. `host`, `port` and `path` each override the
     * preset's value. Leave unset for any other server and give `host` (and usually `path`).
     */
    preset?: pulumi.Input<string>;

    /**
     * The provider's DNS name, without scheme, port or path (`api.mistral.ai`, or
     * `vllm.models.svc.cluster.local` for an in-cluster server). Required when `preset` is unset.
     * It becomes the Backend's `ai.llm.host`, the HTTPRoute's `URLRewrite` hostname and the
     * BackendTLSPolicy's `validation.hostname`. An IP address is refused, but for IPv4 with
     * `tls.insecurePlaintext`: TLS sends the name as SNI and checks the certificate against it.
     */
    host?: pulumi.Input<string>;

    /**
     * The provider's TCP port, 1 to 65535. Defaults to the preset's port, else 443, or 80 when
     * `tls.insecurePlaintext` is set.
     */
    port?: pulumi.Input<number>;

    /**
     * The full upstream request path of the chat-completions endpoint, starting with `/`
     * (`/v1/chat/completions`), without `.`, `..` (plain or percent-encoded, alone or before a `;` parameter such as `..;x`) or empty segments. Emitted as the Backend's `ai.llm.path.full`, because with a custom
     * host kgateway would otherwise forward the client's path (`/mistral`) unchanged. Defaults to
     * the preset's path, else `/v1/chat/completions`.
     */
    path?: pulumi.Input<string>;

    /**
     * The model to use for every request, overriding the `model` field the client sends
     * (`mistral-medium-2505`). Leave unset to take the model from each request.
     */
    model?: pulumi.Input<string>;

    /**
     * How the key is sent upstream, when the provider does not expect `Authorization: Bearer <key>`.
     * Emitted as the Backend's `ai.llm.authHeader`; at least one of its fields must be set.
     */
    authHeader?: pulumi.Input<AuthHeaderArgs>;

    /**
     * The provider API key. The component stores it in a Kubernetes Secret under the key
     * `Authorization` (the key kgateway reads; a leading `Bearer ` is stripped by kgateway), and the
     * Backend references that Secret. Pass a secret (`config.requireSecret(...)`); a plain string is
     * wrapped with `pulumi.secret` so state holds it encrypted. It must be sendable in a header as
     * is: no surrounding whitespace, control characters or characters above U+00FF. Mutually
     * exclusive with `apiKeySecretName` and `passthrough`.
     */
    apiKey?: pulumi.Input<string>;

    /**
     * The name of an existing Secret in `namespace` that holds the provider key under the key
     * `Authorization`; the component creates no Secret. With the proxy data plane (the default) the
     * proxy's pods mount it, so a missing Secret or key keeps them from starting and `pulumi up`
     * waits on the Deployment until it times out; with `dataPlane: "kgateway"`, kgateway silently
     * sends no key. Mutually exclusive with `apiKey` and `passthrough`.
     */
    apiKeySecretName?: pulumi.Input<string>;

    /**
     * Forward the client's own `Authorization` token to the provider (kgateway's `Passthrough`
     * auth token) instead of a key held by the platform; the component creates no Secret. A plain
     * boolean because it decides which child resources exist. Mutually exclusive with `apiKey` and
     * `apiKeySecretName`.
     */
    passthrough?: boolean;

    /**
     * The namespace of every child (Secret, Backend, HTTPRoute, BackendTLSPolicy, CA ConfigMap); the
     * Backend is kept in the HTTPRoute's namespace. A DNS-1123 label. Defaults to `default`.
     */
    namespace?: pulumi.Input<string>;

    /**
     * The base name of the Kubernetes objects: the Backend and HTTPRoute are named after it, the
     * Secret `<name>-secret`, the BackendTLSPolicy `<name>-tls`, the CA ConfigMap `<name>-ca` and,
     * with the proxy, its Deployment and Service `<name>-proxy`. A DNS-1035 label (lowercase
     * letters, digits and '-', starting with a letter, as Service names must) of at most 56
     * characters, so that `<name>-proxy` fits a Service name's 63; the same rule holds whatever
     * the data plane. Defaults to the component's name, which must then follow it. A plain string
     * because objects reference each other by it.
     */
    kubernetesName?: string;

    /** Where clients reach the provider: the HTTPRoute's Gateway, path prefix, hostnames and timeouts. */
    route: RouteArgs;

    /**
     * How the gateway connects to the provider. By default it verifies the provider's certificate
     * against the system CAs for `host` (a BackendTLSPolicy with `wellKnownCACertificates: System`).
     */
    tls?: TlsArgs;

    /** Labels added to every child object. Keys and values must be valid Kubernetes labels. */
    labels?: pulumi.Input<{ [key: string]: pulumi.Input<string> }>;

    /** Annotations added to every child object. Keys must be valid Kubernetes annotation keys. */
    annotations?: pulumi.Input<{ [key: string]: pulumi.Input<string> }>;

    /**
     * What serves the provider:
     * - `proxy` (the default): the component deploys `openai-compatible-proxy` (see `proxy`), fed
     *   with a `ProxyConfig` translated by the proxy package itself from this component's Secret,
     *   Backend, HTTPRoute and BackendTLSPolicy, and validated with the proxy's own schema at
     *   `pulumi preview`. The HTTPRoute created in the cluster sends the path prefix to the proxy's
     *   Service, so any Gateway API implementation can route to it; the Backend and
     *   BackendTLSPolicy are still created, describing the provider.
     * - `kgateway`: kgateway's own data plane behind the existing Gateway: the four objects only,
     *   the HTTPRoute's backendRef being the Backend, exactly as the kgateway docs write them by hand.
     *   Note that agentgateway v2.1.x ignores `authHeader`.
     *
     * A plain string because it decides which child resources exist. Not allowed, whatever its
     * value, on providers of an `OpenAICompatibleGateway`, which are served by the gateway's proxy.
     */
    dataPlane?: string;

    /**
     * The proxy's Deployment, image, replicas, resources and client keys, with `dataPlane: "proxy"`.
     * Setting it with `dataPlane: "kgateway"` is an error: kgateway's data plane cannot honour it.
     * Not allowed on providers of an `OpenAICompatibleGateway`, which share the gateway's `proxy`.
     */
    proxy?: ProxyArgs;
}

/** The Backend's `ai.llm.authHeader`: the header that carries the key upstream. */
export interface AuthHeaderArgs {
    /**
     * The header name, an HTTP token such as `x-api-key`, but not one that frames or routes the
     * request (`Host`, `Content-Length`, `Transfer-Encoding`, `Connection`, `TE`, `Upgrade`,
     * `Keep-Alive`, `Proxy-*`). kgateway's default is `Authorization`.
     */
    headerName?: pulumi.Input<string>;
    /**
     * The value prefix before the key, written verbatim: `"Token "` (with its trailing space) sends
     * `Token <key>`, `"Token"` sends `Token<key>`. At least one character, not starting with
     * whitespace, all of them header-value characters (tab, space, visible ASCII, U+0080 to U+00FF).
     * kgateway's default is `Bearer `.
     */
    prefix?: pulumi.Input<string>;
}

/** The HTTPRoute that exposes the provider on a Gateway. */
export interface RouteArgs {
    /** The Gateway the HTTPRoute attaches to (its `parentRefs` entry). */
    gateway: GatewayRefArgs;

    /**
     * The path prefix clients call (`/mistral`); every request under it is sent to the provider's
     * `path`. Must start with `/` and be a valid Gateway API `PathPrefix` value. Defaults to `/`
     * followed by `kubernetesName`.
     */
    pathPrefix?: pulumi.Input<string>;

    /** Hostnames the HTTPRoute matches (`llm.example.com`, `*.example.com`), not IP addresses; at most 16. Default: any. */
    hostnames?: pulumi.Input<pulumi.Input<string>[]>;

    /**
     * The HTTPRoute rule's timeouts, as Gateway API durations (`30s`, `1m30s`, `500ms`) of at most
     * `596h31m23s647ms` (2^31-1 ms). `request` defaults to `0s`, none: without it, Envoy-based
     * gateways (kgateway, agentgateway) cut every response at 15 s, and streaming completions run
     * for minutes. Stalled requests are still ended by idle timeouts.
     */
    timeouts?: RouteTimeoutsArgs;

    /**
     * The URL at which clients reach the Gateway's listener (`http://localhost:8080` when
     * port-forwarded, `https://llm.example.com`), without a path, query, fragment, credentials or
     * whitespace. Only used to compute the `url` output; without it `url` is the path prefix alone.
     */
    baseUrl?: pulumi.Input<string>;
}

/** A reference to an existing Gateway. */
export interface GatewayRefArgs {
    /** The Gateway's name (`agentgateway` in the kgateway docs). */
    name: pulumi.Input<string>;
    /** The Gateway's namespace. Defaults to the component's `namespace`. */
    namespace?: pulumi.Input<string>;
    /** The Gateway listener to attach to (`parentRefs[].sectionName`). Default: every listener that allows the route. */
    sectionName?: pulumi.Input<string>;
}

/** The HTTPRoute rule's `timeouts`. */
export interface RouteTimeoutsArgs {
    /** The whole request, client to gateway and back (`timeouts.request`). `0s`, the default, disables it. */
    request?: pulumi.Input<string>;
    /** One attempt from the gateway to the provider (`timeouts.backendRequest`); at most `request`. */
    backendRequest?: pulumi.Input<string>;
}

/** TLS from the gateway to the provider. */
export interface TlsArgs {
    /**
     * A PEM bundle of the CA certificates that sign the provider's certificate, for a provider whose
     * certificate the system CAs do not trust (an in-cluster server with a private CA). The
     * component stores it in a ConfigMap under `ca.crt` and references it from the
     * BackendTLSPolicy's `caCertificateRefs` instead of `wellKnownCACertificates: System`.
     */
    caCertificate?: pulumi.Input<string>;

    /**
     * Connect to the provider in plaintext, with no BackendTLSPolicy: only for a server inside the
     * cluster (a self-hosted vLLM, say). Requests, keys and completions then cross the network
     * unencrypted, so it is refused with a `preset` unless `host` names another server. A plain
     * boolean because it decides whether the BackendTLSPolicy exists.
     */
    insecurePlaintext?: boolean;
}
