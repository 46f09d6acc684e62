import { ProviderArgumentError } from "./errors";
import { peek } from "./settings";
import { validateProxyArgs } from "./proxy-settings";
import * as rules from "./validation";

/*
 * The rules of OpenAICompatibleGateway's own arguments and of how its providers fit together. Each
 * provider's arguments are checked by the provider itself.
 */

function quote(value: unknown): string {
    return JSON.stringify(value) ?? String(value);
}

function known(value: unknown): boolean {
    return typeof value !== "symbol";
}

function field(obj: unknown, key: string): unknown {
    if (typeof obj !== "object" || obj === null) return typeof obj === "symbol" ? obj : undefined;
    return (obj as Record<string, unknown>)[key];
}

/** A Gateway API PathPrefix as it matches: `/llm/` and `/llm` match the same requests. */
export function normalizedPrefix(prefix: string): string {
    const trimmed = prefix.replace(/\/+$/, "");
    return trimmed === "" ? "/" : trimmed;
}

/** One provider of a gateway, as far as its route and namespace are known. */
export interface SharedRoute {
    key: string;
    /** The path prefix, or a symbol when not known yet. */
    pathPrefix: unknown;
    /** The route hostnames: undefined or empty for any host; a symbol, or holding one, when not known yet. */
    hostnames?: unknown;
    kubernetesName: unknown;
    namespace: unknown;
}

/** Whether two Gateway API hostnames match a request in common (`*.example.com` matches `a.example.com`). */
export function hostnamesMeet(a: string, b: string): boolean {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    if (x === y) return true;
    // `*.example.com` matches any name with at least one more label, not `example.com` itself.
    const suffix = (h: string) => (h.startsWith("*.") ? h.slice(1) : undefined);
    const sx = suffix(x);
    const sy = suffix(y);
    if (sx !== undefined && sy !== undefined) return sx.endsWith(sy) || sy.endsWith(sx);
    if (sx !== undefined) return y.endsWith(sx);
    if (sy !== undefined) return x.endsWith(sy);
    return false;
}

/** The hostnames as a list ([] for any host), or undefined while any of them is unknown. */
function knownHostnames(hostnames: unknown): string[] | undefined {
    if (hostnames === undefined || hostnames === null) return [];
    if (!Array.isArray(hostnames) || !hostnames.every((h) => typeof h === "string")) return undefined;
    return hostnames;
}

/**
 * Where two routes of one prefix meet: `[]` when either matches any host, the first pair of
 * overlapping hostnames otherwise, undefined when they cannot meet or are not known yet.
 */
function meeting(a: unknown, b: unknown): string[] | undefined {
    const ha = knownHostnames(a);
    const hb = knownHostnames(b);
    if (ha === undefined || hb === undefined) return undefined;
    if (ha.length === 0 || hb.length === 0) return [];
    for (const x of ha) for (const y of hb) if (hostnamesMeet(x, y)) return [x, y];
    return undefined;
}

/**
 * Checks that the providers of one shared proxy can live together: each in the proxy's namespace
 * (its pods mount their Secrets), each with its own Kubernetes name, and no two with the same path
 * prefix on hostnames that overlap (none given matches every host). Unknown values are skipped;
 * call again once they resolve.
 */
export function checkSharedRoutes(routes: readonly SharedRoute[], gatewayNamespace: unknown, secretArguments?: readonly string[]): void {
    rules.withSecretArguments(secretArguments, () => checkKnownSharedRoutes(routes, gatewayNamespace));
}

function checkKnownSharedRoutes(routes: readonly SharedRoute[], gatewayNamespace: unknown): void {
    const byPrefix = new Map<string, SharedRoute[]>();
    const byName = new Map<string, string>();
    for (const r of routes) {
        const at = `providers.${r.key}`;
        if (r.namespace !== undefined && known(r.namespace) && known(gatewayNamespace) && r.namespace !== (gatewayNamespace ?? "default")) {
            const own = rules.isSecretArgument(`${at}.namespace`) ? undefined : quote(r.namespace);
            const gateways = rules.isSecretArgument("namespace") ? "its namespace" : quote(gatewayNamespace ?? "default");
            throw new ProviderArgumentError(
                `${at}.namespace`,
                `\`${at}.namespace\` is ${own ?? "a Pulumi secret (its value is not shown)"}, but the gateway's proxy runs in ${gateways} and a pod can only mount Secrets of its own namespace; remove \`${at}.namespace\` (it defaults to the gateway's \`namespace\`), or use a gateway in ${own ?? "that namespace"}.`,
            );
        }
        if (known(r.kubernetesName) && typeof r.kubernetesName === "string") {
            const other = byName.get(r.kubernetesName);
            if (other !== undefined) {
                throw new ProviderArgumentError(
                    `${at}.kubernetesName`,
                    `\`${at}\` and \`providers.${other}\` would both name their objects ${quote(r.kubernetesName)}; give each provider its own \`kubernetesName\`.`,
                );
            }
            byName.set(r.kubernetesName, r.key);
        }
        if (known(r.pathPrefix) && typeof r.pathPrefix === "string") {
            const prefix = normalizedPrefix(r.pathPrefix);
            const others = byPrefix.get(prefix) ?? [];
            // One prefix may serve several providers on hostnames that do not overlap.
            for (const o of others) {
                const met = meeting(r.hostnames, o.hostnames);
                if (met === undefined) continue;
                const other = o.key;
                // Equal prefixes: showing one shows the other.
                const secret = rules.isSecretArgument(`${at}.route.pathPrefix`) || rules.isSecretArgument(`providers.${other}.route.pathPrefix`);
                const shownPrefix = secret ? " (a Pulumi secret, not shown)" : ` ${quote(prefix)}`;
                const fix = `give each provider its own \`route.pathPrefix\` (for example ${quote(`/${r.key}`)})`;
                if (met.length === 0 && knownHostnames(r.hostnames)?.length === 0 && knownHostnames(o.hostnames)?.length === 0) {
                    throw new ProviderArgumentError(
                        `${at}.route.pathPrefix`,
                        `\`${at}\` and \`providers.${other}\` both route the path prefix${shownPrefix}, but one proxy sends each prefix to one provider; ${fix}.`,
                    );
                }
                let where: string;
                if (met.length === 0) {
                    const any = knownHostnames(r.hostnames)?.length === 0 ? at : `providers.${other}`;
                    where = `every host (\`${any}\` has no \`route.hostnames\`)`;
                } else if (rules.holdsSecret(`${at}.route.hostnames`) || rules.holdsSecret(`providers.${other}.route.hostnames`)) {
                    where = "overlapping hostnames (Pulumi secrets, not shown)";
                } else {
                    where = met[0] === met[1] ? `the hostname ${quote(met[0])}` : `the hostnames ${quote(met[0])} and ${quote(met[1])}, which overlap`;
                }
                throw new ProviderArgumentError(
                    `${at}.route.pathPrefix`,
                    `\`${at}\` and \`providers.${other}\` both route the path prefix${shownPrefix} for ${where}, but one proxy sends each prefix and host to one provider; ${fix}, or \`route.hostnames\` that do not overlap.`,
                );
            }
            byPrefix.set(prefix, [...others, r]);
        }
    }
}

/**
 * Checks every known argument of a gateway before any child exists.
 *
 * @param name the gateway's name, the default `kubernetesName`
 * @param args the gateway's arguments (Outputs allowed; unknown values are skipped)
 */
export function validateGatewayArgs(name: string, args: unknown): void {
    const a = (peek(args) ?? {}) as Record<string, unknown>;

    // The shared proxy's Service is named after it: a DNS-1035 label.
    if (a.kubernetesName === undefined) {
        rules.checkDefaultKubernetesName("the gateway's name", name);
    } else {
        rules.checkDns1035Label("kubernetesName", a.kubernetesName);
    }
    if (a.namespace !== undefined && known(a.namespace)) rules.checkDns1123Label("namespace", a.namespace);
    if (a.labels !== undefined && known(a.labels)) rules.checkLabels(a.labels);
    if (a.annotations !== undefined && known(a.annotations)) rules.checkAnnotations(a.annotations);
    validateProxyArgs(a.proxy, "proxy");

    const providers = a.providers;
    if (typeof providers !== "object" || providers === null || Array.isArray(providers) || Object.keys(providers).length === 0) {
        throw new ProviderArgumentError(
            "providers",
            '`providers` must be a map of at least one provider by key, for example `providers: { mistral: { preset: "mistral", apiKey, route: { gateway: { name: "agentgateway" } } } }`.',
        );
    }
    const clientKeys = field(a.proxy, "clientKeys");
    const routes: SharedRoute[] = [];
    for (const [key, p] of Object.entries(providers as Record<string, unknown>)) {
        const at = `providers.${key}`;
        const kubernetesName = field(p, "kubernetesName");
        if (kubernetesName === undefined && !rules.isDns1035Label(key, rules.MAX_KUBERNETES_NAME_LENGTH)) {
            throw new ProviderArgumentError(
                "providers",
                `\`providers\` key ${quote(key)} names the provider's Kubernetes objects, so it must be ${rules.DNS1035_RULE} of at most ${rules.MAX_KUBERNETES_NAME_LENGTH} characters; rename it, for example ${quote(rules.suggestDns1035(key, rules.MAX_KUBERNETES_NAME_LENGTH))}, or set \`${at}.kubernetesName\`.`,
            );
        }
        // Any value, "proxy" too: the gateway decides what serves its providers.
        if (field(p, "dataPlane") !== undefined) {
            throw new ProviderArgumentError(
                `${at}.dataPlane`,
                `\`${at}.dataPlane\` is ${quote(field(p, "dataPlane"))}, but the providers of a gateway are served by its shared proxy; remove it, or declare this provider as an \`OpenAICompatibleProvider\` of its own with \`dataPlane: ${quote(field(p, "dataPlane"))}\`.`,
            );
        }
        if (field(p, "proxy") !== undefined) {
            throw new ProviderArgumentError(`${at}.proxy`, `\`${at}.proxy\` is set, but the providers of a gateway share its proxy; set \`proxy\` on the gateway instead.`);
        }
        if (field(p, "passthrough") === true && Array.isArray(clientKeys) && clientKeys.length > 0) {
            throw new ProviderArgumentError(
                "proxy.clientKeys",
                `\`proxy.clientKeys\` cannot be combined with \`${at}.passthrough: true\`: its clients would send both their client key and their provider key in the \`Authorization\` header; remove \`proxy.clientKeys\`, or give \`${at}\` a key with \`apiKey\` or \`apiKeySecretName\`.`,
            );
        }
        const route = field(p, "route");
        const prefix = field(route, "pathPrefix");
        const name = kubernetesName ?? key;
        routes.push({
            key,
            kubernetesName: name,
            pathPrefix: prefix === undefined ? (typeof name === "string" ? `/${name}` : name) : prefix,
            hostnames: field(route, "hostnames"),
            namespace: field(p, "namespace"),
        });
    }
    checkSharedRoutes(routes, a.namespace);
}
