import * as pulumi from "@pulumi/pulumi";

/**
 * The proxy data plane: how the component deploys `openai-compatible-proxy` (a Deployment, a
 * Service, a ConfigMap holding the proxy's config, a PodDisruptionBudget with more than one
 * replica, and optionally a Secret of client keys).
 *
 * Used as `proxy` on `OpenAICompatibleProviderArgs` (a proxy of its own) and on
 * `OpenAICompatibleGatewayArgs` (one proxy shared by several providers). Only meaningful with
 * the proxy data plane: with `dataPlane: "kgateway"` setting it is an error.
 */
export interface ProxyArgs {
    /**
     * The proxy's container image: a repository (`registry.example.com/llm/openai-compatible-proxy`,
     * then `tag` is required) or a full reference with a tag or a digest
     * (`registry.example.com/llm/openai-compatible-proxy:0.1.0`, `...@sha256:<digest>`). A reference
     * with neither a tag nor a digest is an error, so every rollout is reproducible. Defaults to
     * `ghcr.io/openai-compatible-provider/openai-compatible-proxy` (built from `proxy/Dockerfile`).
     * The image's entrypoint must be the `openai-compatible-proxy` CLI.
     */
    image?: pulumi.Input<string>;

    /**
     * The image tag: of `image` when that is a repository without one (then it is required), or of the
     * default repository when `image` is unset. Only without `image` does it default, to this
     * package's version (the proxy and the component are released together, so the default pair
     * always agrees on the `ProxyConfig` contract). Setting it beside an `image` that already has a
     * tag or digest is an error.
     */
    tag?: pulumi.Input<string>;

    /** The container's `imagePullPolicy`: `IfNotPresent` (the default), `Always` or `Never`. */
    imagePullPolicy?: pulumi.Input<string>;

    /**
     * Pods of the Deployment, at least 1 (default 1). With more than one, a PodDisruptionBudget
     * (`maxUnavailable: 1`) keeps all but one serving during voluntary disruptions; a pod that is
     * not ready may always be evicted (`unhealthyPodEvictionPolicy: AlwaysAllow`), so a node drain
     * never waits on crash-looping pods. A plain number because it decides whether the
     * PodDisruptionBudget exists.
     */
    replicas?: number;

    /**
     * The proxy container's resource requests and limits: Kubernetes resource names (`cpu`,
     * `memory`, `nvidia.com/gpu`) to Kubernetes quantities. Defaults to
     * requests `cpu: 100m`, `memory: 128Mi` and limit `memory: 256Mi`; no CPU limit, so a busy
     * proxy is not throttled. Given, it replaces the default entirely.
     */
    resources?: pulumi.Input<ProxyResourcesArgs>;

    /**
     * Client API keys the proxy requires from its clients (`Authorization: Bearer <key>`), each
     * generated with `@pulumi/random` `RandomPassword`, stored in one Secret mounted into the proxy,
     * and exported as secret outputs (`clientKeys`). Without it the proxy accepts every client the
     * Gateway lets through. Cannot be combined with a provider using `passthrough`, whose clients
     * send their provider key in that same header. A plain list because each key is a resource.
     */
    clientKeys?: ClientKeyArgs[];

    /**
     * Roll the Deployment whenever the proxy's config changes, through a `checksum/config`
     * annotation on the pod template. Off by default: the proxy watches its mounted config and keys
     * and applies a change in place (Kubernetes swaps mounted ConfigMaps and Secrets atomically
     * within about a minute), without dropping requests in flight. Turn it on to apply changes at
     * once, at the cost of a rollout. A plain boolean because it changes the pod template.
     */
    restartOnConfigChange?: boolean;

    /** The proxy's log level: `fatal`, `error`, `warn`, `info` (the default), `debug` or `trace`. */
    logLevel?: pulumi.Input<string>;

    /**
     * An escape hatch for Deployment fields the arguments do not cover (node selectors,
     * tolerations, topology spread, extra env, a service account, ...): a plain object in the shape
     * of a Deployment, merged into the rendered one. Objects merge key by key; lists whose items all
     * have a `name` (containers, volumes, env, volumeMounts, ports) merge item by item on `name`, as
     * `kubectl patch` does; other lists are replaced; `null` removes a field. `strategy` and each
     * volume keep only the keys given, as `kubectl apply` does for these unions (`strategy: { type:
     * "Recreate" }` drops `rollingUpdate`). The proxy container is named `proxy`. Applied last, so it
     * can also undo the defaults: use with care.
     *
     * @example { spec: { template: { spec: { nodeSelector: { pool: "system" }, containers: [{ name: "proxy", env: [{ name: "NODE_EXTRA_CA_CERTS", value: "/etc/ca/extra.pem" }] }] } } } }
     */
    // `any` on purpose: it becomes `pulumi.json#/Any` in a generated SDK schema.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    deploymentPatch?: pulumi.Input<{ [key: string]: any }>;
}

/** Kubernetes resource quantities of the proxy container. */
export interface ProxyResourcesArgs {
    /** Requests, for example `{ cpu: "100m", memory: "128Mi" }`. */
    requests?: pulumi.Input<{ [resource: string]: pulumi.Input<string> }>;
    /** Limits, for example `{ memory: "256Mi" }`. */
    limits?: pulumi.Input<{ [resource: string]: pulumi.Input<string> }>;
}

/** One client key of the proxy. */
export interface ClientKeyArgs {
    /**
     * The key's name, a DNS-1123 label unique among the keys (`team-a`, `ci`): its key in the
     * client-keys Secret and in the `clientKeys` output; its `RandomPassword` is named
     * `<component>-client-key-<name>`.
     */
    name: string;

    /**
     * Change this number (1, 2, ...) to rotate the key: its `RandomPassword` is replaced and only the
     * client-keys Secret changes; the proxy picks up the new key without a restart and the old one
     * stops working. Default 0.
     */
    rotation?: pulumi.Input<number>;

    /**
     * The key's length in characters, 32 to 128 (default 48; letters and digits). A new length is a
     * new key, as a new `rotation` is.
     */
    length?: number;
}
