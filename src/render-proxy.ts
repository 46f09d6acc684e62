import { createHash } from "node:crypto";
import { clone } from "./clone";
import { mergePatch } from "./deployment-patch";
import { HTTPRouteObject, ObjectMeta } from "./kubernetes-objects";
import { PROXY_MOUNTS, RenderedProxyConfig } from "./proxy-config";
import { ProxySettings } from "./proxy-settings";

/** The proxy's data-path port (container and Service), where the HTTPRoute sends requests. */
export const PROXY_HTTP_PORT = 8080;
/** The proxy's admin port: `/healthz`, `/readyz`, `/metrics`. */
export const PROXY_ADMIN_PORT = 9901;
/**
 * The user and group the proxy runs as: any non-root id works with the image, which only needs to
 * read its files; 65532 is the usual "nonroot" id of distroless images.
 */
export const PROXY_UID = 65532;
/**
 * How long a terminating proxy pod keeps serving new requests after SIGTERM, `/readyz` answering 503
 * (the proxy's `--shutdown-delay-ms`): the Service's endpoints and the Gateway learn that a pod is
 * terminating seconds after the pod does, and connections they open meanwhile must not be refused.
 */
export const PROXY_SHUTDOWN_DELAY_MS = 5_000;
/**
 * How long the proxy then lets requests and streams in flight finish (its `--shutdown-grace-ms`): 5
 * minutes, since completions stream for minutes and a rollout (a new image, or a config change with
 * `restartOnConfigChange`) would otherwise cut them. A pod with nothing in flight exits at once; the
 * Deployment's new pods serve meanwhile.
 */
export const PROXY_SHUTDOWN_GRACE_MS = 300_000;
/** The pod's `terminationGracePeriodSeconds`: the delay, the grace, and 5 s to close, before SIGKILL. */
export const PROXY_TERMINATION_GRACE_SECONDS = (PROXY_SHUTDOWN_DELAY_MS + PROXY_SHUTDOWN_GRACE_MS) / 1000 + 5;
/** The name of the proxy container, for `proxy.deploymentPatch`. */
export const PROXY_CONTAINER_NAME = "proxy";

/** A core/v1 ConfigMap holding the ProxyConfig. */
export interface ProxyConfigMapObject {
    apiVersion: "v1";
    kind: "ConfigMap";
    metadata: ObjectMeta;
    data: { [PROXY_MOUNTS.configKey]: string };
}

/** The Secret of client keys, without its values (set from the `RandomPassword`s). */
export interface ClientKeysSecretObject {
    apiVersion: "v1";
    kind: "Secret";
    metadata: ObjectMeta;
    type: "Opaque";
}

/** An apps/v1 Deployment, as rendered (the escape hatch may add any field). */
export interface DeploymentObject {
    apiVersion: "apps/v1";
    kind: "Deployment";
    metadata: ObjectMeta;
    spec: Record<string, unknown>;
}

/** A core/v1 Service in front of the proxy pods. */
export interface ServiceObject {
    apiVersion: "v1";
    kind: "Service";
    metadata: ObjectMeta;
    spec: {
        type: "ClusterIP";
        selector: Record<string, string>;
        ports: { name: string; port: number; targetPort: string; protocol: "TCP" }[];
    };
}

/** A policy/v1 PodDisruptionBudget. */
export interface PodDisruptionBudgetObject {
    apiVersion: "policy/v1";
    kind: "PodDisruptionBudget";
    metadata: ObjectMeta;
    spec: { maxUnavailable: number; unhealthyPodEvictionPolicy: "AlwaysAllow"; selector: { matchLabels: Record<string, string> } };
}

/** The HTTPRoute the Gateway serves with the proxy data plane: the prefix goes to the proxy's Service. */
export interface ProxyHTTPRouteObject {
    apiVersion: HTTPRouteObject["apiVersion"];
    kind: "HTTPRoute";
    metadata: ObjectMeta;
    spec: {
        parentRefs: HTTPRouteObject["spec"]["parentRefs"];
        hostnames?: string[];
        rules: {
            matches: HTTPRouteObject["spec"]["rules"][number]["matches"];
            backendRefs: { group: ""; kind: "Service"; name: string; namespace: string; port: number }[];
            timeouts?: { request?: string; backendRequest?: string };
        }[];
    };
}

/** Every object of one proxy. */
export interface ProxyObjects {
    configMap: ProxyConfigMapObject;
    deployment: DeploymentObject;
    service: ServiceObject;
    /** With more than one replica. */
    podDisruptionBudget?: PodDisruptionBudgetObject;
    /** With client keys. */
    clientKeysSecret?: ClientKeysSecretObject;
}

/** The labels that select the proxy's pods (the Deployment's immutable selector). */
export function proxySelector(settings: ProxySettings): Record<string, string> {
    return { "app.kubernetes.io/name": "openai-compatible-proxy", "app.kubernetes.io/instance": settings.baseName };
}

function meta(settings: ProxySettings, name: string): ObjectMeta {
    const m: ObjectMeta = {
        name,
        namespace: settings.namespace,
        labels: { ...settings.labels, ...proxySelector(settings), "app.kubernetes.io/component": "data-plane", "app.kubernetes.io/managed-by": "pulumi" },
    };
    if (settings.annotations) m.annotations = { ...settings.annotations };
    return m;
}

/** A volume name (a DNS-1123 label) for a mounted object: `<prefix>-<name>`, or a hash when that does not fit. */
export function volumeName(prefix: string, objectName: string): string {
    const plain = `${prefix}-${objectName}`;
    if (plain.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(plain)) return plain;
    return `${prefix}-${createHash("sha256").update(objectName).digest("hex").slice(0, 16)}`;
}

/** `0440`: owner and group (the pod's `fsGroup`) may read a mounted key, nobody else. */
const KEY_FILE_MODE = 0o440;

/**
 * Renders one proxy: the ConfigMap with its config, the Deployment, the Service, a
 * PodDisruptionBudget with more than one replica and the client-keys Secret (without values) with
 * client keys. Pure; the component creates these objects, tests compare them.
 *
 * The pod needs no Kubernetes API access (`automountServiceAccountToken: false`), runs as a
 * non-root user with a read-only root filesystem, no capabilities and the runtime's default
 * seccomp profile, and is probed on the admin port. On termination it keeps serving for
 * `PROXY_SHUTDOWN_DELAY_MS` while its endpoints are removed, then drains for up to
 * `PROXY_SHUTDOWN_GRACE_MS`, within the pod's termination grace period. Keys and CA bundles are
 * mounted one object per volume, readable by the pod's group only; the proxy reloads them, and its
 * config, when Kubernetes updates the mounted files.
 *
 * @param settings from `resolveProxySettings`
 * @param config from `renderProxyConfig`
 */
export function renderProxyObjects(settings: ProxySettings, config: RenderedProxyConfig): ProxyObjects {
    const name = settings.baseName;
    const selector = proxySelector(settings);
    const clientKeysSecretName = `${name}-client-keys`;

    const volumes: Record<string, unknown>[] = [
        { name: "config", configMap: { name: `${name}-config` } },
        // Node.js and its libraries may want a scratch folder; the root filesystem is read-only.
        { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
    ];
    const mounts: Record<string, unknown>[] = [
        { name: "config", mountPath: PROXY_MOUNTS.configDir, readOnly: true },
        { name: "tmp", mountPath: "/tmp" },
    ];
    for (const secretName of config.secretNames) {
        const volume = volumeName("key", secretName);
        volumes.push({ name: volume, secret: { secretName, items: [{ key: "Authorization", path: "Authorization" }], defaultMode: KEY_FILE_MODE } });
        mounts.push({ name: volume, mountPath: `${PROXY_MOUNTS.providerKeysDir}/${secretName}`, readOnly: true });
    }
    for (const configMapName of config.caConfigMapNames) {
        const volume = volumeName("ca", configMapName);
        volumes.push({ name: volume, configMap: { name: configMapName, items: [{ key: "ca.crt", path: "ca.crt" }] } });
        mounts.push({ name: volume, mountPath: `${PROXY_MOUNTS.caBundlesDir}/${configMapName}`, readOnly: true });
    }
    if (settings.clientKeyNames.length > 0) {
        volumes.push({ name: "client-keys", secret: { secretName: clientKeysSecretName, defaultMode: KEY_FILE_MODE } });
        mounts.push({ name: "client-keys", mountPath: PROXY_MOUNTS.clientKeysDir, readOnly: true });
    }

    const podMeta = meta(settings, name);
    const template: Record<string, unknown> = {
        metadata: {
            labels: podMeta.labels,
            ...(settings.restartOnConfigChange || settings.annotations
                ? { annotations: { ...settings.annotations, ...(settings.restartOnConfigChange ? { "checksum/config": config.sha256 } : {}) } }
                : {}),
        },
        spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: PROXY_TERMINATION_GRACE_SECONDS,
            securityContext: {
                runAsNonRoot: true,
                runAsUser: PROXY_UID,
                runAsGroup: PROXY_UID,
                fsGroup: PROXY_UID,
                seccompProfile: { type: "RuntimeDefault" },
            },
            containers: [
                {
                    name: PROXY_CONTAINER_NAME,
                    image: settings.image,
                    imagePullPolicy: settings.imagePullPolicy,
                    args: [
                        "--config",
                        `${PROXY_MOUNTS.configDir}/${PROXY_MOUNTS.configKey}`,
                        "--listen",
                        // No host: every address, so the pod serves on IPv4, IPv6 and dual-stack clusters.
                        `:${PROXY_HTTP_PORT}`,
                        "--admin-listen",
                        `:${PROXY_ADMIN_PORT}`,
                        "--log-level",
                        settings.logLevel,
                        "--shutdown-delay-ms",
                        String(PROXY_SHUTDOWN_DELAY_MS),
                        "--shutdown-grace-ms",
                        String(PROXY_SHUTDOWN_GRACE_MS),
                    ],
                    ports: [
                        { name: "http", containerPort: PROXY_HTTP_PORT, protocol: "TCP" },
                        { name: "admin", containerPort: PROXY_ADMIN_PORT, protocol: "TCP" },
                    ],
                    // Ready once a config is loaded; alive while the process answers.
                    readinessProbe: { httpGet: { path: "/readyz", port: "admin" }, periodSeconds: 5, failureThreshold: 2 },
                    livenessProbe: { httpGet: { path: "/healthz", port: "admin" }, periodSeconds: 10, failureThreshold: 3 },
                    resources: clone(settings.resources),
                    securityContext: {
                        allowPrivilegeEscalation: false,
                        readOnlyRootFilesystem: true,
                        runAsNonRoot: true,
                        capabilities: { drop: ["ALL"] },
                    },
                    volumeMounts: mounts,
                },
            ],
            volumes,
        },
    };
    let deployment: DeploymentObject = {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: meta(settings, name),
        spec: {
            replicas: settings.replicas,
            selector: { matchLabels: selector },
            // Start a new pod before stopping an old one: the proxy is the only path to the providers.
            strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
            template,
        },
    };
    if (settings.deploymentPatch !== undefined) deployment = mergePatch(deployment, settings.deploymentPatch) as DeploymentObject;

    const objects: ProxyObjects = {
        configMap: { apiVersion: "v1", kind: "ConfigMap", metadata: meta(settings, `${name}-config`), data: { [PROXY_MOUNTS.configKey]: config.text } },
        deployment,
        service: {
            apiVersion: "v1",
            kind: "Service",
            metadata: meta(settings, name),
            spec: {
                type: "ClusterIP",
                selector,
                ports: [
                    { name: "http", port: PROXY_HTTP_PORT, targetPort: "http", protocol: "TCP" },
                    { name: "admin", port: PROXY_ADMIN_PORT, targetPort: "admin", protocol: "TCP" },
                ],
            },
        },
    };
    if (settings.replicas > 1) {
        objects.podDisruptionBudget = {
            apiVersion: "policy/v1",
            kind: "PodDisruptionBudget",
            metadata: meta(settings, name),
            // A pod that is not ready serves nothing, so evicting it disrupts nothing. The default
            // (IfHealthyBudget) refuses to evict such pods while fewer than all but one are ready, so
            // a drain of a node holding crash-looping proxy pods would wait forever.
            spec: { maxUnavailable: 1, unhealthyPodEvictionPolicy: "AlwaysAllow", selector: { matchLabels: selector } },
        };
    }
    if (settings.clientKeyNames.length > 0) {
        objects.clientKeysSecret = { apiVersion: "v1", kind: "Secret", metadata: meta(settings, clientKeysSecretName), type: "Opaque" };
    }
    return objects;
}

/**
 * The HTTPRoute the Gateway serves when the proxy is the data plane: the same parent, hostnames,
 * match and timeouts, with the proxy's Service as the backend. The `URLRewrite` is left to the
 * proxy, which applies it upstream; rewriting the Host on the way to the proxy would also defeat
 * the proxy's own `hostnames` match.
 *
 * @param httpRoute the provider's HTTPRoute as the proxy serves it (backendRef: the Backend)
 * @param service the proxy's Service
 */
export function routeToProxy(httpRoute: HTTPRouteObject, service: { name: string; namespace: string }): ProxyHTTPRouteObject {
    const route: ProxyHTTPRouteObject = {
        apiVersion: httpRoute.apiVersion,
        kind: "HTTPRoute",
        metadata: clone(httpRoute.metadata),
        spec: {
            parentRefs: clone(httpRoute.spec.parentRefs),
            rules: httpRoute.spec.rules.map((rule) => {
                const out: ProxyHTTPRouteObject["spec"]["rules"][number] = {
                    matches: clone(rule.matches),
                    backendRefs: [{ group: "", kind: "Service", name: service.name, namespace: service.namespace, port: PROXY_HTTP_PORT }],
                };
                if (rule.timeouts !== undefined) out.timeouts = { ...rule.timeouts };
                return out;
            }),
        },
    };
    if (httpRoute.spec.hostnames !== undefined) route.spec.hostnames = [...httpRoute.spec.hostnames];
    return route;
}
