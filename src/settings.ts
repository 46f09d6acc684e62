import * as pulumi from "@pulumi/pulumi";
import { OpenAICompatibleProviderArgs } from "./args";
import { isDeferred } from "./deferred";
import { ProviderArgumentError } from "./errors";
import { findPreset, PRESET_NAMES } from "./presets";
import { validateDataPlane, validateProxyArgs } from "./proxy-settings";
import * as rules from "./validation";

/**
 * Everything one provider renders from, with presets merged and defaults applied: plain values
 * only. Produced by {@link resolveSettings}; consumed by `renderObjects`.
 */
export interface ProviderSettings {
    kubernetesName: string;
    namespace: string;
    host: string;
    port: number;
    path: string;
    model?: string;
    authHeader?: { headerName?: string; prefix?: string };
    /** Which credential the Backend uses. */
    credential: "apiKey" | "secretRef" | "passthrough";
    /** The Secret the Backend references: ours for `apiKey`, the given one for `secretRef`. */
    secretName?: string;
    pathPrefix: string;
    gateway: { name: string; namespace: string; sectionName?: string };
    hostnames?: string[];
    /** The HTTPRoute rule's timeouts: `request` is always set, `DEFAULT_REQUEST_TIMEOUT` unless given. */
    timeouts: { request: string; backendRequest?: string };
    baseUrl?: string;
    /** `system`: wellKnownCACertificates; `customCA`: a ConfigMap; `plaintext`: no BackendTLSPolicy. */
    tls: "system" | "customCA" | "plaintext";
    caCertificate?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
}

/**
 * The HTTPRoute's `timeouts.request` when `route.timeouts.request` is not given: none (`0s`). Gateway
 * API leaves an absent one to the implementation, and the Envoy-based gateways (kgateway, agentgateway,
 * Envoy Gateway) then cut every response at 15 s, mid-stream for a long completion. A stalled request
 * is still ended by idle timeouts: the proxy's headers and body timeouts, or the gateway's stream idle
 * timeout.
 */
export const DEFAULT_REQUEST_TIMEOUT = "0s";

/** The component's arguments with every input resolved to its value. */
export type ResolvedArgs = pulumi.Unwrap<OpenAICompatibleProviderArgs>;

/** Stands for a value that is not known yet (an Output or a Promise) when validating at construction. */
export const UNKNOWN = rules.UNKNOWN;
type Unknown = typeof UNKNOWN;

/**
 * `value` with every Output and Promise replaced by {@link UNKNOWN}, so that the values already
 * known at construction can be validated before anything is registered.
 */
export function peek(value: unknown): unknown {
    if (isDeferred(value)) return UNKNOWN;
    if (Array.isArray(value)) return value.map(peek);
    if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, peek(v)]));
    }
    return value;
}

function known<T>(value: T | Unknown): value is T {
    return value !== UNKNOWN;
}

/** Reads `obj[key]`, tolerating an unknown or absent parent. */
function field(obj: unknown, key: string): unknown {
    if (obj === UNKNOWN) return UNKNOWN;
    if (typeof obj !== "object" || obj === null) return undefined;
    return (obj as Record<string, unknown>)[key];
}

/** Runs `rule` when `value` is present and known. */
function when<T>(value: unknown, rule: (v: unknown) => asserts v is T): void {
    if (value !== undefined && known(value)) rule(value);
}

/**
 * Checks every rule whose inputs are known. At construction, call it on {@link peek}ed args (unknown
 * values are skipped); {@link resolveSettings} calls it again on the resolved values, so each rule
 * raises the same message whenever its value becomes known.
 *
 * @param componentName the component's name, the default `kubernetesName`
 * @param args the arguments, possibly holding {@link UNKNOWN}
 * @param secretArguments the arguments given as Pulumi secrets (paths such as `host` or
 *   `labels.team`, from `secretArgumentPaths`): messages never show their values
 */
export function validateArgs(componentName: string, args: unknown, secretArguments?: readonly string[]): void {
    rules.withSecretArguments(secretArguments, () => validateKnownArgs(componentName, (args ?? {}) as Record<string, unknown>));
}

function validateKnownArgs(componentName: string, a: Record<string, unknown>): void {

    // Names first: every object name derives from `kubernetesName`. It must suit the proxy's
    // Service (`<name>-proxy`, a DNS-1035 label) whatever the data plane, so that changing
    // `dataPlane` never makes a valid name invalid.
    if (a.kubernetesName === undefined) {
        rules.checkDefaultKubernetesName("the component name", componentName, rules.MAX_KUBERNETES_NAME_LENGTH);
    } else {
        when(a.kubernetesName, (v) => rules.checkDns1035Label("kubernetesName", v, rules.MAX_KUBERNETES_NAME_LENGTH));
    }
    when(a.namespace, (v) => rules.checkDns1123Label("namespace", v));

    // Where the provider is.
    const preset = a.preset;
    if (preset !== undefined && known(preset)) {
        if (typeof preset !== "string" || findPreset(preset) === undefined) {
            throw new ProviderArgumentError(
                "preset",
                `${rules.named("preset", preset)} is not a known preset; use one of ${PRESET_NAMES.join(", ")}, or leave \`preset\` unset and give \`host\`, \`port\` and \`path\`.`,
            );
        }
    }
    if (preset === undefined && a.host === undefined) {
        throw new ProviderArgumentError(
            "host",
            `\`host\` is required when \`preset\` is not set; set \`preset\` (one of ${PRESET_NAMES.join(", ")}) or \`host\`, for example \`host: "api.mistral.ai"\`.`,
        );
    }
    when(a.host, rules.checkHost);
    when(a.port, rules.checkPort);
    when(a.path, rules.checkPath);
    when(a.model, (v) => rules.checkNonEmpty("model", v, "leave `model` unset to take the model from each request"));

    const authHeader = a.authHeader;
    if (authHeader !== undefined && known(authHeader)) {
        const headerName = field(authHeader, "headerName");
        const prefix = field(authHeader, "prefix");
        if (headerName === undefined && prefix === undefined) {
            // The Backend CRD's rule: "at least one of prefix or headerName must be set".
            throw new ProviderArgumentError(
                "authHeader",
                "`authHeader` needs `headerName` or `prefix` (or both); remove `authHeader` to send the key as `Authorization: Bearer <key>`.",
            );
        }
        when(headerName, rules.checkHeaderName);
        // The Backend CRD: `prefix` has minLength 1. A trailing space is part of it (`Token <key>`).
        when(prefix, rules.checkAuthHeaderPrefix);
    }

    // Exactly one credential. Presence is known even when the value is an Output.
    const credentials = [
        a.apiKey !== undefined ? "`apiKey`" : undefined,
        a.apiKeySecretName !== undefined ? "`apiKeySecretName`" : undefined,
        a.passthrough === true ? "`passthrough: true`" : undefined,
    ].filter((c): c is string => c !== undefined);
    if (credentials.length === 0) {
        throw new ProviderArgumentError(
            "apiKey",
            "No credential given; set exactly one of `apiKey` (the component creates the Secret), `apiKeySecretName` (an existing Secret holding the key under `Authorization`) or `passthrough: true` (forward each client's own token).",
        );
    }
    if (credentials.length > 1) {
        throw new ProviderArgumentError(
            "apiKey",
            `${credentials.slice(0, -1).join(", ")} and ${credentials[credentials.length - 1]} are ${credentials.length === 2 ? "both" : "all"} set; set exactly one of \`apiKey\`, \`apiKeySecretName\` or \`passthrough: true\`.`,
        );
    }
    when(a.apiKey, rules.checkApiKey);
    // A secret here is most likely the key itself, given to the wrong argument.
    when(a.apiKeySecretName, (v) =>
        rules.checkDns1123Subdomain("apiKeySecretName", v, "it takes the name of an existing Secret; if this is the API key itself, pass it as `apiKey` instead"),
    );
    if (a.passthrough !== undefined && typeof a.passthrough !== "boolean") {
        throw new ProviderArgumentError("passthrough", `\`passthrough\` must be a plain boolean${rules.got("passthrough", a.passthrough)}.`);
    }

    // The route.
    const route = a.route;
    if (route === undefined || (known(route) && (typeof route !== "object" || route === null))) {
        throw new ProviderArgumentError("route", '`route` is required; set at least `route: { gateway: { name: "agentgateway" } }`.');
    }
    const gateway = field(route, "gateway");
    if (gateway === undefined || field(gateway, "name") === undefined) {
        throw new ProviderArgumentError("route.gateway.name", '`route.gateway.name` is required: the Gateway the HTTPRoute attaches to; for example `route: { gateway: { name: "agentgateway" } }`.');
    }
    when(field(gateway, "name"), (v) => rules.checkDns1123Subdomain("route.gateway.name", v));
    when(field(gateway, "namespace"), (v) => rules.checkDns1123Label("route.gateway.namespace", v));
    when(field(gateway, "sectionName"), (v) => rules.checkDns1123Subdomain("route.gateway.sectionName", v));
    when(field(route, "pathPrefix"), rules.checkPathPrefix);
    when(field(route, "hostnames"), rules.checkRouteHostnames);
    when(field(route, "baseUrl"), rules.checkBaseUrl);
    const timeouts = field(route, "timeouts");
    const request = field(timeouts, "request");
    const backendRequest = field(timeouts, "backendRequest");
    when(request, (v) => rules.checkDuration("route.timeouts.request", v));
    when(backendRequest, (v) => rules.checkDuration("route.timeouts.backendRequest", v));
    if (typeof request === "string" && typeof backendRequest === "string") rules.checkTimeoutOrder(request, backendRequest);

    // TLS.
    const tls = a.tls;
    const plaintext = field(tls, "insecurePlaintext");
    if (plaintext !== undefined && typeof plaintext !== "boolean") {
        throw new ProviderArgumentError("tls.insecurePlaintext", `\`tls.insecurePlaintext\` must be a plain boolean${rules.got("tls.insecurePlaintext", plaintext)}.`);
    }
    const caCertificate = field(tls, "caCertificate");
    if (plaintext === true && caCertificate !== undefined) {
        throw new ProviderArgumentError(
            "tls.caCertificate",
            "`tls.insecurePlaintext` and `tls.caCertificate` are both set; a CA bundle only applies to TLS, so remove one of them.",
        );
    }
    when(caCertificate, rules.checkCaCertificate);
    if (plaintext !== true && typeof a.host === "string") rules.checkTlsHost(a.host);
    // Every preset is a public provider served over HTTPS on 443, whatever the preset's value.
    if (plaintext === true && preset !== undefined && a.host === undefined) {
        throw new ProviderArgumentError(
            "tls.insecurePlaintext",
            "`tls.insecurePlaintext` is set with `preset`, whose host is a public provider served over HTTPS: the API key and every request and completion would cross the internet in cleartext. It is only for a server inside the cluster; remove `tls.insecurePlaintext`, or, for an in-cluster server, remove `preset` and give its `host`, `port` and `path`.",
        );
    }

    when(a.labels, rules.checkLabels);
    when(a.annotations, rules.checkAnnotations);

    // The data plane.
    if (validateDataPlane(a) !== "kgateway") {
        validateProxyArgs(a.proxy);
        const clientKeys = field(a.proxy, "clientKeys");
        if (a.passthrough === true && Array.isArray(clientKeys) && clientKeys.length > 0) {
            throw new ProviderArgumentError(
                "proxy.clientKeys",
                "`proxy.clientKeys` cannot be combined with `passthrough: true`: clients would send both their client key and their provider key in the `Authorization` header; remove `proxy.clientKeys`, or give the provider key with `apiKey` or `apiKeySecretName`.",
            );
        }
    }
}

/**
 * Validates resolved arguments, merges the preset and applies defaults.
 *
 * @param componentName the component's name, the default `kubernetesName`
 * @param args the resolved arguments; `apiKey` only needs to be present, its value is not read
 * @param secretArguments the arguments given as Pulumi secrets, whose values messages never show
 * @throws ProviderArgumentError naming the argument and the fix
 */
export function resolveSettings(componentName: string, args: ResolvedArgs, secretArguments?: readonly string[]): ProviderSettings {
    validateArgs(componentName, args, secretArguments);
    const preset = args.preset !== undefined ? findPreset(args.preset) : undefined;
    const kubernetesName = args.kubernetesName ?? componentName;
    const namespace = args.namespace ?? "default";
    const tls: ProviderSettings["tls"] = args.tls?.insecurePlaintext ? "plaintext" : args.tls?.caCertificate !== undefined ? "customCA" : "system";
    const credential: ProviderSettings["credential"] = args.apiKey !== undefined ? "apiKey" : args.apiKeySecretName !== undefined ? "secretRef" : "passthrough";
    // validateArgs guarantees a host from either `host` or `preset`.
    const host = args.host ?? preset?.host ?? "";

    const settings: ProviderSettings = {
        kubernetesName,
        namespace,
        host,
        port: args.port ?? preset?.port ?? (tls === "plaintext" ? 80 : 443),
        path: args.path ?? preset?.path ?? "/v1/chat/completions",
        credential,
        pathPrefix: args.route.pathPrefix ?? `/${kubernetesName}`,
        gateway: { name: args.route.gateway.name, namespace: args.route.gateway.namespace ?? namespace },
        // Always a request timeout (DEFAULT_REQUEST_TIMEOUT).
        timeouts: { request: args.route.timeouts?.request ?? DEFAULT_REQUEST_TIMEOUT },
        tls,
    };
    if (args.model !== undefined) settings.model = args.model;
    if (args.authHeader !== undefined) {
        settings.authHeader = {};
        if (args.authHeader.headerName !== undefined) settings.authHeader.headerName = args.authHeader.headerName;
        if (args.authHeader.prefix !== undefined) settings.authHeader.prefix = args.authHeader.prefix;
    }
    if (credential === "apiKey") settings.secretName = `${kubernetesName}-secret`;
    if (credential === "secretRef") settings.secretName = args.apiKeySecretName;
    if (args.route.gateway.sectionName !== undefined) settings.gateway.sectionName = args.route.gateway.sectionName;
    if (args.route.hostnames !== undefined && args.route.hostnames.length > 0) settings.hostnames = [...args.route.hostnames];
    if (args.route.timeouts?.backendRequest !== undefined) settings.timeouts.backendRequest = args.route.timeouts.backendRequest;
    if (args.route.baseUrl !== undefined) settings.baseUrl = args.route.baseUrl.replace(/\/+$/, "");
    if (tls === "customCA") settings.caCertificate = args.tls?.caCertificate;
    if (args.labels !== undefined && Object.keys(args.labels).length > 0) settings.labels = { ...args.labels };
    if (args.annotations !== undefined && Object.keys(args.annotations).length > 0) settings.annotations = { ...args.annotations };
    return settings;
}
