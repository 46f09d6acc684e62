import { createHash } from "node:crypto";
import { formatTranslationProblem, fromGatewayObjects, PROXY_CONFIG_API_VERSION, validateProxyConfig, type ProxyConfig, type TranslationProblem } from "openai-compatible-proxy/translate";
import { ProviderArgumentError } from "./errors";
import { API_KEY_SECRET_KEY, CA_CERTIFICATE_KEY, KubernetesObject, ProviderObjects } from "./kubernetes-objects";

/*
 * Where the proxy's Deployment mounts what its config points to. Each Secret and ConfigMap is a
 * volume of its own, mounted at `<dir>/<object name>`, so every referenced file sits directly in a
 * volume's root: the proxy watches that folder, and Kubernetes' atomic `..data` symlink swap on an
 * update is an event in it (https://kubernetes.io/docs/concepts/configuration/secret/#using-secrets-as-files-from-a-pod).
 */
export const PROXY_MOUNTS = {
    /** The ConfigMap holding the ProxyConfig. */
    configDir: "/etc/openai-compatible-proxy/config",
    /** The ProxyConfig's key in that ConfigMap, and its file name. */
    configKey: "config.json",
    /** Provider key Secrets: `<dir>/<secret name>/Authorization` (`fromGatewayObjects`' `secretsDir`). */
    providerKeysDir: "/var/run/secrets/openai-compatible-proxy/providers",
    /** CA bundle ConfigMaps: `<dir>/<configmap name>/ca.crt` (`fromGatewayObjects`' `configMapsDir`). */
    caBundlesDir: "/etc/openai-compatible-proxy/ca",
    /** The client-keys Secret: `<dir>/<key name>`. */
    clientKeysDir: "/var/run/secrets/openai-compatible-proxy/client-keys",
} as const;

/**
 * The most a ConfigMap's or a Secret's data may hold, in bytes (the sum of its values): the API
 * server refuses more (`must have at most 1048576 bytes`), so a config over it would fail only at
 * `pulumi up`, when the ConfigMap is created.
 */
export const KUBERNETES_DATA_LIMIT_BYTES = 1024 * 1024;

/** The proxy's config as the component renders it into its ConfigMap. */
export interface RenderedProxyConfig {
    /** The validated config, defaults applied. */
    config: ProxyConfig;
    /** The ConfigMap's `config.json`. */
    text: string;
    /** SHA-256 of {@link text}, hex: the `checksum/config` annotation. */
    sha256: string;
    /** Translation warnings (served, with the stated difference), one line each. */
    warnings: string[];
    /** The Secrets holding provider keys, to mount at `<providerKeysDir>/<name>`. */
    secretNames: string[];
    /** The ConfigMaps holding CA bundles, to mount at `<caBundlesDir>/<name>`. */
    caConfigMapNames: string[];
}

/**
 * The objects of one provider as the proxy serves them: the CA ConfigMap, the Backend, the HTTPRoute
 * (its backendRef being the Backend) and the BackendTLSPolicy. The key's Secret is left out: its key
 * is mounted as a file (`secretsDir`), and the component renders the Secret without its value.
 */
export function servedObjects(objects: ProviderObjects): KubernetesObject[] {
    const list: KubernetesObject[] = [];
    if (objects.caConfigMap) list.push(objects.caConfigMap);
    list.push(objects.backend, objects.httpRoute);
    if (objects.backendTLSPolicy) list.push(objects.backendTLSPolicy);
    return list;
}

/**
 * Renders the proxy's config with the proxy package's own translation (`fromGatewayObjects`) from
 * the providers' objects, and validates it with the proxy's own schema, so a config the proxy would
 * reject fails here, at `pulumi preview`, instead of in a crash-looping pod.
 *
 * @param providers the rendered objects of every provider the proxy serves
 * @param clientKeyNames the client keys (files in the client-keys Secret), or none
 * @param argument the argument named in errors (`dataPlane` for a provider, `providers` for a gateway)
 * @param fromSecrets whether the objects derive from values given as Pulumi secrets: the problems
 *   (errors and warnings) then name the object kind and field only, since the translation's
 *   messages quote values (an `authHeader.prefix`, a namespace)
 * @throws ProviderArgumentError listing every problem the translation or the schema found
 * @example
 * const { text } = renderProxyConfig([renderObjects(resolveSettings("mistral", args))], []);
 */
export function renderProxyConfig(providers: readonly ProviderObjects[], clientKeyNames: readonly string[], argument = "dataPlane", fromSecrets = false): RenderedProxyConfig {
    const format = (p: TranslationProblem): string =>
        fromSecrets ? `${p.severity}: ${p.kind}: \`${p.field}\` (details not shown: the arguments include Pulumi secrets)` : formatTranslationProblem(p);
    const objects = providers.flatMap(servedObjects);
    const result = fromGatewayObjects(objects, {
        secretsDir: PROXY_MOUNTS.providerKeysDir,
        configMapsDir: PROXY_MOUNTS.caBundlesDir,
        // Sorted: the proxy accepts any of them, so reordering `proxy.clientKeys` must not change the config.
        ...(clientKeyNames.length > 0 ? { clientAuth: { apiKeys: [...clientKeyNames].sort().map((k) => ({ file: `${PROXY_MOUNTS.clientKeysDir}/${k}` })) } } : {}),
    });
    const errors = result.problems.filter((p) => p.severity === "error").map((p) => format(p).replace(/^error: /, ""));
    // The translation validates its output; validating the document as written is what the proxy
    // itself does when it reads the file, so do exactly that too.
    const text = `${JSON.stringify(result.config, null, 2)}\n`;
    if (errors.length === 0) {
        const reread = validateProxyConfig(JSON.parse(text));
        // `=== false`, not `!`: without strictNullChecks (how Pulumi compiles a program that has no
        // tsconfig.json) a truthiness test does not narrow the result to its failure case.
        if (reread.ok === false) errors.push(...reread.issues.map((i) => `ProxyConfig: \`${i.field}\` ${fromSecrets ? "(details not shown: the arguments include Pulumi secrets)" : i.message}`));
    }
    if (errors.length > 0) {
        throw new ProviderArgumentError(
            argument,
            `openai-compatible-proxy (${PROXY_CONFIG_API_VERSION}) would reject the config rendered from these objects, so its pods could not start: ${errors.join("; ")}. Fix the arguments that set these fields.`,
        );
    }

    const bytes = Buffer.byteLength(text);
    if (bytes > KUBERNETES_DATA_LIMIT_BYTES) {
        throw new ProviderArgumentError(
            argument,
            `\`${argument}\`: the proxy's config rendered from these ${result.config.backends.length} backends and ${result.config.routes.length} routes is ${bytes} bytes, over the ${KUBERNETES_DATA_LIMIT_BYTES} bytes (1 MiB) Kubernetes allows in the ConfigMap that holds it, so the API server would refuse it at \`pulumi up\`. Split the providers across several proxies (several OpenAICompatibleGateways, each with its own).`,
        );
    }

    const secretNames = new Set<string>();
    const caNames = new Set<string>();
    for (const p of providers) {
        const token = p.backend.spec.ai.llm.openai.authToken;
        if (token.kind === "SecretRef" && token.secretRef) secretNames.add(token.secretRef.name);
        for (const ref of p.backendTLSPolicy?.spec.validation.caCertificateRefs ?? []) caNames.add(ref.name);
    }
    return {
        config: result.config,
        text,
        sha256: createHash("sha256").update(text).digest("hex"),
        warnings: result.problems.filter((p) => p.severity === "warning").map(format),
        secretNames: [...secretNames].sort(),
        caConfigMapNames: [...caNames].sort(),
    };
}

/** The file a provider key Secret's key is mounted as. */
export function providerKeyFile(secretName: string): string {
    return `${PROXY_MOUNTS.providerKeysDir}/${secretName}/${API_KEY_SECRET_KEY}`;
}

/** The file a CA bundle ConfigMap's key is mounted as. */
export function caBundleFile(configMapName: string): string {
    return `${PROXY_MOUNTS.caBundlesDir}/${configMapName}/${CA_CERTIFICATE_KEY}`;
}
