import * as pulumi from "@pulumi/pulumi";
import { clone } from "./clone";
import { ProviderArgumentError } from "./errors";
import { ProxyArgs } from "./proxy-args";
import { KUBERNETES_DATA_LIMIT_BYTES } from "./proxy-config";
import { isDeferred } from "./deferred";
import { checkDns1123Label, got, isQualifiedName, isSecretArgument, named, withSecretArguments } from "./validation";
import { PROXY_IMAGE_REPOSITORY, PROXY_VERSION } from "./version";

/** What serves a provider: our proxy (the default) or kgateway's own data plane. */
export const DATA_PLANES = ["proxy", "kgateway"] as const;
export type DataPlane = (typeof DATA_PLANES)[number];

/** Everything the proxy's Kubernetes objects are rendered from: plain values only. */
export interface ProxySettings {
    /** The name of the Deployment, Service and PodDisruptionBudget; the ConfigMap is `<baseName>-config`. */
    baseName: string;
    namespace: string;
    /** A full image reference, with a tag or a digest. */
    image: string;
    imagePullPolicy: string;
    replicas: number;
    resources: { requests?: Record<string, string>; limits?: Record<string, string> };
    /** The names of the client keys, in the order given. */
    clientKeyNames: string[];
    restartOnConfigChange: boolean;
    logLevel: string;
    deploymentPatch?: Record<string, unknown>;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
}

/** The resources of the proxy container when `proxy.resources` is not given. */
export const DEFAULT_PROXY_RESOURCES = { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } };

const PULL_POLICIES = ["IfNotPresent", "Always", "Never"];
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"];

/*
 * An image reference, after github.com/distribution/reference (reference.go): an optional registry
 * host (with a port), path components of lowercase letters and digits joined by `.`, `_`, `__` or
 * `-`, then an optional `:tag` and an optional `@digest`.
 */
const DOMAIN = String.raw`(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)`;
const COMPONENT = String.raw`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`;
const TAG = String.raw`[\w][\w.-]{0,127}`;
const DIGEST = String.raw`[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`;
const IMAGE_REFERENCE = new RegExp(`^(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const TAG_ONLY = new RegExp(`^${TAG}$`);
/** A Kubernetes quantity (k8s.io/apimachinery/pkg/api/resource, the serialized form). */
const QUANTITY = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$/;
/** The power of 2 (binary) or of 10 (decimal) each quantity suffix multiplies by. */
const QUANTITY_SUFFIX: Record<string, { base: bigint; power: number }> = {
    Ki: { base: 2n, power: 10 }, Mi: { base: 2n, power: 20 }, Gi: { base: 2n, power: 30 }, Ti: { base: 2n, power: 40 }, Pi: { base: 2n, power: 50 }, Ei: { base: 2n, power: 60 },
    n: { base: 10n, power: -9 }, u: { base: 10n, power: -6 }, m: { base: 10n, power: -3 }, k: { base: 10n, power: 3 }, M: { base: 10n, power: 6 },
    G: { base: 10n, power: 9 }, T: { base: 10n, power: 12 }, P: { base: 10n, power: 15 }, E: { base: 10n, power: 18 },
};

/**
 * The exact value of a quantity that matches {@link QUANTITY}, as a fraction (`700m` and `0.7` are
 * equal); undefined for an exponent beyond 10^±100, not worth the arithmetic.
 */
function quantityValue(q: string): { num: bigint; den: bigint } | undefined {
    const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$/.exec(q)!;
    const fraction = m[3] ?? "";
    let num = BigInt(`${m[2]}${fraction}` || "0") * (m[1] === "-" ? -1n : 1n);
    let den = 10n ** BigInt(fraction.length);
    const suffix = m[4]!;
    const { base, power } = /^[eE]/.test(suffix) ? { base: 10n, power: Number(suffix.slice(1)) } : (QUANTITY_SUFFIX[suffix] ?? { base: 10n, power: 0 });
    if (Math.abs(power) > 100) return undefined;
    if (power >= 0) num *= base ** BigInt(power);
    else den *= base ** BigInt(-power);
    return { num, den };
}

/** Whether quantity `a` is more than quantity `b` (false when either is beyond {@link quantityValue}). */
function quantityExceeds(a: string, b: string): boolean {
    const x = quantityValue(a);
    const y = quantityValue(b);
    return x !== undefined && y !== undefined && x.num * y.den > y.num * x.den;
}

/** A client key's length when `length` is not given. */
export const DEFAULT_CLIENT_KEY_LENGTH = 48;

function fail(argument: string, message: string): never {
    throw new ProviderArgumentError(argument, message);
}

function isKnown(value: unknown): boolean {
    // `peek` (settings.ts) replaces Outputs and Promises with a symbol.
    return typeof value !== "symbol" && !isDeferred(value);
}

function field(obj: unknown, key: string): unknown {
    if (typeof obj !== "object" || obj === null) return undefined;
    return (obj as Record<string, unknown>)[key];
}

/**
 * The image reference's tag and digest, or undefined when `reference` is not a reference.
 *
 * @example imageParts("localhost:5000/llm/proxy") // { tag: undefined, digest: undefined }
 */
export function imageParts(reference: string): { tag?: string; digest?: string } | undefined {
    const m = IMAGE_REFERENCE.exec(reference);
    if (!m || reference.length > 255) return undefined;
    return { tag: m[1], digest: m[2] };
}

/**
 * Checks `dataPlane` and that `proxy` is only given with the proxy data plane. `prefix` is prepended
 * to argument names (`providers.mistral.`).
 */
export function validateDataPlane(args: unknown, prefix = ""): DataPlane | undefined {
    const dataPlane = field(args, "dataPlane");
    if (dataPlane !== undefined && !(DATA_PLANES as readonly unknown[]).includes(dataPlane)) {
        fail(
            `${prefix}dataPlane`,
            `\`${prefix}dataPlane\` must be "proxy" (deploy openai-compatible-proxy, the default) or "kgateway" (kgateway's own data plane behind the existing Gateway)${got(`${prefix}dataPlane`, dataPlane)}.`,
        );
    }
    if (dataPlane === "kgateway" && field(args, "proxy") !== undefined) {
        fail(
            `${prefix}proxy`,
            `\`${prefix}proxy\` is set, but \`${prefix}dataPlane\` is "kgateway", whose data plane cannot honour it (image, replicas, resources, client keys and the Deployment belong to openai-compatible-proxy); remove \`${prefix}proxy\`, or remove \`${prefix}dataPlane\` to deploy the proxy.`,
        );
    }
    return dataPlane as DataPlane | undefined;
}

/**
 * Checks every proxy argument whose value is known (unknown values, from {@link peek}, are skipped).
 * Raises the same messages when called again on resolved values.
 *
 * @param proxy the `proxy` argument, possibly holding unknown values
 * @param argument how the argument is named in messages: `proxy`
 * @param secretArguments the arguments given as Pulumi secrets (`proxy.image`), whose values
 *   messages never show
 */
export function validateProxyArgs(proxy: unknown, argument = "proxy", secretArguments?: readonly string[]): void {
    withSecretArguments(secretArguments, () => validateKnownProxyArgs(proxy, argument));
}

function validateKnownProxyArgs(proxy: unknown, argument: string): void {
    if (proxy === undefined || !isKnown(proxy)) return;
    if (typeof proxy !== "object" || proxy === null || Array.isArray(proxy)) fail(argument, `\`${argument}\` must be an object${got(argument, proxy)}.`);
    const a = proxy as Record<string, unknown>;

    const image = a.image;
    const tag = a.tag;
    if (tag !== undefined && isKnown(tag) && (typeof tag !== "string" || !TAG_ONLY.test(tag))) {
        fail(`${argument}.tag`, `\`${argument}.tag\` must be an image tag (letters, digits, '_', '.' and '-', at most 128 characters, not starting with '.' or '-')${got(`${argument}.tag`, tag)}; for example \`${argument}.tag: "${PROXY_VERSION}"\`.`);
    }
    if (image !== undefined && isKnown(image)) {
        const parts = typeof image === "string" ? imageParts(image) : undefined;
        const at = `${argument}.image`;
        if (!parts || typeof image !== "string") {
            fail(
                at,
                `\`${at}\` must be a container image reference (a lowercase repository such as "registry.example.com/llm/openai-compatible-proxy", then ":<tag>" or "@sha256:<digest>")${got(at, image)}.`,
            );
        }
        if (parts.tag === undefined && parts.digest === undefined && tag === undefined) {
            const example = isSecretArgument(at) ? `\`${at}: "<repository>:${PROXY_VERSION}"\`` : `\`${at}: ${JSON.stringify(`${image}:${PROXY_VERSION}`)}\``;
            fail(at, `${named(at, image)} has no tag or digest, so each rollout could run a different proxy; write the tag into it (${example}) or set \`${argument}.tag\`.`);
        }
        if ((parts.tag !== undefined || parts.digest !== undefined) && tag !== undefined) {
            fail(`${argument}.tag`, `\`${argument}.tag\` is set, but ${named(at, image)} already has a ${parts.digest !== undefined ? "digest" : "tag"}; remove one of them.`);
        }
    }

    const policy = a.imagePullPolicy;
    if (policy !== undefined && isKnown(policy) && !PULL_POLICIES.includes(policy as string)) {
        fail(`${argument}.imagePullPolicy`, `\`${argument}.imagePullPolicy\` must be one of ${PULL_POLICIES.join(", ")}${got(`${argument}.imagePullPolicy`, policy)}.`);
    }

    const replicas = a.replicas;
    if (replicas !== undefined) {
        if (!isKnown(replicas)) fail(`${argument}.replicas`, `\`${argument}.replicas\` must be a plain number, not an Output: it decides whether a PodDisruptionBudget is created.`);
        if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 1) {
            fail(`${argument}.replicas`, `\`${argument}.replicas\` must be an integer of at least 1${got(`${argument}.replicas`, replicas)}; use 1 for a single proxy pod, or 2 or more to keep serving while a pod is replaced.`);
        }
    }

    const resources = a.resources;
    if (resources !== undefined && isKnown(resources)) {
        if (typeof resources !== "object" || resources === null || Array.isArray(resources)) fail(`${argument}.resources`, `\`${argument}.resources\` must be an object with \`requests\` and/or \`limits\`${got(`${argument}.resources`, resources)}.`);
        for (const [kind, quantities] of Object.entries(resources)) {
            const at = `${argument}.resources.${kind}`;
            if (kind !== "requests" && kind !== "limits") fail(`${argument}.resources`, `\`${argument}.resources\` may only hold \`requests\` and \`limits\`${got(`${argument}.resources`, kind)}.`);
            if (quantities === undefined || !isKnown(quantities)) continue;
            if (typeof quantities !== "object" || quantities === null || Array.isArray(quantities)) fail(at, `\`${at}\` must be a map of resource names to quantities${got(at, quantities)}.`);
            for (const [name, q] of Object.entries(quantities as Record<string, unknown>)) {
                if (!isQualifiedName(name)) {
                    fail(
                        at,
                        `\`${at}\` key ${isSecretArgument(at) ? "(a Pulumi secret, not shown)" : JSON.stringify(name)} is not a Kubernetes resource name (a qualified name: an optional DNS subdomain prefix and "/", then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit), such as "cpu", "memory", "ephemeral-storage" or "nvidia.com/gpu".`,
                    );
                }
                if (isKnown(q) && (typeof q !== "string" || !QUANTITY.test(q))) {
                    fail(`${at}.${name}`, `\`${at}.${name}\` must be a Kubernetes quantity such as "250m" or "256Mi"${got(`${at}.${name}`, q)}.`);
                }
                if (isKnown(q) && (q as string).startsWith("-") && (quantityValue(q as string)?.num ?? -1n) < 0n) fail(`${at}.${name}`, `\`${at}.${name}\` must not be negative${got(`${at}.${name}`, q)}.`);
            }
        }
        // The API server refuses a container that requests more than its limit, when the Deployment is applied.
        const requests = field(resources, "requests");
        const limits = field(resources, "limits");
        if (requests !== undefined && isKnown(requests) && limits !== undefined && isKnown(limits)) {
            for (const [name, request] of Object.entries(requests as Record<string, unknown>)) {
                const limit = (limits as Record<string, unknown>)[name];
                if (!isKnown(request) || !isKnown(limit) || typeof request !== "string" || typeof limit !== "string") continue;
                if (quantityExceeds(request, limit)) {
                    const r = `${argument}.resources.requests.${name}`;
                    const l = `${argument}.resources.limits.${name}`;
                    fail(r, `${named(r, request)} is more than ${named(l, limit)}, which Kubernetes refuses; lower the request or raise the limit.`);
                }
            }
        }
    }

    const clientKeys = a.clientKeys;
    if (clientKeys !== undefined) {
        if (!Array.isArray(clientKeys)) fail(`${argument}.clientKeys`, `\`${argument}.clientKeys\` must be a plain list of \`{ name }\` objects${got(`${argument}.clientKeys`, clientKeys)}.`);
        const seen = new Set<string>();
        clientKeys.forEach((key: unknown, i) => {
            const at = `${argument}.clientKeys[${i}]`;
            const name = field(key, "name");
            checkDns1123Label(`${at}.name`, name, 63);
            if (seen.has(name)) fail(`${at}.name`, `${named(`${at}.name`, name)} is used by another client key; give each key its own name.`);
            seen.add(name);
            const rotation = field(key, "rotation");
            if (rotation !== undefined && isKnown(rotation) && (typeof rotation !== "number" || !Number.isInteger(rotation) || rotation < 0)) {
                fail(`${at}.rotation`, `\`${at}.rotation\` must be a whole number of at least 0${got(`${at}.rotation`, rotation)}; increase it by one to rotate the key.`);
            }
            const length = field(key, "length");
            if (length !== undefined && (typeof length !== "number" || !Number.isInteger(length) || length < 32 || length > 128)) {
                fail(`${at}.length`, `\`${at}.length\` must be an integer from 32 to 128${got(`${at}.length`, length)}.`);
            }
        });
        // The keys are the Secret's values, one byte per character (letters and digits).
        const bytes = clientKeys.reduce((sum: number, key: unknown) => sum + ((field(key, "length") as number | undefined) ?? DEFAULT_CLIENT_KEY_LENGTH), 0);
        if (bytes > KUBERNETES_DATA_LIMIT_BYTES) {
            fail(
                `${argument}.clientKeys`,
                `\`${argument}.clientKeys\`: ${clientKeys.length} keys of ${bytes} characters in all are over the ${KUBERNETES_DATA_LIMIT_BYTES} bytes (1 MiB) Kubernetes allows in the Secret that holds them, so the API server would refuse it at \`pulumi up\`; use fewer or shorter keys.`,
            );
        }
    }

    const restart = a.restartOnConfigChange;
    if (restart !== undefined && typeof restart !== "boolean") {
        fail(`${argument}.restartOnConfigChange`, `\`${argument}.restartOnConfigChange\` must be a plain boolean${got(`${argument}.restartOnConfigChange`, restart)}.`);
    }
    const logLevel = a.logLevel;
    if (logLevel !== undefined && isKnown(logLevel) && !LOG_LEVELS.includes(logLevel as string)) {
        fail(`${argument}.logLevel`, `\`${argument}.logLevel\` must be one of ${LOG_LEVELS.join(", ")}${got(`${argument}.logLevel`, logLevel)}.`);
    }
    const patch = a.deploymentPatch;
    if (patch !== undefined && isKnown(patch) && (typeof patch !== "object" || patch === null || Array.isArray(patch))) {
        fail(`${argument}.deploymentPatch`, `\`${argument}.deploymentPatch\` must be an object in the shape of a Deployment, for example \`{ spec: { template: { spec: { nodeSelector: { pool: "system" } } } } }\`${got(`${argument}.deploymentPatch`, patch)}.`);
    }
}

/** The full image reference the proxy runs: `image` (with its tag), or `image:tag`, or the default. */
export function proxyImage(image: string | undefined, tag: string | undefined): string {
    if (image === undefined) return `${PROXY_IMAGE_REPOSITORY}:${tag ?? PROXY_VERSION}`;
    return tag === undefined ? image : `${image}:${tag}`;
}

/**
 * Validates resolved proxy arguments and applies defaults.
 *
 * @param proxy the resolved `proxy` argument
 * @param common the base name, namespace, labels and annotations of the proxy's objects
 * @param argument how the argument is named in messages: `proxy`
 * @param secretArguments the arguments given as Pulumi secrets (`proxy.image`), whose values
 *   messages never show
 */
export function resolveProxySettings(
    proxy: pulumi.Unwrap<ProxyArgs> | undefined,
    common: { baseName: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> },
    argument = "proxy",
    secretArguments?: readonly string[],
): ProxySettings {
    validateProxyArgs(proxy, argument, secretArguments);
    const p = proxy ?? {};
    const settings: ProxySettings = {
        baseName: common.baseName,
        namespace: common.namespace,
        image: proxyImage(p.image, p.tag),
        imagePullPolicy: p.imagePullPolicy ?? "IfNotPresent",
        replicas: p.replicas ?? 1,
        resources: p.resources ? { ...(p.resources.requests ? { requests: { ...p.resources.requests } } : {}), ...(p.resources.limits ? { limits: { ...p.resources.limits } } : {}) } : clone(DEFAULT_PROXY_RESOURCES),
        clientKeyNames: (p.clientKeys ?? []).map((k) => k.name),
        restartOnConfigChange: p.restartOnConfigChange ?? false,
        logLevel: p.logLevel ?? "info",
    };
    if (p.deploymentPatch !== undefined) settings.deploymentPatch = clone(p.deploymentPatch);
    if (common.labels !== undefined) settings.labels = { ...common.labels };
    if (common.annotations !== undefined) settings.annotations = { ...common.annotations };
    return settings;
}
