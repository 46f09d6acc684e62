/**
 * The one translation from Kubernetes objects (kgateway v2.1.x `Backend`, Gateway API v1.4.0
 * `HTTPRoute` and `BackendTLSPolicy`, core `Secret` and `ConfigMap`) to a {@link ProxyConfig}.
 *
 * Pure: no I/O, no server code. The proxy uses it for `--manifests`; the Pulumi component imports it
 * to render the proxy's config from the objects it provisions. Whatever it cannot serve faithfully
 * is reported as a {@link TranslationProblem} naming the object and the field, never dropped silently.
 */
import {
  PROXY_CONFIG_API_VERSION,
  validateProxyConfig,
  type CaCertificate,
  type CredentialSource,
  type ProxyConfig,
  type ProxyConfigInput,
} from "../config/schema";
import { parseGatewayDuration } from "./gateway-duration";
import { ManifestValues, normalizeKey } from "./manifest-values";

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

/** Where kgateway sends an `openai` Backend without `host` (its provider defaults). */
export const OPENAI_DEFAULT_HOST = "api.openai.com";
export const OPENAI_DEFAULT_PATH = "/v1/chat/completions";

const KGATEWAY_GROUP = "gateway.kgateway.dev";
const GATEWAY_GROUP = "gateway.networking.k8s.io";
const SECRET_KEY = "Authorization";
const CA_KEY = "ca.crt";
const OTHER_PROVIDERS = ["anthropic", "azureopenai", "gemini", "vertexai", "bedrock"] as const;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** `gen_ai.provider.name` values of the OpenTelemetry GenAI semantic conventions, by API host. */
const PROVIDER_BY_HOST: Record<string, string> = {
  "api.openai.com": "openai",
  "api.mistral.ai": "mistral_ai",
  "api.deepseek.com": "deepseek",
  "api.groq.com": "groq",
  "api.x.ai": "x_ai",
  "api.perplexity.ai": "perplexity",
};

type Obj = Record<string, unknown>;

interface KubeObject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  raw: Obj;
  order: number;
  created: string;
}

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const groupOf = (apiVersion: string): string => (apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "");
const key = (kind: string, namespace: string, name: string): string => `${kind}/${namespace}/${name}`;

class Translation {
  readonly problems: TranslationProblem[] = [];
  readonly values = new ManifestValues();
  readonly byKey = new Map<string, KubeObject>();
  readonly list: KubeObject[] = [];

  constructor(readonly options: FromGatewayObjectsOptions) {}

  report(severity: TranslationProblem["severity"], obj: Pick<KubeObject, "kind" | "namespace" | "name">, field: string, message: string): void {
    this.problems.push({ severity, kind: obj.kind, namespace: obj.namespace, name: obj.name, field, message });
  }

  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    return this.byKey.get(key(kind, namespace, name));
  }
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
  const backends = new Map<string, NonNullable<ProxyConfigInput["backends"]>[number]>();
  for (const obj of t.list) {
    if (obj.kind !== "Backend") continue;
    const backend = translateBackend(t, obj, tlsByBackend.get(key("Backend", obj.namespace, obj.name)));
    if (backend) backends.set(backend.name, backend);
  }

  const routes: NonNullable<ProxyConfigInput["routes"]> = [];
  const httpRoutes = t.list
    .filter((o) => o.kind === "HTTPRoute")
    .sort((a, b) => (a.created !== b.created && a.created && b.created ? (a.created < b.created ? -1 : 1) : 0) || cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`) || a.order - b.order);
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

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function index(t: Translation, objects: readonly unknown[]): void {
  const defaultNamespace = t.options.defaultNamespace ?? "default";
  const flat: unknown[] = [];
  for (const o of objects) {
    if (isObj(o) && o.kind === "List" && Array.isArray(o.items)) flat.push(...(o.items as unknown[]));
    else flat.push(o);
  }
  flat.forEach((raw, order) => {
    if (raw === null || raw === undefined) return; // an empty YAML document
    const meta = isObj(raw) && isObj(raw.metadata) ? raw.metadata : undefined;
    const kind = isObj(raw) ? str(raw.kind) : undefined;
    const apiVersion = isObj(raw) ? str(raw.apiVersion) : undefined;
    const name = meta ? str(meta.name) : undefined;
    if (!isObj(raw) || !kind || !apiVersion || !name) {
      t.report("error", { kind: kind ?? "(unknown)", namespace: "", name: name ?? `(object #${order + 1})` }, kind ? (apiVersion ? "metadata.name" : "apiVersion") : "kind", "is required: every object needs `apiVersion`, `kind` and `metadata.name`");
      return;
    }
    const namespace = (meta && str(meta.namespace)) || defaultNamespace;
    const obj: KubeObject = { apiVersion, kind, namespace, name, raw, order, created: (meta && str(meta.creationTimestamp)) ?? "" };
    const group = groupOf(apiVersion);
    const known =
      (group === "" && (kind === "Secret" || kind === "ConfigMap")) ||
      (group === KGATEWAY_GROUP && kind === "Backend") ||
      (group === GATEWAY_GROUP && (kind === "HTTPRoute" || kind === "BackendTLSPolicy"));
    if (!known) {
      const why =
        group === GATEWAY_GROUP && (kind === "Gateway" || kind === "GatewayClass")
          ? "not needed: the proxy itself is the gateway and serves the HTTPRoutes directly"
          : "not read by the proxy";
      t.report("warning", obj, "kind", `\`${apiVersion}\` \`${kind}\` is ${why}`);
      return;
    }
    if (kind === "BackendTLSPolicy" && apiVersion !== `${GATEWAY_GROUP}/v1`) {
      t.report("error", obj, "apiVersion", `only \`${GATEWAY_GROUP}/v1\` BackendTLSPolicy is read (kgateway v2.1.x and Gateway API v1.4.0)`);
      return;
    }
    const k = key(kind, namespace, name);
    if (t.byKey.has(k)) {
      t.report("error", obj, "metadata.name", `duplicate ${kind} ${namespace}/${name}`);
      return;
    }
    t.byKey.set(k, obj);
    t.list.push(obj);
  });
}

/** Reads a key of a Secret or ConfigMap: `stringData` wins over base64 `data`, as the API server merges them. */
function readDataKey(t: Translation, obj: KubeObject, dataKey: string): string | undefined {
  const stringData = obj.raw.stringData;
  if (isObj(stringData) && typeof stringData[dataKey] === "string") return stringData[dataKey];
  const data = obj.raw.data;
  if (isObj(data) && typeof data[dataKey] === "string") {
    if (obj.kind === "ConfigMap") return data[dataKey];
    const b64 = (data[dataKey]).replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      t.report("error", obj, `data.${dataKey}`, "is not valid base64");
      return undefined;
    }
    return Buffer.from(b64, "base64").toString("utf8");
  }
  return undefined;
}

interface TlsSettings {
  serverName: string;
  caCertificates?: CaCertificate[];
}

function translateTlsPolicies(t: Translation): Map<string, TlsSettings> {
  const result = new Map<string, TlsSettings>();
  const owner = new Map<string, KubeObject>();
  const policies = t.list
    .filter((o) => o.kind === "BackendTLSPolicy")
    // Gateway API conflict resolution: the oldest policy wins, then alphabetical namespace/name.
    .sort((a, b) => (a.created !== b.created && a.created && b.created ? (a.created < b.created ? -1 : 1) : 0) || cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
  for (const policy of policies) {
    const spec = isObj(policy.raw.spec) ? policy.raw.spec : {};
    const validation = isObj(spec.validation) ? spec.validation : undefined;
    if (!validation) {
      t.report("error", policy, "spec.validation", "is required");
      continue;
    }
    const serverName = str(validation.hostname);
    if (!serverName || !HOSTNAME.test(serverName)) {
      t.report("error", policy, "spec.validation.hostname", "must be a DNS name: it is the SNI and the name the upstream certificate must be valid for");
      continue;
    }
    if (arr(validation.subjectAltNames).length > 0) {
      t.report("error", policy, "spec.validation.subjectAltNames", "is not supported: the certificate is verified against `validation.hostname`");
      continue;
    }
    if (spec.options !== undefined) t.report("warning", policy, "spec.options", "is ignored: TLS options are the Node.js defaults");
    const wellKnown = str(validation.wellKnownCACertificates);
    const refs = arr(validation.caCertificateRefs);
    let tls: TlsSettings | undefined;
    if (wellKnown !== undefined && refs.length > 0) {
      t.report("error", policy, "spec.validation", "set exactly one of `wellKnownCACertificates` and `caCertificateRefs`");
      continue;
    } else if (wellKnown !== undefined) {
      if (wellKnown !== "System") {
        t.report("error", policy, "spec.validation.wellKnownCACertificates", "must be `System`");
        continue;
      }
      tls = { serverName };
    } else if (refs.length > 0) {
      const cas: CaCertificate[] = [];
      refs.forEach((ref, i) => {
        const field = `spec.validation.caCertificateRefs[${i}]`;
        const r = isObj(ref) ? ref : {};
        const refName = str(r.name);
        if (str(r.kind) !== "ConfigMap" || (str(r.group) ?? "") !== "" || !refName) {
          t.report("error", policy, field, "only core `ConfigMap` references (group \"\") with a name are supported");
          return;
        }
        const configMap = t.get("ConfigMap", policy.namespace, refName);
        if (t.options.configMapsDir !== undefined) {
          if (configMap && readDataKey(t, configMap, CA_KEY) === undefined) {
            t.report("error", policy, field, `ConfigMap ${policy.namespace}/${refName} has no \`${CA_KEY}\` key`);
            return;
          }
          cas.push({ file: joinPath(t.options.configMapsDir, refName, CA_KEY) });
          return;
        }
        if (!configMap) {
          t.report("error", policy, field, `ConfigMap ${policy.namespace}/${refName} is not among the objects`);
          return;
        }
        const pem = readDataKey(t, configMap, CA_KEY);
        if (!pem || !pem.includes("-----BEGIN CERTIFICATE-----")) {
          t.report("error", policy, field, `ConfigMap ${policy.namespace}/${refName} has no PEM certificate under \`${CA_KEY}\``);
          return;
        }
        cas.push({ pem });
      });
      if (cas.length !== refs.length) continue;
      tls = { serverName, caCertificates: cas };
    } else {
      t.report("error", policy, "spec.validation", "set `wellKnownCACertificates: System` or `caCertificateRefs`");
      continue;
    }
    arr(spec.targetRefs).forEach((ref, i) => {
      const field = `spec.targetRefs[${i}]`;
      const r = isObj(ref) ? ref : {};
      const targetName = str(r.name);
      if (str(r.group) !== KGATEWAY_GROUP || str(r.kind) !== "Backend" || !targetName) {
        t.report("error", policy, field, `only \`${KGATEWAY_GROUP}\` \`Backend\` targets are served`);
        return;
      }
      if (r.sectionName !== undefined) t.report("warning", policy, `${field}.sectionName`, "is ignored: the policy applies to the whole Backend");
      if (!t.get("Backend", policy.namespace, targetName)) {
        t.report("error", policy, field, `Backend ${policy.namespace}/${targetName} is not among the objects`);
        return;
      }
      const k = key("Backend", policy.namespace, targetName);
      const earlier = owner.get(k);
      if (earlier) {
        t.report("warning", policy, field, `Backend ${policy.namespace}/${targetName} is already targeted by BackendTLSPolicy ${earlier.namespace}/${earlier.name}, which wins (older, or first by name)`);
        return;
      }
      owner.set(k, policy);
      result.set(k, tls);
    });
  }
  return result;
}

function joinPath(dir: string, ...parts: string[]): string {
  return [dir.replace(/\/+$/, ""), ...parts].join("/");
}

function translateBackend(t: Translation, obj: KubeObject, tls: TlsSettings | undefined): NonNullable<ProxyConfigInput["backends"]>[number] | undefined {
  const spec = isObj(obj.raw.spec) ? obj.raw.spec : {};
  if (spec.type !== "AI") {
    t.report("error", obj, "spec.type", `is \`${String(spec.type)}\`: only \`type: AI\` Backends are served`);
    return undefined;
  }
  const ai = isObj(spec.ai) ? spec.ai : undefined;
  if (!ai) {
    t.report("error", obj, "spec.ai", "is required for `type: AI`");
    return undefined;
  }
  if (ai.priorityGroups !== undefined) {
    t.report("error", obj, "spec.ai.priorityGroups", "is not supported: use one `spec.ai.llm` per Backend, and HTTPRoute `backendRefs` weights to split traffic");
    return undefined;
  }
  const llm = isObj(ai.llm) ? ai.llm : undefined;
  if (!llm) {
    t.report("error", obj, "spec.ai.llm", "is required");
    return undefined;
  }
  for (const other of OTHER_PROVIDERS) {
    if (llm[other] !== undefined) {
      t.report("error", obj, `spec.ai.llm.${other}`, "is not supported: only the `openai` provider (OpenAI-compatible APIs) is served");
      return undefined;
    }
  }
  const openai = isObj(llm.openai) ? llm.openai : undefined;
  if (!openai) {
    t.report("error", obj, "spec.ai.llm.openai", "is required");
    return undefined;
  }
  let ok = true;
  const fail = (field: string, message: string): void => {
    t.report("error", obj, field, message);
    ok = false;
  };

  // Host and port: both or neither (CRD rule); the CRD has no range check on port, we do.
  const hostRaw = llm.host;
  const portRaw = llm.port;
  let host = OPENAI_DEFAULT_HOST;
  let port = 443;
  let path: string | undefined;
  let tlsOut: TlsSettings | undefined = tls;
  if (hostRaw === undefined && portRaw === undefined) {
    // kgateway's provider defaults for openai: api.openai.com:443 over TLS, path /v1/chat/completions.
    tlsOut = tls ?? { serverName: OPENAI_DEFAULT_HOST };
    path = OPENAI_DEFAULT_PATH;
  } else if (hostRaw === undefined || portRaw === undefined) {
    fail(hostRaw === undefined ? "spec.ai.llm.host" : "spec.ai.llm.port", "`host` and `port` must be set together");
  } else {
    if (typeof hostRaw !== "string" || !(HOSTNAME.test(hostRaw) || /^[0-9a-fA-F:.]+$/.test(hostRaw))) fail("spec.ai.llm.host", "must be a DNS name or an IP address, without scheme, port or path");
    else host = hostRaw;
    if (typeof portRaw !== "number" || !Number.isInteger(portRaw) || portRaw < 1 || portRaw > 65535) fail("spec.ai.llm.port", "must be an integer from 1 to 65535");
    else port = portRaw;
    if (!tls && port === 443) {
      t.report("warning", obj, "spec.ai.llm.port", "is 443 but no BackendTLSPolicy targets this Backend: requests go out in plaintext, as kgateway sends them; add a BackendTLSPolicy for HTTPS");
    }
  }
  const pathSpec = isObj(llm.path) ? llm.path : undefined;
  if (pathSpec && pathSpec.full !== undefined) {
    const full = str(pathSpec.full);
    if (!full || !full.startsWith("/") || /[\s#]/.test(full)) fail("spec.ai.llm.path.full", "must be an absolute path such as `/v1/chat/completions`");
    else path = full;
  }

  // authHeader: kgateway's defaults for openai are `Authorization` and `Bearer `; each field overrides one
  // of them and the value is `prefix + key`, verbatim.
  let headerName = "Authorization";
  let prefix = "Bearer ";
  if (llm.authHeader !== undefined) {
    const ah = isObj(llm.authHeader) ? llm.authHeader : {};
    if (ah.headerName !== undefined) {
      const n = str(ah.headerName);
      if (!n || !TOKEN.test(n)) fail("spec.ai.llm.authHeader.headerName", "must be an HTTP header name");
      else headerName = n;
    }
    if (ah.prefix !== undefined) {
      const p = str(ah.prefix);
      if (!p || /[\r\n\0]/.test(p)) fail("spec.ai.llm.authHeader.prefix", "must be a non-empty header value");
      else {
        prefix = p;
        if (/[A-Za-z0-9]$/.test(p)) {
          t.report("warning", obj, "spec.ai.llm.authHeader.prefix", `is used verbatim, so the header is \`${headerName}: ${p}<key>\`; end it with a space if the provider expects \`${p} <key>\``);
        }
      }
    }
    if (ah.headerName === undefined && ah.prefix === undefined) fail("spec.ai.llm.authHeader", "set `headerName`, `prefix` or both");
  }

  const authToken = isObj(openai.authToken) ? openai.authToken : undefined;
  let auth: NonNullable<ProxyConfigInput["backends"]>[number]["auth"] | undefined;
  const tokenKind = authToken ? str(authToken.kind) : undefined;
  if (!authToken) fail("spec.ai.llm.openai.authToken", "is required");
  else if (tokenKind === "Passthrough") auth = { type: "Passthrough", headerName, prefix };
  else if (tokenKind === "Inline") {
    const inline = str(authToken.inline);
    if (!inline || normalizeKey(inline) === "") fail("spec.ai.llm.openai.authToken.inline", "must hold the API key");
    else if (t.options.secretsDir !== undefined) fail("spec.ai.llm.openai.authToken.kind", "`Inline` keys cannot be mounted into the proxy: store the key in a Secret and use `SecretRef`");
    else {
      const id = `Backend/${obj.namespace}/${obj.name}/inline`;
      t.values.set(id, normalizeKey(inline));
      auth = { type: "Key", key: { manifest: id }, headerName, prefix };
    }
  } else if (tokenKind === "SecretRef") {
    const ref = isObj(authToken.secretRef) ? authToken.secretRef : {};
    const secretName = str(ref.name);
    const field = "spec.ai.llm.openai.authToken.secretRef.name";
    const source = secretName ? secretSource(t, obj, secretName, field) : undefined;
    if (!secretName) fail(field, "is required");
    else if (!source) ok = false;
    else auth = { type: "Key", key: source, headerName, prefix };
  } else fail("spec.ai.llm.openai.authToken.kind", "must be `SecretRef`, `Inline` or `Passthrough`");

  const model = openai.model;
  if (model !== undefined && typeof model !== "string") fail("spec.ai.llm.openai.model", "must be a string");

  if (!ok || !auth) return undefined;
  return {
    name: `${obj.namespace}/${obj.name}`,
    host,
    port,
    ...(tlsOut ? { tls: tlsOut } : {}),
    ...(path ? { path } : {}),
    ...(typeof model === "string" && model !== "" ? { model } : {}),
    auth,
    provider: PROVIDER_BY_HOST[(tlsOut?.serverName ?? host).toLowerCase()] ?? (tlsOut?.serverName ?? host).toLowerCase(),
  };
}

/** Resolves a Backend's Secret reference into a credential source, checking the Secret when it is present. */
function secretSource(t: Translation, backend: KubeObject, secretName: string, field: string): CredentialSource | undefined {
  const secret = t.get("Secret", backend.namespace, secretName);
  const dir = t.options.secretsDir;
  if (!secret) {
    if (dir !== undefined) return { file: joinPath(dir, secretName, SECRET_KEY) };
    // kgateway would silently send no key; we refuse to start instead.
    t.report("error", backend, field, `Secret ${backend.namespace}/${secretName} is not among the objects`);
    return undefined;
  }
  const raw = readDataKey(t, secret, SECRET_KEY);
  if (raw === undefined) {
    t.report("error", backend, field, `Secret ${backend.namespace}/${secretName} has no \`${SECRET_KEY}\` key (in \`data\` or \`stringData\`)`);
    return undefined;
  }
  const value = normalizeKey(raw);
  if (value === "") {
    t.report("error", backend, field, `Secret ${backend.namespace}/${secretName} key \`${SECRET_KEY}\` is empty`);
    return undefined;
  }
  if (dir !== undefined) return { file: joinPath(dir, secretName, SECRET_KEY) };
  const id = `Secret/${backend.namespace}/${secretName}/${SECRET_KEY}`;
  t.values.set(id, value);
  return { manifest: id };
}

type RouteInput = NonNullable<ProxyConfigInput["routes"]>[number];
type MatchInput = NonNullable<RouteInput["matches"]>[number];

function attachedToGateway(t: Translation, route: KubeObject): boolean {
  const gw = t.options.gateway;
  if (!gw) return true;
  const spec = isObj(route.raw.spec) ? route.raw.spec : {};
  return arr(spec.parentRefs).some((p) => {
    if (!isObj(p)) return false;
    const kind = str(p.kind) ?? "Gateway";
    const group = str(p.group) ?? GATEWAY_GROUP;
    return kind === "Gateway" && group === GATEWAY_GROUP && p.name === gw.name && (str(p.namespace) ?? route.namespace) === (gw.namespace ?? route.namespace);
  });
}

function translateHttpRoute(t: Translation, obj: KubeObject, backends: Map<string, unknown>): RouteInput[] {
  if (!attachedToGateway(t, obj)) {
    t.report("warning", obj, "spec.parentRefs", `not attached to Gateway ${t.options.gateway?.namespace ?? obj.namespace}/${t.options.gateway?.name}: not served`);
    return [];
  }
  const spec = isObj(obj.raw.spec) ? obj.raw.spec : {};
  const hostnames = arr(spec.hostnames).filter((h): h is string => typeof h === "string");
  const out: RouteInput[] = [];
  arr(spec.rules).forEach((ruleRaw, ri) => {
    const base = `spec.rules[${ri}]`;
    const rule = isObj(ruleRaw) ? ruleRaw : {};
    let ok = true;
    const fail = (field: string, message: string): void => {
      t.report("error", obj, field, message);
      ok = false;
    };

    const matches: MatchInput[] = [];
    arr(rule.matches).forEach((mRaw, mi) => {
      const m = isObj(mRaw) ? mRaw : {};
      const mf = `${base}.matches[${mi}]`;
      const match: MatchInput = {};
      if (m.path !== undefined) {
        const p = isObj(m.path) ? m.path : {};
        const type = str(p.type) ?? "PathPrefix";
        const value = str(p.value) ?? "/";
        if (type !== "PathPrefix" && type !== "Exact") fail(`${mf}.path.type`, `\`${type}\` is not supported: use \`PathPrefix\` or \`Exact\``);
        else if (!value.startsWith("/")) fail(`${mf}.path.value`, "must start with `/`");
        else match.path = { type, value };
      }
      if (m.method !== undefined) {
        if (typeof m.method !== "string" || !TOKEN.test(m.method)) fail(`${mf}.method`, "must be an HTTP method such as `POST`");
        else match.method = m.method;
      }
      for (const kind of ["headers", "queryParams"] as const) {
        if (m[kind] === undefined) continue;
        const list: NonNullable<MatchInput["headers"]> = [];
        arr(m[kind]).forEach((hRaw, hi) => {
          const h = isObj(hRaw) ? hRaw : {};
          const type = str(h.type) ?? "Exact";
          if (type !== "Exact" && type !== "RegularExpression") fail(`${mf}.${kind}[${hi}].type`, "must be `Exact` or `RegularExpression`");
          else if (typeof h.name !== "string" || typeof h.value !== "string") fail(`${mf}.${kind}[${hi}]`, "needs `name` and `value`");
          else list.push({ type, name: h.name, value: h.value });
        });
        match[kind] = list;
      }
      matches.push(match);
    });

    const route: RouteInput = {
      name: `${obj.namespace}/${obj.name}/${str(rule.name) ?? ri}`,
      backendRefs: [],
      ...(hostnames.length > 0 ? { hostnames } : {}),
      ...(matches.length > 0 ? { matches } : {}),
    };

    arr(rule.filters).forEach((fRaw, fi) => {
      const f = isObj(fRaw) ? fRaw : {};
      const ff = `${base}.filters[${fi}]`;
      switch (str(f.type)) {
        case "URLRewrite": {
          const u = isObj(f.urlRewrite) ? f.urlRewrite : {};
          const rewrite: NonNullable<RouteInput["urlRewrite"]> = {};
          if (u.hostname !== undefined) {
            if (typeof u.hostname !== "string" || !HOSTNAME.test(u.hostname)) fail(`${ff}.urlRewrite.hostname`, "must be a DNS name");
            else rewrite.hostname = u.hostname;
          }
          if (u.path !== undefined) {
            const p = isObj(u.path) ? u.path : {};
            if (p.type === "ReplaceFullPath" && typeof p.replaceFullPath === "string") rewrite.path = { type: "ReplaceFullPath", replaceFullPath: p.replaceFullPath };
            else if (p.type === "ReplacePrefixMatch" && typeof p.replacePrefixMatch === "string") rewrite.path = { type: "ReplacePrefixMatch", replacePrefixMatch: p.replacePrefixMatch };
            else fail(`${ff}.urlRewrite.path`, "needs `type: ReplaceFullPath` with `replaceFullPath`, or `type: ReplacePrefixMatch` with `replacePrefixMatch`");
          }
          route.urlRewrite = rewrite;
          break;
        }
        case "RequestHeaderModifier":
        case "ResponseHeaderModifier": {
          const which = f.type === "RequestHeaderModifier" ? "requestHeaderModifier" : "responseHeaderModifier";
          const mod = isObj(f[which]) ? (f[which]) : {};
          const out: NonNullable<RouteInput["requestHeaderModifier"]> = {};
          for (const op of ["set", "add"] as const) {
            if (mod[op] === undefined) continue;
            const list: { name: string; value: string }[] = [];
            arr(mod[op]).forEach((hRaw, hi) => {
              const h = isObj(hRaw) ? hRaw : {};
              if (typeof h.name !== "string" || !TOKEN.test(h.name) || typeof h.value !== "string" || /[\r\n\0]/.test(h.value)) {
                fail(`${ff}.${which}.${op}[${hi}]`, "needs a header `name` and a `value` without CR, LF or NUL");
              } else list.push({ name: h.name, value: h.value });
            });
            out[op] = list;
          }
          if (mod.remove !== undefined) out.remove = arr(mod.remove).filter((n): n is string => typeof n === "string");
          route[which] = out;
          break;
        }
        default:
          fail(`${ff}.type`, `\`${String(f.type)}\` is not supported: the proxy serves \`URLRewrite\`, \`RequestHeaderModifier\` and \`ResponseHeaderModifier\``);
      }
    });

    if (route.urlRewrite?.path?.type === "ReplacePrefixMatch") {
      matches.forEach((m, mi) => {
        if (m.path?.type === "Exact") fail(`${base}.matches[${mi}].path.type`, "must be `PathPrefix`: the rule's URLRewrite uses `ReplacePrefixMatch`");
      });
    }

    if (rule.timeouts !== undefined) {
      const to = isObj(rule.timeouts) ? rule.timeouts : {};
      const timeouts: NonNullable<RouteInput["timeouts"]> = {};
      for (const [field, out] of [["request", "requestMs"], ["backendRequest", "backendRequestMs"]] as const) {
        if (to[field] === undefined) continue;
        const ms = typeof to[field] === "string" ? parseGatewayDuration(to[field]) : undefined;
        if (ms === undefined) fail(`${base}.timeouts.${field}`, "must be a Gateway API duration such as `10s` or `1m30s`");
        else timeouts[out] = ms;
      }
      route.timeouts = timeouts;
    }
    if (rule.retry !== undefined) t.report("warning", obj, `${base}.retry`, "is ignored: the proxy does not retry (a retried completion costs tokens twice)");
    if (rule.sessionPersistence !== undefined) t.report("warning", obj, `${base}.sessionPersistence`, "is ignored");

    arr(rule.backendRefs).forEach((bRaw, bi) => {
      const b = isObj(bRaw) ? bRaw : {};
      const bf = `${base}.backendRefs[${bi}]`;
      const name = str(b.name);
      if (str(b.group) !== KGATEWAY_GROUP || str(b.kind) !== "Backend" || !name) {
        fail(bf, `only \`group: ${KGATEWAY_GROUP}\`, \`kind: Backend\` references are served`);
        return;
      }
      const ns = str(b.namespace) ?? obj.namespace;
      if (ns !== obj.namespace) {
        fail(`${bf}.namespace`, "must be the HTTPRoute's namespace: cross-namespace references need a ReferenceGrant, which the proxy does not read");
        return;
      }
      if (b.filters !== undefined) {
        fail(`${bf}.filters`, "is not supported: put filters on the rule");
        return;
      }
      if (!t.get("Backend", ns, name)) {
        fail(bf, `Backend ${ns}/${name} is not among the objects`);
        return;
      }
      if (!backends.has(`${ns}/${name}`)) {
        fail(bf, `Backend ${ns}/${name} cannot be served (see its own problems)`);
        return;
      }
      const weight = b.weight === undefined ? 1 : b.weight;
      if (typeof weight !== "number" || !Number.isInteger(weight) || weight < 0) {
        fail(`${bf}.weight`, "must be a non-negative integer");
        return;
      }
      route.backendRefs.push({ name: `${ns}/${name}`, weight });
    });
    if (arr(rule.backendRefs).length === 0) {
      t.report("warning", obj, `${base}.backendRefs`, "is empty: the rule is not served (Gateway API answers 500 for it)");
      return;
    }
    if (ok) out.push(route);
  });
  return out;
}
