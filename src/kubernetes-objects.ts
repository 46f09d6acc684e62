/*
 * Plain Kubernetes objects as the component renders them: the shapes kgateway v2.1.x
 * (gateway.kgateway.dev/v1alpha1 Backend) and Gateway API v1.4.0 (HTTPRoute v1,
 * BackendTLSPolicy v1) accept. Only the fields the component sets are typed.
 */

/** The API version of kgateway v2.1.x's Backend (the last line with `spec.ai.llm.host`). */
export const BACKEND_API_VERSION = "gateway.kgateway.dev/v1alpha1";
/** The API group of kgateway's Backend, as used in Gateway API references. */
export const BACKEND_GROUP = "gateway.kgateway.dev";
/** HTTPRoute v1 (Gateway API standard channel). */
export const HTTPROUTE_API_VERSION = "gateway.networking.k8s.io/v1";
/**
 * BackendTLSPolicy v1: Gateway API v1.4.0 promoted it from v1alpha3, and kgateway v2.1.x watches
 * only v1.
 */
export const BACKENDTLSPOLICY_API_VERSION = "gateway.networking.k8s.io/v1";

/** The Secret key kgateway reads the provider key from. */
export const API_KEY_SECRET_KEY = "Authorization";
/** The ConfigMap key BackendTLSPolicy `caCertificateRefs` are read from (Gateway API GEP-1897). */
export const CA_CERTIFICATE_KEY = "ca.crt";

/** `metadata` of every rendered object. */
export interface ObjectMeta {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
}

/** The core/v1 Secret holding the provider key. */
export interface SecretObject {
    apiVersion: "v1";
    kind: "Secret";
    metadata: ObjectMeta;
    type: "Opaque";
    /** Absent when rendered without the key (the component sets it from the secret input). */
    stringData?: { [API_KEY_SECRET_KEY]: string };
}

/** The core/v1 ConfigMap holding a custom CA bundle. */
export interface ConfigMapObject {
    apiVersion: "v1";
    kind: "ConfigMap";
    metadata: ObjectMeta;
    data: { [CA_CERTIFICATE_KEY]: string };
}

/** `spec.ai.llm.openai.authToken` of the Backend. */
export interface AuthToken {
    kind: "SecretRef" | "Passthrough";
    secretRef?: { name: string };
}

/** kgateway's AI Backend for an OpenAI-compatible provider. */
export interface BackendObject {
    apiVersion: typeof BACKEND_API_VERSION;
    kind: "Backend";
    metadata: ObjectMeta;
    spec: {
        type: "AI";
        ai: {
            llm: {
                openai: { authToken: AuthToken; model?: string };
                host: string;
                port: number;
                path: { full: string };
                authHeader?: { headerName?: string; prefix?: string };
            };
        };
    };
}

/** The HTTPRoute exposing the Backend on the Gateway. */
export interface HTTPRouteObject {
    apiVersion: typeof HTTPROUTE_API_VERSION;
    kind: "HTTPRoute";
    metadata: ObjectMeta;
    spec: {
        parentRefs: { name: string; namespace: string; sectionName?: string }[];
        hostnames?: string[];
        rules: {
            matches: { path: { type: "PathPrefix"; value: string } }[];
            filters: { type: "URLRewrite"; urlRewrite: { hostname: string } }[];
            backendRefs: { name: string; namespace: string; group: typeof BACKEND_GROUP; kind: "Backend" }[];
            timeouts?: { request?: string; backendRequest?: string };
        }[];
    };
}

/** The BackendTLSPolicy that makes the gateway use TLS to the provider. */
export interface BackendTLSPolicyObject {
    apiVersion: typeof BACKENDTLSPOLICY_API_VERSION;
    kind: "BackendTLSPolicy";
    metadata: ObjectMeta;
    spec: {
        targetRefs: { name: string; kind: "Backend"; group: typeof BACKEND_GROUP }[];
        validation: {
            hostname: string;
            wellKnownCACertificates?: "System";
            caCertificateRefs?: { group: ""; kind: "ConfigMap"; name: string }[];
        };
    };
}

/** Every object one provider renders to; optional ones depend on the credential and TLS choices. */
export interface ProviderObjects {
    /** Present when the component creates the key's Secret (`apiKey`). */
    secret?: SecretObject;
    /** Present with a custom CA bundle (`tls.caCertificate`). */
    caConfigMap?: ConfigMapObject;
    backend: BackendObject;
    httpRoute: HTTPRouteObject;
    /** Absent only with `tls.insecurePlaintext`. */
    backendTLSPolicy?: BackendTLSPolicyObject;
}

/** Any of the rendered objects. */
export type KubernetesObject =
    | SecretObject
    | ConfigMapObject
    | BackendObject
    | HTTPRouteObject
    | BackendTLSPolicyObject;

/** The objects in apply order: what others reference comes first. */
export function objectList(objects: ProviderObjects): KubernetesObject[] {
    const list: KubernetesObject[] = [];
    if (objects.secret) list.push(objects.secret);
    if (objects.caConfigMap) list.push(objects.caConfigMap);
    list.push(objects.backend, objects.httpRoute);
    if (objects.backendTLSPolicy) list.push(objects.backendTLSPolicy);
    return list;
}
