/**
 * The one translation from Kubernetes objects (kgateway v2.1.x `Backend`, Gateway API v1.4.0
 * `HTTPRoute` and `BackendTLSPolicy`, core `Secret` and `ConfigMap`) to a {@link ProxyConfig}.
 *
 * Pure: no I/O, no server code. The proxy uses it for `--manifests`; the Pulumi component imports it
 * to render the proxy's config from the objects it provisions. Whatever it cannot serve faithfully
 * is reported as a {@link TranslationProblem} naming the object and the field, never dropped silently.
 */
import { PROXY_CONFIG_API_VERSION, validateProxyConfig, type ProxyConfig, type ProxyConfigInput } from "../config/schema";
import { translateBackend, type BackendInput } from "./backends";
import { translateHttpRoute, type RouteInput } from "./http-routes";
import { Translation, cmp, index, key, olderFirst } from "./kube-objects";
import type { ManifestValues } from "./manifest-values";
import { translateTlsPolicies } from "./tls-policies";

export { OPENAI_DEFAULT_HOST, OPENAI_DEFAULT_PATH } from "./backends";

/** Something the translation could not serve as written. */
export interface TranslationProblem {
  /** `error`: the objects cannot be served as written. `warning`: served, with the stated difference. */
  severity: "error" | "warning";
  kind: string;
  namespace: string;
  name: string;
  /** Dotted path inside the object, for example `spec.ai.llm.port`. */
  field: string;
  message: string;
}

export interface FromGatewayObjectsOptions {
  /**
   * Where the proxy's Deployment mounts Secrets. When set, a Backend's `authToken.secretRef`
   * becomes `{ file: "<secretsDir>/<secret name>/Authorization" }` and the Secret object itself is
   * optional. When unset, Secrets must be among the objects and their values are returned in
   * {@link TranslationResult.values} (memory only), referenced as `{ manifest: "Secret/<ns>/<name>/Authorization" }`.
   * @example "/var/run/secrets/openai-compatible"
   */
  secretsDir?: string;
  /**
   * Where ConfigMaps holding CA bundles are mounted. When set, a BackendTLSPolicy `caCertificateRefs`
   * entry becomes `{ file: "<configMapsDir>/<name>/ca.crt" }`; when unset, the ConfigMap must be among the
   * objects and its `ca.crt` is inlined as `{ pem }` (CA certificates are public).
   */
  configMapsDir?: string;
  /** Serve only HTTPRoutes whose `parentRefs` name this Gateway. Default: every HTTPRoute. */
  gateway?: { name: string; namespace?: string };
  /** Namespace of objects without `metadata.namespace`. Default `default`. */
  defaultNamespace?: string;
  /** Copied into the config. */
  limits?: ProxyConfigInput["limits"];
  /** Copied into the config. */
  upstream?: ProxyConfigInput["upstream"];
  /** Copied into the config. */
  clientAuth?: ProxyConfigInput["clientAuth"];
}

export interface TranslationResult {
  /** The config, validated, defaults applied. Serve it only when no problem has severity `error`. */
  config: ProxyConfig;
  problems: TranslationProblem[];
  /** Credential values read from Secrets and Inline tokens (without `secretsDir`). Never logged. */
  values: ManifestValues;
}

/**
 * Translates kgateway and Gateway API objects into a {@link ProxyConfig}.
 *
 * @param objects Parsed Kubernetes objects (for example every document of a YAML manifest); `kind: List` is expanded.
 * @param options How Secret and ConfigMap references become paths, which Gateway to serve, config defaults.
 * @example
 * const { config, problems } = fromGatewayObjects([secret, backend, httpRoute, tlsPolicy], {
 *   secretsDir: "/var/run/secrets/openai-compatible",
 * });
 * const errors = problems.filter((p) => p.severity === "error");
 */
export function fromGatewayObjects(objects: readonly unknown[], options: FromGatewayObjectsOptions = {}): TranslationResult {
  const t = new Translation(options);
  index(t, objects);

  const tlsByBackend = translateTlsPolicies(t);
  const backends = new Map<string, BackendInput>();
  // By namespace and name, as the routes are: the same objects in another order (a manifest's
  // documents reordered, say) translate to the same config, byte for byte.
  for (const obj of t.list.filter((o) => o.kind === "Backend").sort((a, b) => cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`))) {
    const backend = translateBackend(t, obj, tlsByBackend.get(key("Backend", obj.namespace, obj.name)));
    if (backend) backends.set(backend.name, backend);
  }

  const routes: RouteInput[] = [];
  const httpRoutes = t.list
    .filter((o) => o.kind === "HTTPRoute")
    .sort((a, b) => olderFirst(a, b) || a.order - b.order);
  for (const obj of httpRoutes) routes.push(...translateHttpRoute(t, obj, backends));

  const input: ProxyConfigInput = {
    apiVersion: PROXY_CONFIG_API_VERSION,
    kind: "ProxyConfig",
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.upstream ? { upstream: options.upstream } : {}),
    ...(options.clientAuth ? { clientAuth: options.clientAuth } : {}),
    backends: [...backends.values()],
    routes,
  };
  const validated = validateProxyConfig(input);
  if (!validated.ok) {
    for (const issue of validated.issues) {
      t.problems.push({ severity: "error", kind: "ProxyConfig", namespace: "", name: "", field: issue.field, message: issue.message });
    }
    // Still return a config of the right shape; callers must not serve it (there are errors).
    return { config: { ...emptyConfig(), ...(input as ProxyConfig) }, problems: t.problems, values: t.values };
  }
  return { config: validated.config, problems: t.problems, values: t.values };
}

function emptyConfig(): ProxyConfig {
  const result = validateProxyConfig({ apiVersion: PROXY_CONFIG_API_VERSION, kind: "ProxyConfig", backends: [], routes: [] });
  if (!result.ok) throw new Error("unreachable: the empty config is valid");
  return result.config;
}
