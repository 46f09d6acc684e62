import {
    API_KEY_SECRET_KEY,
    BACKEND_API_VERSION,
    BACKEND_GROUP,
    BACKENDTLSPOLICY_API_VERSION,
    BackendObject,
    CA_CERTIFICATE_KEY,
    HTTPROUTE_API_VERSION,
    HTTPRouteObject,
    ObjectMeta,
    ProviderObjects,
} from "./kubernetes-objects";
import { ProviderSettings } from "./settings";

function meta(settings: ProviderSettings, name: string): ObjectMeta {
    const m: ObjectMeta = { name, namespace: settings.namespace };
    if (settings.labels) m.labels = { ...settings.labels };
    if (settings.annotations) m.annotations = { ...settings.annotations };
    return m;
}

/**
 * Renders the Kubernetes objects of one provider: a pure function of its settings, shared by the
 * component (which creates them) and by anything that needs the same objects without Pulumi
 * resources (the proxy's `fromGatewayObjects` translation, tests).
 *
 * With a custom host kgateway turns every provider default off, so three things are always
 * emitted: `ai.llm.path.full` (else the client's path, `/mistral`, goes upstream), the HTTPRoute's
 * `URLRewrite` hostname (else the client's Host header reaches the provider, and Cloudflare-fronted
 * providers answer 421 or 403) and the BackendTLSPolicy (else the connection is plaintext), unless
 * `tls` is `plaintext`.
 *
 * @param settings resolved settings, from `resolveSettings`
 * @param apiKey the provider key for the Secret's `stringData`. Optional: the component renders
 *   without it and sets `stringData` from the secret input, so the key never travels through a
 *   non-secret Output.
 * @example
 * const objects = renderObjects(resolveSettings("mistral", { preset: "mistral", apiKey: "k",
 *     route: { gateway: { name: "agentgateway" } } }), "k");
 */
export function renderObjects(settings: ProviderSettings, apiKey?: string): ProviderObjects {
    const name = settings.kubernetesName;
    const objects: Partial<ProviderObjects> = {};

    if (settings.credential === "apiKey") {
        objects.secret = {
            apiVersion: "v1",
            kind: "Secret",
            metadata: meta(settings, settings.secretName ?? `${name}-secret`),
            type: "Opaque",
        };
        // kgateway reads the key from `Authorization` and strips a leading "Bearer ".
        if (apiKey !== undefined) objects.secret.stringData = { [API_KEY_SECRET_KEY]: apiKey };
    }

    const backend: BackendObject = {
        apiVersion: BACKEND_API_VERSION,
        kind: "Backend",
        metadata: meta(settings, name),
        spec: {
            type: "AI",
            ai: {
                llm: {
                    openai: {
                        authToken:
                            settings.credential === "passthrough"
                                ? { kind: "Passthrough" }
                                : { kind: "SecretRef", secretRef: { name: settings.secretName ?? `${name}-secret` } },
                    },
                    host: settings.host,
                    port: settings.port,
                    path: { full: settings.path },
                },
            },
        },
    };
    if (settings.model !== undefined) backend.spec.ai.llm.openai.model = settings.model;
    if (settings.authHeader !== undefined) backend.spec.ai.llm.authHeader = { ...settings.authHeader };

    const parentRef: HTTPRouteObject["spec"]["parentRefs"][number] = {
        name: settings.gateway.name,
        namespace: settings.gateway.namespace,
    };
    if (settings.gateway.sectionName !== undefined) parentRef.sectionName = settings.gateway.sectionName;
    const rule: HTTPRouteObject["spec"]["rules"][number] = {
        matches: [{ path: { type: "PathPrefix", value: settings.pathPrefix } }],
        filters: [{ type: "URLRewrite", urlRewrite: { hostname: settings.host } }],
        // The Backend lives in the route's namespace, so no ReferenceGrant is needed.
        backendRefs: [{ name, namespace: settings.namespace, group: BACKEND_GROUP, kind: "Backend" }],
        // Always set: see DEFAULT_REQUEST_TIMEOUT.
        timeouts: { ...settings.timeouts },
    };
    const httpRoute: HTTPRouteObject = {
        apiVersion: HTTPROUTE_API_VERSION,
        kind: "HTTPRoute",
        metadata: meta(settings, name),
        spec: { parentRefs: [parentRef], rules: [rule] },
    };
    if (settings.hostnames !== undefined) httpRoute.spec.hostnames = [...settings.hostnames];

    if (settings.tls === "customCA") {
        objects.caConfigMap = {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: meta(settings, `${name}-ca`),
            data: { [CA_CERTIFICATE_KEY]: settings.caCertificate ?? "" },
        };
    }
    if (settings.tls !== "plaintext") {
        objects.backendTLSPolicy = {
            apiVersion: BACKENDTLSPOLICY_API_VERSION,
            kind: "BackendTLSPolicy",
            metadata: meta(settings, `${name}-tls`),
            spec: {
                targetRefs: [{ name, kind: "Backend", group: BACKEND_GROUP }],
                // The CRD forbids setting both; a custom CA replaces the system trust store.
                validation:
                    settings.tls === "customCA"
                        ? { hostname: settings.host, caCertificateRefs: [{ group: "", kind: "ConfigMap", name: `${name}-ca` }] }
                        : { hostname: settings.host, wellKnownCACertificates: "System" },
            },
        };
    }
    return { ...objects, backend, httpRoute };
}
