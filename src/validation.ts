import { X509Certificate } from "node:crypto";
import { isIPv6 } from "node:net";
import { ProviderArgumentError } from "./errors";
import { caBundleProblem, type CaBundleProblem, HEADER_VALUE, hasDotSegment } from "openai-compatible-proxy/translate";

/*
 * Single-value rules. Each throws a ProviderArgumentError naming the argument and the fix. Where a
 * rule mirrors the CRDs (Gateway API v1.4.0, kgateway v2.1.x) the pattern is copied from the CRD
 * so that a value accepted here is accepted by the API server; the tests check both directions.
 */

/** RFC 1123 label, as Kubernetes validates namespaces (k8s.io/apimachinery IsDNS1123Label). */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/**
 * RFC 1035 label, as Kubernetes validates Service names (IsDNS1035Label): a DNS-1123 label that
 * starts with a letter (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#rfc-1035-label-names).
 */
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/**
 * RFC 1123 subdomain: object names (IsDNS1123Subdomain), and the pattern Gateway API v1.4.0 uses
 * for `Hostname`/`PreciseHostname` (URLRewrite hostname, BackendTLSPolicy validation.hostname).
 */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Gateway API `Hostname` for HTTPRoute `spec.hostnames`: a subdomain, optionally `*.`-prefixed. */
const ROUTE_HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Gateway API `Duration` (GEP-2257), the pattern of HTTPRoute `timeouts`. */
const GATEWAY_DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
/** The HTTPRoute CRD's character rule for Exact/PathPrefix values: RFC 3986 pchar and `/`. */
const PATH_CHARACTERS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$/;
/** RFC 9110 section 5.6.2 `token`: the characters of an HTTP field name. */
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** The name part of a Kubernetes qualified name (label and annotation keys, IsQualifiedName). */
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/**
 * The longest `kubernetesName` of a provider: its proxy's Service, `<name>-proxy`, must fit a
 * 63-character DNS-1035 label, as must its pods' `app.kubernetes.io/instance` label, which holds the
 * same name. The other names it makes (`<name>-secret`, `<name>-tls`, ...) may be 253 long.
 */
export const MAX_KUBERNETES_NAME_LENGTH = 56;

/**
 * Stands for a value that is not known yet (an Output or a Promise) when validating at construction
 * (`peek` in settings.ts). A rule skips it, whether it is the whole argument or one entry of a map
 * or list; the rule runs again on the resolved value.
 */
export const UNKNOWN: unique symbol = Symbol("unknown until the Output resolves");

function fail(argument: string, message: string): never {
    throw new ProviderArgumentError(argument, message);
}

function quote(value: unknown): string {
    return JSON.stringify(value) ?? String(value);
}

/*
 * A value given as a Pulumi secret is never echoed, nor anything derived from it. While a
 * validation runs (synchronously) the arguments given as secrets are listed here, by path as
 * messages name them (`host`, `route.hostnames[0]`, `labels.team`); the message helpers below
 * then leave those values out: "got <value>" becomes "got a Pulumi secret (its value is not
 * shown)" and suggestions built from the value are dropped.
 */
let secretArguments: readonly string[] = [];

/**
 * Runs `run` with `paths` as the arguments given as Pulumi secrets (see `secretArgumentPaths`);
 * `undefined` keeps those of an enclosing call.
 */
export function withSecretArguments<T>(paths: readonly string[] | undefined, run: () => T): T {
    const outer = secretArguments;
    secretArguments = paths ?? outer;
    try {
        return run();
    } finally {
        secretArguments = outer;
    }
}

/** How messages name the entry `key` of the argument `parent`: `labels.team`, `route.hostnames[0]`. */
export function argumentPath(parent: string, key: string | number): string {
    if (typeof key === "number") return `${parent}[${key}]`;
    return parent === "" ? key : `${parent}.${key}`;
}

function within(path: string, ancestor: string): boolean {
    return ancestor === "" || path === ancestor || path.startsWith(`${ancestor}.`) || path.startsWith(`${ancestor}[`);
}

/** Whether `argument`, or an argument holding it, was given as a Pulumi secret. */
export function isSecretArgument(argument: string): boolean {
    return secretArguments.some((s) => within(argument, s));
}

/** Whether any part of `argument`'s value (itself, a holder or an entry) was given as a Pulumi secret. */
export function holdsSecret(argument: string): boolean {
    return secretArguments.some((s) => within(argument, s) || within(s, argument));
}

/**
 * `text` with the user information of a URL (`user:password@`, everything up to the last `@`)
 * replaced by `<credentials>@`.
 */
export function maskUserinfo(text: string): string {
    const at = text.lastIndexOf("@");
    if (at < 0) return text;
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(text)?.[0] ?? "";
    return `${scheme}<credentials>@${text.slice(at + 1)}`;
}

/** Whether `text`, read as a URL or a host, carries user information (`user:password@host`). */
export function hasUserinfo(text: string): boolean {
    const authority = text.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, "").split(/[/?#]/)[0] ?? "";
    return text.includes("@") && (authority.includes("@") || /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text));
}

/**
 * `text` with a non-empty query replaced by `?<query not shown>`, or else a non-empty fragment by
 * `#<fragment not shown>`: either may hold a key (`?api_key=sk-...`, `#access_token=...`).
 */
export function maskQuery(text: string): string {
    const at = text.search(/[?#]/);
    if (at < 0 || at === text.length - 1) return text;
    return `${text.slice(0, at)}${text[at] === "?" ? "?<query not shown>" : "#<fragment not shown>"}`;
}

/**
 * A value as messages quote it. A string that is or may be a URL or path (`url`, or holding `://`)
 * has its query or fragment and its user information masked.
 */
function shown(value: unknown, url = false): string {
    if (typeof value === "string" && (url || value.includes("://"))) return quote(maskUserinfo(maskQuery(value)));
    return quote(value);
}

/** `, got <value>`, or `, got a Pulumi secret (its value is not shown)`. */
export function got(argument: string, value: unknown, url = false): string {
    return `, got ${holdsSecret(argument) ? "a Pulumi secret (its value is not shown)" : shown(value, url)}`;
}

/** The subject `` `argument` "value" ``, or `` `argument` (a Pulumi secret, not shown) ``. */
export function named(argument: string, value: unknown, url = false): string {
    return `\`${argument}\` ${holdsSecret(argument) ? "(a Pulumi secret, not shown)" : shown(value, url)}`;
}

/** `text`, which repeats or derives from `argument`'s value, or `otherwise` when that value is a secret. */
export function unlessSecret(argument: string, text: string, otherwise = ""): string {
    return holdsSecret(argument) ? otherwise : text;
}

function andList(items: string[]): string {
    if (items.length <= 1) return items.join("");
    return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** Checks that `value` is a string (arguments typed `Input<string>` can still be anything at run time). */
export function checkString(argument: string, value: unknown): asserts value is string {
    if (typeof value !== "string") fail(argument, `\`${argument}\` must be a string${got(argument, value)}.`);
}

/** Checks a non-empty string without surrounding whitespace. */
export function checkNonEmpty(argument: string, value: unknown, fix: string): asserts value is string {
    checkString(argument, value);
    if (value.trim() === "" || value.trim() !== value) {
        fail(argument, `\`${argument}\` must be a non-empty string without surrounding whitespace${got(argument, value)}; ${fix}.`);
    }
}

/** A lowercase DNS-1123 form of `value`, for "for example" suggestions. */
export function suggestDns1123(value: string, maxLength = 63): string {
    const s = value
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, "-")
        .replace(/^-+|-+$/g, "")
        .slice(0, maxLength)
        .replace(/-+$/, "");
    return s === "" ? "my-provider" : s;
}

/** A lowercase DNS-1035 form of `value` (no leading digit), for "for example" suggestions. */
export function suggestDns1035(value: string, maxLength = 63): string {
    const s = suggestDns1123(value, maxLength).replace(/^[^a-z]+/, "");
    return s === "" ? "my-provider" : s;
}

/** How a DNS-1035 label is spelled out in error messages. */
export const DNS1035_RULE = "a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit)";

/** Whether `value` is a DNS-1035 label of at most `maxLength` characters. */
export function isDns1035Label(value: string, maxLength = 63): boolean {
    return value.length <= maxLength && DNS1035_LABEL.test(value);
}

/**
 * A DNS-1035 label of at most `maxLength` characters: the base object name of a provider or a
 * gateway, which names the proxy's Service. Kubernetes refuses a Service named like `1mistral-proxy`
 * although `1mistral` is a valid name for every other object.
 */
export function checkDns1035Label(argument: string, value: unknown, maxLength = 63): asserts value is string {
    checkString(argument, value);
    if (!isDns1035Label(value, maxLength)) {
        fail(
            argument,
            `\`${argument}\` must be ${DNS1035_RULE} of at most ${maxLength} characters, because the proxy's Service is named after it${got(argument, value)}${unlessSecret(argument, `; for example \`${argument}: ${quote(suggestDns1035(value, maxLength))}\``)}.`,
        );
    }
}

/**
 * `kubernetesName` left out: it defaults to `value` (`source` says what that is, such as "the
 * component name"), which must then be a DNS-1035 label of at most `maxLength` characters.
 */
export function checkDefaultKubernetesName(source: string, value: string, maxLength = 63): void {
    if (!isDns1035Label(value, maxLength)) {
        fail(
            "kubernetesName",
            `\`kubernetesName\` defaults to ${source} ${JSON.stringify(value)}, which is not ${DNS1035_RULE} of at most ${maxLength} characters, as the proxy's Service is named after it; set it, for example \`kubernetesName: ${JSON.stringify(suggestDns1035(value, maxLength))}\`.`,
        );
    }
}

/** A DNS-1123 label of at most `maxLength` characters (namespaces, client key names). */
export function checkDns1123Label(argument: string, value: unknown, maxLength = 63): asserts value is string {
    checkString(argument, value);
    if (value.length > maxLength || !DNS1123_LABEL.test(value)) {
        fail(
            argument,
            `\`${argument}\` must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit) of at most ${maxLength} characters${got(argument, value)}${unlessSecret(argument, `; for example \`${argument}: ${quote(suggestDns1123(value, maxLength))}\``)}.`,
        );
    }
}

/**
 * A DNS-1123 subdomain (object names such as an existing Secret's or the Gateway's). `secretFix`
 * replaces the suggestion when the value is a Pulumi secret, and so cannot be shown or derived from.
 */
export function checkDns1123Subdomain(argument: string, value: unknown, secretFix?: string): asserts value is string {
    checkString(argument, value);
    if (value.length > 253 || !DNS1123_SUBDOMAIN.test(value)) {
        const fix = unlessSecret(argument, `; for example \`${argument}: ${quote(suggestDns1123(value))}\``, secretFix === undefined ? "" : `; ${secretFix}`);
        fail(argument, `\`${argument}\` must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters)${got(argument, value)}${fix}.`);
    }
}

/** The first dot-separated label of `name` longer than DNS allows (63 characters), if any. */
function longLabel(name: string): string | undefined {
    return name.split(".").find((label) => label.length > 63);
}

/** Whether `text` is an IP address: dotted IPv4, or IPv6 with or without brackets. */
export function ipLiteral(text: string): "IPv4" | "IPv6" | undefined {
    if (/^[0-9]+(\.[0-9]+){3}$/.test(text)) return "IPv4";
    const inner = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
    return inner.includes(":") && isIPv6(inner) ? "IPv6" : undefined;
}

/** `text` up to its query or fragment, for a suggested fix that must not repeat them. */
function withoutQuery(text: string): string {
    return text.split(/[?#]/)[0] ?? "";
}

function tryUrl(text: string): URL | undefined {
    try {
        return new URL(text);
    } catch {
        return undefined;
    }
}

/**
 * The provider host: a lowercase DNS name, because it is also the URLRewrite hostname and the
 * BackendTLSPolicy `validation.hostname`, whose CRD patterns allow nothing else. A URL given by
 * mistake (the usual "base_url" from a provider's docs) gets a fix naming `host`, `port` and `path`.
 */
export function checkHost(value: unknown): asserts value is string {
    checkString("host", value);
    if (value.length <= 253 && DNS1123_SUBDOMAIN.test(value)) {
        const label = longLabel(value);
        if (label === undefined) return;
        fail("host", `\`host\` has a label of ${label.length} characters${got("host", value)}; each dot-separated part of a DNS name is at most 63 characters.`);
    }

    const trimmed = value.trim();
    const hasScheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(trimmed);
    const url = tryUrl(hasScheme ? trimmed : `https://${trimmed}`);
    if (ipLiteral(trimmed) === "IPv6" || (url && ipLiteral(url.hostname) === "IPv6")) {
        fail(
            "host",
            `\`host\` must be a DNS name, not an IPv6 address${got("host", value, true)}: it is also the HTTPRoute's URLRewrite hostname, which Gateway API only allows as a DNS name; for an in-cluster server use its Service's DNS name, for example \`host: "vllm.models.svc.cluster.local"\`.`,
        );
    }
    // A key written into the URL (`https://user:<key>@host`): never echoed, and said to be unsupported.
    const credentials = hasUserinfo(trimmed);
    const keyNote = credentials ? "; credentials in a URL are not supported: pass the key with `apiKey`" : "";
    if (url && url.hostname !== "" && DNS1123_SUBDOMAIN.test(url.hostname) && url.hostname.length <= 253 && longLabel(url.hostname) === undefined) {
        const fixes = [`\`host: ${quote(url.hostname)}\``];
        if (url.port !== "") fixes.push(`\`port: ${url.port}\``);
        const path = url.pathname.replace(/\/+$/, "");
        if (path !== "") {
            fixes.push(`\`path: ${quote(path.endsWith("/chat/completions") ? path : `${path}/chat/completions`)}\``);
        }
        const onlyCase = !hasScheme && !credentials && url.port === "" && path === "" && url.hostname === trimmed.toLowerCase();
        const parts = ["scheme", ...(credentials ? ["credentials"] : []), "port", "path", ...(/[?#]/.test(trimmed) ? ["query"] : [])];
        const problem = onlyCase ? "must be a lowercase DNS name" : `must be a DNS name without ${parts.slice(0, -1).join(", ")} or ${parts[parts.length - 1]}`;
        fail("host", `\`host\` ${problem}${got("host", value, true)}${keyNote}${unlessSecret("host", `; use ${andList(fixes)}`)}.`);
    }
    fail(
        "host",
        `\`host\` must be a DNS name (lowercase letters, digits, '-' and '.', at most 253 characters)${got("host", value, true)}${keyNote}; for example \`host: "api.mistral.ai"\`.`,
    );
}

/**
 * The provider API key, sent upstream in a header: a string of header-value characters with no
 * surrounding whitespace. The messages never show it, whatever is wrong with it.
 */
export function checkApiKey(value: unknown): asserts value is string {
    const example = 'for example `config.requireSecret("apiKey")`';
    if (typeof value !== "string") fail("apiKey", `\`apiKey\` must be a string, the provider's API key; ${example}.`);
    if (value === "") fail("apiKey", `\`apiKey\` is empty; pass the provider's API key, ${example}.`);
    if (value.trim() === "") fail("apiKey", `\`apiKey\` is only whitespace; pass the provider's API key, ${example}.`);
    if (value.trim() !== value) {
        fail(
            "apiKey",
            "`apiKey` starts or ends with whitespace (its value is not shown), most likely a line break or space copied along with the key, which would be sent as part of it; remove it, for example with `config.requireSecret(\"apiKey\").apply((k) => k.trim())`.",
        );
    }
    if (!HEADER_VALUE.test(value)) {
        fail(
            "apiKey",
            "`apiKey` holds a control character (a line break, a NUL, ...) or a character above U+00FF (its value is not shown), which an HTTP header cannot carry; pass the key exactly as the provider issued it.",
        );
    }
}

/**
 * An IPv4 `host` with TLS: it would be the BackendTLSPolicy's `validation.hostname`, sent as SNI
 * (RFC 6066 forbids IP addresses there) and matched against the certificate's DNS names.
 */
export function checkTlsHost(host: string): void {
    if (ipLiteral(host) === undefined) return;
    fail(
        "host",
        `${named("host", host)} is an IP address, but with TLS it is also the BackendTLSPolicy's \`validation.hostname\`, sent as SNI and matched against the server's certificate, which needs a DNS name (RFC 6066 forbids IP addresses in SNI); use the DNS name the certificate is issued for (for an in-cluster server, its Service's name such as "vllm.models.svc.cluster.local"), or set \`tls.insecurePlaintext: true\` for an in-cluster server without TLS.`,
    );
}

/** A TCP port. The Backend CRD only says int32; a port outside 1..65535 would fail at connect time. */
export function checkPort(value: unknown): asserts value is number {
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65535) {
        fail("port", `\`port\` must be an integer from 1 to 65535${got("port", value)}; use 443 for an HTTPS provider.`);
    }
}

/**
 * The upstream request path (`ai.llm.path.full`): absolute, only characters a URL path may hold,
 * and no segment that servers resolve or merge (empty, `.`, `..`, or either before a `;`).
 */
export function checkPath(value: unknown): asserts value is string {
    checkString("path", value);
    if (!value.startsWith("/")) {
        const url = tryUrl(value);
        if (url && url.hostname !== "") {
            const keyNote = hasUserinfo(value) ? "; credentials in a URL are not supported: pass the key with `apiKey`" : "";
            fail(
                "path",
                `\`path\` must be a path starting with "/", not a URL${got("path", value, true)}${keyNote}${unlessSecret("path", `; use \`host: ${quote(url.hostname)}\` and \`path: ${quote(url.pathname)}\``)}.`,
            );
        }
        fail("path", `\`path\` must be the full request path starting with "/"${got("path", value, true)}${unlessSecret("path", `; use \`path: ${quote(`/${withoutQuery(value)}`)}\``)}.`);
    }
    if (!PATH_CHARACTERS.test(value)) {
        fail(
            "path",
            `\`path\` may only hold URL path characters (RFC 3986: no query, fragment or whitespace)${got("path", value, true)}; for example \`path: "/v1/chat/completions"\`.`,
        );
    }
    // Servers and proxies on the way resolve or merge these, so the request would reach another path.
    if (value.includes("//")) {
        fail("path", `\`path\` must not hold an empty segment ("//")${got("path", value, true)}; give the endpoint's path as the provider documents it, for example \`path: "/v1/chat/completions"\`.`);
    }
    // A dot segment up to a `;` parameter (`..;x`, `%2e%2e%3b`) counts too: servlet containers
    // (Tomcat, Jetty, Spring) strip the parameter, then resolve the dots. The proxy's own rule, which it
    // applies to incoming requests.
    if (hasDotSegment(value)) {
        fail(
            "path",
            `\`path\` must not hold a "." or ".." segment, plain or percent-encoded ("%2e%2e"), nor one followed by a ";" parameter ("..;x", "%2e%2e%3b"), which servers resolve to another path${got("path", value, true)}; give the endpoint's path as the provider documents it, for example \`path: "/v1/chat/completions"\`.`,
        );
    }
}

/**
 * An HTTPRoute PathPrefix value. These are the x-kubernetes-validations of Gateway API v1.4.0's
 * HTTPPathMatch, so that a prefix accepted here is accepted by the API server.
 */
export function checkPathPrefix(value: unknown): asserts value is string {
    const argument = "route.pathPrefix";
    checkString(argument, value);
    if (!value.startsWith("/")) {
        fail(argument, `\`${argument}\` must start with "/"${got(argument, value, true)}${unlessSecret(argument, `; use \`${argument}: ${quote(`/${withoutQuery(value)}`)}\``)}.`);
    }
    const reasons: [boolean, string][] = [
        [value.length > 1024, "it must be at most 1024 characters"],
        [value.includes("//"), 'it must not contain "//"'],
        [value.includes("/./"), 'it must not contain "/./"'],
        [value.includes("/../"), 'it must not contain "/../"'],
        [value.includes("%2f") || value.includes("%2F"), 'it must not contain an encoded "/" ("%2f")'],
        [value.includes("#"), 'it must not contain "#"'],
        [value.endsWith("/..") || value.endsWith("/."), 'it must not end with "/." or "/.."'],
        [!PATH_CHARACTERS.test(value), "it may only hold URL path characters (RFC 3986)"],
    ];
    for (const [failed, reason] of reasons) {
        if (failed) {
            fail(argument, `${named(argument, value, true)} is not a valid Gateway API path prefix: ${reason}; use a plain prefix such as \`${argument}: "/mistral"\`.`);
        }
    }
}

/** HTTPRoute `spec.hostnames`: at most 16 Gateway API hostnames. */
export function checkRouteHostnames(value: unknown): asserts value is string[] {
    const argument = "route.hostnames";
    if (!Array.isArray(value)) fail(argument, `\`${argument}\` must be a list of hostnames${got(argument, value, true)}.`);
    if (value.length > 16) fail(argument, `\`${argument}\` may hold at most 16 hostnames (the HTTPRoute limit), got ${value.length}; split the provider into several routes.`);
    value.forEach((hostname, i) => {
        if (hostname === UNKNOWN) return;
        const at = argumentPath(argument, i);
        if (typeof hostname === "string" && ipLiteral(hostname) !== undefined) {
            // The CRD's description forbids IP addresses; its pattern lets IPv4 through, and such a
            // route never matches.
            fail(
                at,
                `\`${at}\` must be a DNS name, not an IP address${got(at, hostname, true)}: Gateway API does not allow IP addresses as HTTPRoute hostnames, and the route would match no request; use the DNS name clients call, or leave \`${argument}\` unset to match any host.`,
            );
        }
        if (typeof hostname !== "string" || hostname.length > 253 || !ROUTE_HOSTNAME.test(hostname)) {
            fail(at, `\`${at}\` must be a lowercase DNS name, optionally starting with "*."${got(at, hostname, true)}; for example "llm.example.com" or "*.example.com".`);
        }
        const label = longLabel(hostname);
        if (label !== undefined) {
            fail(at, `\`${at}\` has a label of ${label.length} characters${got(at, hostname, true)}; each dot-separated part of a DNS name is at most 63 characters.`);
        }
    });
}

/** Milliseconds of a Gateway API duration already matching {@link GATEWAY_DURATION}. */
export function durationMillis(duration: string): number {
    const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };
    let total = 0;
    for (const [, amount, u] of duration.matchAll(/([0-9]+)(ms|h|m|s)/g)) {
        total += Number(amount) * (unit[u ?? "ms"] ?? 1);
    }
    return total;
}

/** The longest timeout: 2^31-1 ms, the proxy's limit (a Node.js timer's). */
export const MAX_DURATION_MS = 2_147_483_647;

/** A Gateway API duration (`30s`, `1m30s`, `500ms`) of at most {@link MAX_DURATION_MS}. */
export function checkDuration(argument: string, value: unknown): asserts value is string {
    checkString(argument, value);
    if (!GATEWAY_DURATION.test(value)) {
        fail(argument, `\`${argument}\` must be a Gateway API duration such as "30s", "5m" or "1m30s" (units h, m, s, ms)${got(argument, value)}.`);
    }
    if (durationMillis(value) > MAX_DURATION_MS) {
        fail(argument, `\`${argument}\` must be at most "596h31m23s647ms" (2147483647 ms, about 24.8 days)${got(argument, value)}; use a shorter duration, or "0s" for no timeout.`);
    }
}

/** The HTTPRoute CEL rule "backendRequest timeout cannot be longer than request timeout". */
export function checkTimeoutOrder(request: string, backendRequest: string): void {
    const req = durationMillis(request);
    if (req !== 0 && durationMillis(backendRequest) > req) {
        fail(
            "route.timeouts.backendRequest",
            `\`route.timeouts.backendRequest\`${unlessSecret("route.timeouts.backendRequest", ` (${quote(backendRequest)})`)} must not be longer than \`route.timeouts.request\`${unlessSecret("route.timeouts.request", ` (${quote(request)})`)}; lower it or raise \`route.timeouts.request\`.`,
        );
    }
}

/**
 * An HTTP(S) URL with no path, for the `url` output, which is this text followed by the path
 * prefix. So the text itself is checked, not only what the URL parser makes of it: the parser drops
 * surrounding whitespace, tabs and line breaks, an empty `?` or `#`, and reads `\\` as `/`.
 */
export function checkBaseUrl(value: unknown): asserts value is string {
    const argument = "route.baseUrl";
    const example = `for example \`${argument}: "http://localhost:8080"\``;
    checkString(argument, value);
    if (value.trim() !== value) fail(argument, `\`${argument}\` must not start or end with whitespace${got(argument, value, true)}; ${example}.`);
    if ([...value].some((c) => c <= " " || c === "\x7f")) fail(argument, `\`${argument}\` must not hold whitespace or control characters${got(argument, value, true)}; ${example}.`);
    if (hasUserinfo(value)) {
        fail(
            argument,
            `\`${argument}\` must not hold credentials${got(argument, value, true)}: credentials in a URL are not supported, and the \`url\` output would show them to anyone reading the stack; ${example}.`,
        );
    }
    const url = tryUrl(value);
    if (
        !url ||
        (url.protocol !== "http:" && url.protocol !== "https:") ||
        (url.pathname !== "/" && url.pathname !== "") ||
        /[?#\\]/.test(value)
    ) {
        fail(argument, `\`${argument}\` must be an http or https URL with no path, query, fragment or credentials${got(argument, value, true)}; ${example}.`);
    }
}

/**
 * `authHeader.prefix`: written verbatim before the key, so `"Token "` (trailing space included) gives
 * `Token <key>`. At least one character that is not whitespace (the Backend CRD's minLength 1), no
 * leading whitespace (HTTP strips it from a header value), then {@link checkHeaderValue}.
 */
export function checkAuthHeaderPrefix(value: unknown): asserts value is string {
    const argument = "authHeader.prefix";
    checkString(argument, value);
    if (value.trim() === "" || value.trimStart() !== value) {
        fail(
            argument,
            `\`${argument}\` must be a non-empty string that does not start with whitespace${got(argument, value)}; the key follows it as written, so end it with a space for \`Token <key>\` (\`prefix: "Token "\`), or omit \`prefix\` to keep kgateway's default.`,
        );
    }
    checkHeaderValue(argument, value);
}

/**
 * `authHeader.prefix`: the start of a header value, so RFC 9110 field-value characters only
 * (tab, space, visible ASCII, U+0080 to U+00FF), the rule undici, Node.js and the proxy apply.
 */
export function checkHeaderValue(argument: string, value: string): void {
    if (!HEADER_VALUE.test(value)) {
        fail(
            argument,
            `\`${argument}\` may only hold header-value characters: tab, space, visible ASCII or U+0080 to U+00FF, no control characters (CR, LF, NUL, ...) and nothing above U+00FF${got(argument, value)}; for example \`prefix: "Token "\` (the key follows it as written).`,
        );
    }
}

/**
 * Headers that frame, route or hop a request (RFC 9110 sections 7.2, 7.6.1 and 8.6, RFC 9112
 * section 6.1): a key sent in one of them would become the request's Host, its length or its
 * transfer coding, or be dropped at the next hop. Lowercase; `proxy-*` as a prefix.
 */
const FRAMING_HEADERS = ["host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "keep-alive"];

/** An HTTP field name (RFC 9110 token) that can carry a key, for `authHeader.headerName`. */
export function checkHeaderName(value: unknown): asserts value is string {
    const argument = "authHeader.headerName";
    checkString(argument, value);
    if (!HTTP_TOKEN.test(value)) {
        fail(argument, `\`${argument}\` must be an HTTP header name (RFC 9110 token characters, no spaces or ':')${got(argument, value)}; for example \`headerName: "x-api-key"\`.`);
    }
    const lower = value.toLowerCase();
    if (FRAMING_HEADERS.includes(lower) || lower.startsWith("proxy-")) {
        fail(
            argument,
            `${named(argument, value)} cannot carry the key: it frames, routes or hops the request, so the key would become its Host, length or transfer coding, or be dropped (Host, Content-Length, Transfer-Encoding, Connection, TE, Upgrade, Keep-Alive and Proxy-* are refused); use the header the provider documents, for example \`headerName: "x-api-key"\`.`,
        );
    }
}

/**
 * A PEM bundle of CA certificates, by the proxy's own rule (`caBundleProblem`, which the proxy applies
 * when it loads the bundle): complete `CERTIFICATE` blocks only, each an X.509 certificate. Messages
 * name the block at fault by number, never its text.
 */
export function checkCaCertificate(value: unknown): asserts value is string {
    const argument = "tls.caCertificate";
    checkString(argument, value);
    const problem = caBundleProblem(value, X509Certificate);
    if (problem !== undefined) fail(argument, caBundleMessage(argument, problem));
}

function caBundleMessage(argument: string, problem: CaBundleProblem): string {
    const unchanged = "pass the CA bundle's PEM text complete and unchanged";
    if (problem.kind === "empty") {
        return `\`${argument}\` must be PEM text holding at least one "-----BEGIN CERTIFICATE-----" block; pass the CA bundle's contents, for example \`fs.readFileSync("ca.crt", "utf8")\`.`;
    }
    if (problem.kind === "stray-end") {
        const where = problem.after === 0 ? "before its first block" : `after block ${problem.after} of ${problem.blocks}`;
        return `\`${argument}\` has an "-----END" line ${where} that ends no block (its "-----BEGIN" line is missing); ${unchanged}.`;
    }
    const block = `\`${argument}\` block ${problem.block} of ${problem.blocks}`;
    switch (problem.kind) {
        case "not-certificate": {
            // The PEM type (`PRIVATE KEY`, `X509 CRL`, ...) helps; a long one would be no PEM type.
            const label = problem.label !== undefined && problem.label.length <= 32 ? problem.label : undefined;
            const is = label === undefined ? "" : unlessSecret(argument, ` (it is "-----BEGIN ${label}-----")`);
            return `${block} does not begin with "-----BEGIN CERTIFICATE-----"${is}; a CA bundle holds only certificates, so remove any other block.`;
        }
        case "unterminated":
            return `${block} has no "-----END CERTIFICATE-----" line before the next block or the end of the text, so it is cut off; ${unchanged}.`;
        case "bad-end":
            return `${block} does not end with "-----END CERTIFICATE-----"; ${unchanged}.`;
        case "not-own-line":
            return `${block} has its "-----BEGIN CERTIFICATE-----" or "-----END CERTIFICATE-----" line run into other text, which TLS then skips or stops at (as when a file without a final newline is joined to the next); put each on a line of its own.`;
        case "bad-body":
            return `${block} is not one base64-encoded certificate between its "-----BEGIN CERTIFICATE-----" and "-----END CERTIFICATE-----" lines (stray characters, or lines missing); ${unchanged}.`;
        case "not-x509":
            return `${block} is not a valid X.509 certificate; ${unchanged}.`;
    }
}

/** A Kubernetes qualified name (k8s.io/apimachinery IsQualifiedName): label keys, resource names. */
export function isQualifiedName(key: string): boolean {
    const slash = key.lastIndexOf("/");
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    const prefixOk = prefix === undefined || (prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix));
    return prefixOk && name.length <= 63 && QUALIFIED_NAME_PART.test(name);
}

function checkQualifiedKey(argument: string, key: string, what: string): void {
    if (!isQualifiedName(key)) {
        fail(
            argument,
            `\`${argument}\` key ${isSecretArgument(argument) ? "(a Pulumi secret, not shown)" : quote(key)} is not a valid Kubernetes ${what} key (an optional DNS subdomain prefix and "/", then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit); for example "team" or "example.com/team".`,
        );
    }
}

/** Kubernetes labels (k8s.io/apimachinery ValidateLabels). */
export function checkLabels(value: unknown): asserts value is Record<string, string> {
    const argument = "labels";
    if (typeof value !== "object" || value === null || Array.isArray(value)) fail(argument, `\`${argument}\` must be a map of strings${got(argument, value)}.`);
    for (const [key, v] of Object.entries(value)) {
        checkQualifiedKey(argument, key, "label");
        if (v === UNKNOWN) continue;
        if (typeof v !== "string" || v.length > 63 || (v !== "" && !QUALIFIED_NAME_PART.test(v))) {
            const shownValue = isSecretArgument(argumentPath(argument, key)) ? "(a Pulumi secret, not shown)" : quote(v);
            const shownKey = isSecretArgument(argument) ? "a key not shown (a Pulumi secret)" : quote(key);
            fail(argument, `\`${argument}\` value ${shownValue} of ${shownKey} is not a valid Kubernetes label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit); put free text in \`annotations\` instead.`);
        }
    }
}

/** Kubernetes annotations (ValidateAnnotations: qualified keys, 256 KiB in total). */
export function checkAnnotations(value: unknown): asserts value is Record<string, string> {
    const argument = "annotations";
    if (typeof value !== "object" || value === null || Array.isArray(value)) fail(argument, `\`${argument}\` must be a map of strings${got(argument, value)}.`);
    let size = 0;
    for (const [key, v] of Object.entries(value)) {
        checkQualifiedKey(argument, key, "annotation");
        // Its size counts once it resolves.
        if (v === UNKNOWN) continue;
        if (typeof v !== "string") {
            const shownKey = isSecretArgument(argument) ? "a key not shown (a Pulumi secret)" : quote(key);
            fail(argument, `\`${argument}\` value of ${shownKey} must be a string${got(argumentPath(argument, key), v)}.`);
        }
        size += key.length + v.length;
    }
    if (size > 256 * 1024) fail(argument, `\`${argument}\` hold ${size} bytes; Kubernetes allows at most 262144 in total, so move large values elsewhere.`);
}
